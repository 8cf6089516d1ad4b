/**
 * mlops-jupyter's JupyterLab extension: the MLOps sidebar (Runs, Pipeline, Models),
 * run details and run comparisons in the main area.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { createCompare } from './compare';
import { createExperimentCharts } from './expView';
import { mlopsIcon } from './icons';
import { IMlopsActions, MlopsModel } from './model';
import { createPipelineWidget, revealStageCell } from './pipeline';
import { createRunDetail } from './runDetail';
import { MlopsSidebar } from './sidebar';

const PLUGIN_ID = 'mlops-jupyter:plugin';

namespace CommandIDs {
  export const openRun = 'mlops-jupyter:open-run';
  export const compare = 'mlops-jupyter:compare';
  export const charts = 'mlops-jupyter:experiment-charts';
  export const showSidebar = 'mlops-jupyter:show-sidebar';
  export const openPipeline = 'mlops-jupyter:open-pipeline';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'MLOps sidebar: runs, comparisons, the pipeline of %%stage cells and the model registry.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const { shell, commands } = app;
    const openWidgets = new Map<string, MainAreaWidget>();

    // The first view opens beside the notebook; the next ones as tabs next to it.
    const show = (widget: MainAreaWidget) => {
      const sibling = [...openWidgets.values()].pop();
      openWidgets.set(widget.id, widget);
      widget.disposed.connect(() => openWidgets.delete(widget.id));
      if (sibling && sibling.isAttached) {
        shell.add(widget, 'main', { ref: sibling.id, mode: 'tab-after' });
      } else {
        shell.add(widget, 'main', { mode: 'split-right' });
      }
      shell.activateById(widget.id);
    };

    const activateNotebook = (panel: NotebookPanel) => {
      shell.activateById(panel.id);
    };

    /** The open notebook whose path is `notebook` (relative to the server or project root). */
    const findNotebook = (notebook: string): NotebookPanel | null => {
      let found: NotebookPanel | null = null;
      tracker.forEach(panel => {
        const path = panel.context.path;
        if (!found && (path === notebook || path.endsWith(`/${notebook}`))) {
          found = panel;
        }
      });
      return found;
    };

    const actions: IMlopsActions = {
      openRun: (runId, path) => {
        void commands.execute(CommandIDs.openRun, { runId, path });
      },
      compare: (runIds, path, kind = 'runs') => {
        void commands.execute(CommandIDs.compare, { runIds, path, kind });
      },
      openCharts: (query, selected) => {
        void commands.execute(CommandIDs.charts, { query, selected });
      },
      revealCell: (notebook, cellId, cellIndex) => {
        if (!notebook) {
          return false;
        }
        const reveal = (panel: NotebookPanel) => {
          shell.activateById(panel.id);
          void panel.context.ready.then(() => revealStageCell(panel.content, cellId, cellIndex));
        };
        const open = findNotebook(notebook);
        if (open) {
          reveal(open);
          return true;
        }
        // Run paths are relative to the project's root: try next to the active notebook first.
        const base = model.path.endsWith('.ipynb') ? PathExt.dirname(model.path) : model.path;
        const candidates = [PathExt.join(base, notebook), notebook];
        void (async () => {
          for (const candidate of candidates) {
            try {
              await app.serviceManager.contents.get(candidate, { content: false });
            } catch {
              continue;
            }
            const widget = await commands.execute('docmanager:open', { path: candidate });
            if (widget instanceof NotebookPanel) {
              reveal(widget);
            }
            return;
          }
        })();
        return true;
      }
    };

    const sidebarRef: { current: Widget | null } = { current: null };
    const model = new MlopsModel(
      actions,
      () => Boolean(sidebarRef.current?.isVisible) || openWidgets.size > 0
    );

    // The project shown is the active notebook's.
    const followNotebook = () => {
      const panel = tracker.currentWidget;
      model.path = panel ? panel.context.path : '';
    };
    tracker.currentChanged.connect(followNotebook);
    tracker.widgetAdded.connect((_, panel) => {
      panel.context.pathChanged.connect(() => {
        if (tracker.currentWidget === panel) {
          followNotebook();
        }
      });
    });
    followNotebook();

    const sidebar = new MlopsSidebar({
      model,
      tracker,
      activateNotebook,
      openPipeline: () => void commands.execute(CommandIDs.openPipeline)
    });
    sidebarRef.current = sidebar;
    sidebar.title.icon = mlopsIcon;
    sidebar.title.caption = 'MLOps';
    shell.add(sidebar, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }

    commands.addCommand(CommandIDs.openRun, {
      label: 'Open MLOps Run',
      caption: 'Show one run in full',
      execute: args => {
        const runId = String(args.runId ?? '');
        const path = String(args.path ?? model.path);
        if (!runId) {
          return;
        }
        const existing = openWidgets.get(`mlops-run-${runId}`);
        if (existing) {
          shell.activateById(existing.id);
          return existing;
        }
        const widget = createRunDetail(runId, path, model);
        show(widget);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.compare, {
      label: 'Compare MLOps Runs',
      caption: 'Compare the selected runs side by side',
      execute: args => {
        const runIds = (args.runIds as string[] | undefined) ?? [];
        const path = String(args.path ?? model.path);
        const kind = args.kind === 'experiments' ? 'experiments' : 'runs';
        if (runIds.length < 2) {
          return;
        }
        const widget = createCompare(runIds, path, model, kind, rendermime);
        const existing = openWidgets.get(widget.id);
        if (existing) {
          widget.dispose();
          shell.activateById(existing.id);
          return existing;
        }
        show(widget);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.charts, {
      label: 'Open MLOps Experiment Charts',
      caption: 'Parallel coordinates and a param-vs-metric scatter of experiments',
      execute: args => {
        const query = (args.query as Record<string, string> | undefined) ?? {};
        const widget = createExperimentCharts(model, {
          query: {
            path: query.path ?? model.path,
            experiment: query.experiment ?? '',
            stage: query.stage ?? '',
            status: query.status ?? '',
            filter: query.filter ?? '',
            sort: query.sort ?? ''
          },
          selected: (args.selected as string[] | undefined) ?? []
        });
        show(widget);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.openPipeline, {
      label: 'Open MLOps Pipeline',
      caption: 'The pipeline of the active notebook in the main area',
      icon: mlopsIcon,
      execute: () => {
        const existing = openWidgets.get('mlops-pipeline-main');
        if (existing) {
          shell.activateById(existing.id);
          return existing;
        }
        const widget = createPipelineWidget({ model, tracker, activate: activateNotebook });
        show(widget);
        return widget;
      }
    });
    palette?.addItem({ command: CommandIDs.openPipeline, category: 'MLOps' });

    commands.addCommand(CommandIDs.showSidebar, {
      label: 'Show MLOps Sidebar',
      icon: mlopsIcon,
      execute: () => shell.activateById(sidebar.id)
    });
    palette?.addItem({ command: CommandIDs.showSidebar, category: 'MLOps' });

    console.debug(`${PLUGIN_ID} is activated`);
  }
};

export default plugin;
