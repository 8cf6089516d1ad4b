/**
 * The experiment charts fed from the server: over the selected experiments, or over every
 * experiment the filters let through (up to a page of 1,000), in the sidebar's Runs tab and in the
 * main area. They follow the store as runs end.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { Experiment, listExperiments } from './api';
import { ExperimentCharts } from './expCharts';
import { mlopsIcon } from './icons';
import { MlopsModel, useLiveData } from './model';
import { IRunsQuery } from './runsLoader';

export const CHART_LIMIT = 1000;

export interface IChartsQuery {
  query: Omit<IRunsQuery, 'kind'>;
  /** Two or more: chart these experiments only. */
  selected: string[];
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function useChartData(model: MlopsModel, charts: IChartsQuery) {
  const { query, selected } = charts;
  const only = selected.length >= 2;
  return useLiveData(
    model,
    () =>
      listExperiments({
        ...query,
        filter: only ? `run_id in (${selected.map(quote).join(', ')})` : query.filter,
        ...(only ? { experiment: '', status: '' } : {}),
        limit: CHART_LIMIT
      }),
    [JSON.stringify(charts)]
  );
}

export function ChartsPanel(props: {
  model: MlopsModel;
  charts: IChartsQuery;
  compact?: boolean;
  onExpand?: () => void;
}): JSX.Element {
  const { model, charts } = props;
  const { data, error } = useChartData(model, charts);
  const experiments: Experiment[] = data?.runs ?? [];
  const only = charts.selected.length >= 2;
  const scope = only
    ? `${charts.selected.length} selected experiments`
    : data && data.total > experiments.length
      ? `the newest ${experiments.length.toLocaleString()} of ${data.total.toLocaleString()} experiments`
      : `all ${experiments.length.toLocaleString()} experiments`;
  return (
    <div className="mlops-charts-panel" data-testid="mlops-charts-panel">
      <div className="mlops-charts-panel-bar">
        <span className="mlops-muted">{scope}</span>
        <span className="mlops-spacer" />
        {props.onExpand && (
          <button
            className="mlops-button mlops-button-quiet"
            data-testid="mlops-charts-expand"
            title="Open these charts in the main area"
            onClick={props.onExpand}
          >
            Open ⤢
          </button>
        )}
      </div>
      {error && <div className="mlops-error">{error}</div>}
      {data ? (
        <ExperimentCharts
          experiments={experiments}
          compact={props.compact}
          onOpen={runId => model.actions.openRun(runId, charts.query.path)}
        />
      ) : (
        !error && <div className="mlops-loading">Loading experiments…</div>
      )}
    </div>
  );
}

class ChartsWidget extends ReactWidget {
  constructor(
    private _model: MlopsModel,
    private _charts: IChartsQuery
  ) {
    super();
    this.addClass('mlops-compare-widget');
  }

  render(): JSX.Element {
    return (
      <div className="mlops-compare" data-testid="mlops-charts-view">
        <header className="mlops-compare-header">
          <h2>Experiment charts</h2>
        </header>
        <ChartsPanel model={this._model} charts={this._charts} />
      </div>
    );
  }
}

export function createExperimentCharts(model: MlopsModel, charts: IChartsQuery): MainAreaWidget {
  const widget = new MainAreaWidget({ content: new ChartsWidget(model, charts) });
  widget.id = `mlops-charts-${Date.now()}`;
  widget.title.label = 'Experiment charts';
  widget.title.caption = charts.query.filter || 'All experiments';
  widget.title.icon = mlopsIcon;
  widget.title.closable = true;
  return widget;
}
