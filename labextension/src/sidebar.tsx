/**
 * The left-area panel: a header and tabs (Runs, Pipeline, Models).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { MlopsModel } from './model';
import { ModelsView } from './modelsView';
import { PipelineView } from './pipeline';
import { RunsTable } from './runsTable';

export type TabId = 'runs' | 'pipeline' | 'models';

interface ITab {
  id: TabId;
  label: string;
}

const TABS: ITab[] = [
  { id: 'runs', label: 'Runs' },
  { id: 'pipeline', label: 'Pipeline' },
  { id: 'models', label: 'Models' }
];

export interface ISidebarProps {
  model: MlopsModel;
  tracker: INotebookTracker;
  activateNotebook: (panel: NotebookPanel) => void;
  openPipeline?: () => void;
  initialTab?: TabId;
  onTabChange?: (tab: TabId) => void;
}

export function Sidebar(props: ISidebarProps): JSX.Element {
  const [tab, setTab] = useState<TabId>(props.initialTab ?? 'runs');
  const select = (id: TabId) => {
    setTab(id);
    props.onTabChange?.(id);
  };
  return (
    <div className="mlops-sidebar-body">
      <div className="mlops-sidebar-header">
        <span className="mlops-sidebar-title">MLOps</span>
      </div>
      <div className="mlops-tabs" role="tablist">
        {TABS.map(t => (
          <button
            key={t.id}
            role="tab"
            aria-selected={tab === t.id}
            className={`mlops-tab${tab === t.id ? ' mlops-tab-active' : ''}`}
            data-testid={`mlops-tab-${t.id}`}
            onClick={() => select(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      {/* All stay mounted: the runs table keeps its scroll and pages. */}
      <div className="mlops-tab-panel" role="tabpanel" hidden={tab !== 'runs'}>
        <RunsTable model={props.model} />
      </div>
      <div className="mlops-tab-panel" role="tabpanel" hidden={tab !== 'pipeline'}>
        <PipelineView
          model={props.model}
          tracker={props.tracker}
          activate={props.activateNotebook}
          onExpand={props.openPipeline}
        />
      </div>
      <div className="mlops-tab-panel" role="tabpanel" hidden={tab !== 'models'}>
        <ModelsView model={props.model} />
      </div>
    </div>
  );
}

export class MlopsSidebar extends ReactWidget {
  constructor(private _props: Omit<ISidebarProps, 'initialTab' | 'onTabChange'>) {
    super();
    this.id = 'mlops-jupyter-sidebar';
    this.addClass('mlops-sidebar');
    this.node.dataset.testid = 'mlops-sidebar';
  }

  render(): JSX.Element {
    return (
      <Sidebar {...this._props} initialTab={this._tab} onTabChange={tab => (this._tab = tab)} />
    );
  }

  private _tab: TabId = 'runs';
}
