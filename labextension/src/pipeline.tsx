/**
 * The Pipeline tab: the DAG of the active notebook's stages, laid out left to
 * right with dagre and drawn in SVG. It follows the notebook as it is edited
 * (unsaved content is POSTed), as cells run and as runs land in the store.
 */
import dagre from '@dagrejs/dagre';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { INotebookTracker, Notebook, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useEffect, useMemo, useRef, useState } from 'react';

import { Pipeline, PipelineEdge, PipelineStage, StageState, postPipeline } from './api';
import { classToken, shortId } from './format';
import { mlopsIcon } from './icons';
import { MlopsModel } from './model';

/** Debounce of edits before the pipeline is asked for again (ms). */
export const EDIT_DEBOUNCE = 500;

const NODE_HEIGHT = 42;
const LABEL_MAX = 22;
const CHAR_WIDTH = 7.2;
const LABEL_CHAR_WIDTH = 6.2;
const MIN_SCALE = 0.7;
/** Below this scale, a left-to-right graph is drawn top to bottom instead. */
const FIT_SCALE = 0.8;

let instanceCount = 0;

interface IPoint {
  x: number;
  y: number;
}

interface ILaidNode {
  stage: PipelineStage;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface ILaidEdge {
  edge: PipelineEdge;
  points: IPoint[];
  labelX: number;
  labelY: number;
  label: string;
}

interface ILayout {
  rankdir: 'LR' | 'TB';
  width: number;
  height: number;
  nodes: ILaidNode[];
  edges: ILaidEdge[];
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function layoutPipeline(pipeline: Pipeline, rankdir: 'LR' | 'TB' = 'LR'): ILayout {
  const graph = new dagre.graphlib.Graph({ multigraph: true, directed: true });
  graph.setGraph({
    rankdir,
    nodesep: 18,
    ranksep: rankdir === 'LR' ? 40 : 28,
    edgesep: 12,
    marginx: 10,
    marginy: 10
  });
  graph.setDefaultEdgeLabel(() => ({}));
  const names = new Set(pipeline.stages.map(s => s.name));
  for (const stage of pipeline.stages) {
    const name = Math.min(stage.name.length, 28) * CHAR_WIDTH;
    const state = stateLine(stage).length * LABEL_CHAR_WIDTH;
    const width = Math.min(240, Math.max(92, name + 34, state + 34));
    graph.setNode(stage.name, { width, height: NODE_HEIGHT });
  }
  const edges: PipelineEdge[] = pipeline.edges.filter(
    e => names.has(e.upstream) && names.has(e.downstream) && e.upstream !== e.downstream
  );
  edges.forEach((edge, i) => {
    const label = truncate(edge.label || (edge.kind === 'after' ? 'after' : ''), LABEL_MAX);
    graph.setEdge(
      edge.upstream,
      edge.downstream,
      {
        label,
        width: label ? label.length * LABEL_CHAR_WIDTH + 10 : 0,
        height: label ? 16 : 0,
        labelpos: 'c'
      },
      `e${i}`
    );
  });
  dagre.layout(graph);
  const info = graph.graph();
  const nodes = pipeline.stages.map(stage => {
    const node = graph.node(stage.name);
    return { stage, x: node.x, y: node.y, width: node.width, height: node.height };
  });
  const laidEdges = edges.map((edge, i) => {
    const data = graph.edge(edge.upstream, edge.downstream, `e${i}`) as any;
    return {
      edge,
      points: (data.points ?? []) as IPoint[],
      labelX: data.x ?? 0,
      labelY: data.y ?? 0,
      label: data.label ?? ''
    };
  });
  return { rankdir, width: info.width ?? 0, height: info.height ?? 0, nodes, edges: laidEdges };
}

/** A smooth path through dagre's edge points (Catmull-Rom as cubic Béziers). */
function edgePath(points: IPoint[]): string {
  if (points.length === 0) {
    return '';
  }
  const p = points;
  let d = `M${p[0].x.toFixed(1)},${p[0].y.toFixed(1)}`;
  if (p.length === 2) {
    return `${d} L${p[1].x.toFixed(1)},${p[1].y.toFixed(1)}`;
  }
  for (let i = 0; i < p.length - 1; i++) {
    const p0 = p[i - 1] ?? p[i];
    const p1 = p[i];
    const p2 = p[i + 1];
    const p3 = p[i + 2] ?? p2;
    const c1 = { x: p1.x + (p2.x - p0.x) / 6, y: p1.y + (p2.y - p0.y) / 6 };
    const c2 = { x: p2.x - (p3.x - p1.x) / 6, y: p2.y - (p3.y - p1.y) / 6 };
    d += ` C${c1.x.toFixed(1)},${c1.y.toFixed(1)} ${c2.x.toFixed(1)},${c2.y.toFixed(1)} ${p2.x.toFixed(1)},${p2.y.toFixed(1)}`;
  }
  return d;
}

/** The states in the legend, in the order a stage goes from restoring to running. */
const LEGEND: StageState[] = [
  'fresh',
  'cached',
  'stale',
  'unknown',
  'uncached',
  'running',
  'failed',
  'never run'
];

/** The node's second line: its state, and how many reasons it has. */
function stateLine(stage: PipelineStage): string {
  const n = stage.reasons.length;
  return n > 1 && (stage.state === 'stale' || stage.state === 'cached' || stage.state === 'unknown')
    ? `${stage.state} · ${n} reason${n > 1 ? 's' : ''}`
    : stage.state;
}

function stageTooltip(stage: PipelineStage): string {
  const lines = [`${stage.name}: ${stage.state}`];
  for (const reason of stage.reasons) {
    lines.push(`• ${reason}`);
  }
  if (stage.last_run) {
    lines.push(`last run ${shortId(stage.last_run)}`);
  }
  lines.push('Click to show its cell');
  return lines.join('\n');
}

/** The notebook's content for the server: sources and ids, without outputs. */
function notebookContent(panel: NotebookPanel): unknown {
  const json = panel.context.model.toJSON() as any;
  if (json && Array.isArray(json.cells)) {
    json.cells = json.cells.map((cell: any) => {
      const { outputs, attachments, ...rest } = cell;
      return cell.cell_type === 'code' ? { ...rest, outputs: [], execution_count: null } : rest;
    });
  }
  return json;
}

/** Makes the notebook's cell of a stage active and scrolls to it. */
export function revealStageCell(
  notebook: Notebook,
  cellId: string | null,
  cellIndex?: number
): boolean {
  let index = -1;
  if (cellId) {
    index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
  }
  if (
    index < 0 &&
    cellIndex !== undefined &&
    cellIndex >= 0 &&
    cellIndex < notebook.widgets.length
  ) {
    index = cellIndex;
  }
  if (index < 0) {
    return false;
  }
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  void notebook.scrollToCell(notebook.widgets[index], 'center');
  return true;
}

export interface IPipelineViewProps {
  model: MlopsModel;
  tracker: INotebookTracker;
  /** Brings the notebook forward in the main area. */
  activate?: (panel: NotebookPanel) => void;
  /** Opens the same view in the main area (shown as a button when given). */
  onExpand?: () => void;
  /** Largest zoom of small graphs (1 in the sidebar). */
  maxScale?: number;
}

export function PipelineView({
  model,
  tracker,
  activate,
  onExpand,
  maxScale = 1
}: IPipelineViewProps): JSX.Element {
  const [panel, setPanel] = useState<NotebookPanel | null>(tracker.currentWidget);
  const [pipeline, setPipeline] = useState<Pipeline | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [activeCellId, setActiveCellId] = useState<string | null>(null);
  const markerId = useMemo(() => `mlops-arrow-${++instanceCount}`, []);

  useEffect(() => {
    const slot = () => setPanel(tracker.currentWidget);
    tracker.currentChanged.connect(slot);
    return () => {
      tracker.currentChanged.disconnect(slot);
    };
  }, [tracker]);

  // Fetch the pipeline of `panel`, now and whenever it may have changed.
  useEffect(() => {
    setPipeline(null);
    setError(null);
    if (!panel) {
      return;
    }
    let disposed = false;
    let sequence = 0;
    let timer = 0;
    const fetchNow = () => {
      window.clearTimeout(timer);
      if (disposed || panel.isDisposed || !panel.context.isReady) {
        return;
      }
      const mine = ++sequence;
      setLoading(true);
      postPipeline(panel.context.path, notebookContent(panel)).then(
        value => {
          if (!disposed && mine === sequence) {
            setPipeline(value);
            setError(null);
            setLoading(false);
          }
        },
        reason => {
          if (!disposed && mine === sequence) {
            setError(reason instanceof Error ? reason.message : String(reason));
            setLoading(false);
          }
        }
      );
    };
    const fetchSoon = (delay: number = EDIT_DEBOUNCE) => {
      window.clearTimeout(timer);
      timer = window.setTimeout(fetchNow, delay);
    };
    const onContent = () => fetchSoon();
    const onExecuted = (_: unknown, args: { notebook: Notebook }) => {
      if (args.notebook === panel.content) {
        fetchSoon(150);
      }
    };
    const onVersion = () => fetchSoon(50);
    const onActiveCell = () => {
      const cell = panel.content.activeCell;
      setActiveCellId(cell ? cell.model.id : null);
    };

    void panel.context.ready.then(() => {
      if (disposed) {
        return;
      }
      fetchNow();
      panel.context.model.contentChanged.connect(onContent);
      panel.context.pathChanged.connect(onContent);
    });
    NotebookActions.executed.connect(onExecuted);
    NotebookActions.executionScheduled.connect(onExecuted);
    model.versionChanged.connect(onVersion);
    panel.content.activeCellChanged.connect(onActiveCell);
    onActiveCell();
    return () => {
      disposed = true;
      window.clearTimeout(timer);
      if (!panel.isDisposed) {
        panel.context.model?.contentChanged.disconnect(onContent);
        panel.context.pathChanged.disconnect(onContent);
        panel.content.activeCellChanged.disconnect(onActiveCell);
      }
      NotebookActions.executed.disconnect(onExecuted);
      NotebookActions.executionScheduled.disconnect(onExecuted);
      model.versionChanged.disconnect(onVersion);
    };
  }, [panel, model]);

  // Left to right; top to bottom only where left to right would not fit (a narrow sidebar).
  const layouts = useMemo(
    () =>
      pipeline && pipeline.stages.length
        ? { lr: layoutPipeline(pipeline, 'LR'), tb: layoutPipeline(pipeline, 'TB') }
        : null,
    [pipeline]
  );

  // Fit wide graphs to the sidebar, down to MIN_SCALE; past that, scroll.
  const host = useRef<HTMLDivElement>(null);
  const [hostWidth, setHostWidth] = useState(0);
  useEffect(() => {
    const node = host.current;
    if (!node) {
      return;
    }
    const observer = new ResizeObserver(() => setHostWidth(node.clientWidth));
    observer.observe(node);
    setHostWidth(node.clientWidth);
    return () => observer.disconnect();
  }, [layouts !== null]);
  let layout: ILayout | null = layouts ? layouts.lr : null;
  if (
    layouts &&
    hostWidth > 0 &&
    layouts.lr.width * FIT_SCALE > hostWidth &&
    layouts.tb.width < layouts.lr.width
  ) {
    layout = layouts.tb;
  }

  const onNodeClick = (stage: PipelineStage) => {
    if (!panel) {
      return;
    }
    activate?.(panel);
    revealStageCell(panel.content, stage.cell_id, stage.cell_index);
  };

  if (!panel) {
    return (
      <div className="mlops-pipeline" data-testid="mlops-pipeline">
        <div className="mlops-empty" data-testid="mlops-pipeline-empty">
          <div className="mlops-empty-title">Open a notebook to see its pipeline</div>
          <div className="mlops-empty-hint">The stages of the active notebook are drawn here.</div>
        </div>
      </div>
    );
  }

  const scale =
    layout && hostWidth > 0
      ? Math.max(MIN_SCALE, Math.min(maxScale, (hostWidth - 2) / layout.width))
      : 1;
  const notFresh = pipeline ? pipeline.stages.filter(s => s.state !== 'fresh') : [];

  return (
    <div className="mlops-pipeline" data-testid="mlops-pipeline" data-notebook={panel.context.path}>
      <div className="mlops-pipeline-header">
        <span className="mlops-pipeline-name" title={panel.context.path}>
          {panel.context.path.split('/').pop()}
        </span>
        {loading && <span className="mlops-muted mlops-pipeline-loading">updating…</span>}
        <span className="mlops-spacer" />
        {onExpand && (
          <button
            className="mlops-button mlops-button-quiet"
            data-testid="mlops-pipeline-expand"
            title="Open the pipeline in the main area"
            onClick={onExpand}
          >
            ⤢ Open
          </button>
        )}
      </div>
      {error && (
        <div className="mlops-error" data-testid="mlops-pipeline-error" role="alert">
          {error}
        </div>
      )}
      {pipeline && pipeline.stages.length === 0 && !error && (
        <div className="mlops-empty" data-testid="mlops-pipeline-empty">
          <div className="mlops-empty-title">
            This notebook has no stages — add %%stage NAME to a cell
          </div>
          <div className="mlops-empty-hint">
            Each <code>%%stage</code> cell becomes a node; the variables and files they share become
            edges.
          </div>
        </div>
      )}
      {layout && (
        <div className="mlops-dag-host" ref={host}>
          <svg
            className="mlops-dag"
            data-testid="mlops-pipeline-svg"
            data-rankdir={layout.rankdir}
            width={layout.width * scale}
            height={layout.height * scale}
            viewBox={`0 0 ${layout.width} ${layout.height}`}
            role="img"
            aria-label={`Pipeline of ${panel.context.path}`}
          >
            <defs>
              <marker
                id={markerId}
                viewBox="0 0 10 10"
                refX="9"
                refY="5"
                markerWidth="7"
                markerHeight="7"
                orient="auto-start-reverse"
              >
                <path className="mlops-dag-arrow" d="M0,0 L10,5 L0,10 z" />
              </marker>
            </defs>
            {layout.edges.map((e, i) => (
              <g
                key={`edge-${i}`}
                className={`mlops-dag-edge mlops-edge-${classToken(e.edge.kind)}`}
                data-testid="mlops-pipeline-edge"
                data-upstream={e.edge.upstream}
                data-downstream={e.edge.downstream}
                data-kind={e.edge.kind}
              >
                <title>{`${e.edge.upstream} → ${e.edge.downstream} (${e.edge.kind})${e.edge.label ? `: ${e.edge.label}` : ''}`}</title>
                <path d={edgePath(e.points)} markerEnd={`url(#${markerId})`} />
                {e.label && (
                  <g
                    className="mlops-dag-edge-label"
                    transform={`translate(${e.labelX},${e.labelY})`}
                  >
                    <rect
                      x={-(e.label.length * LABEL_CHAR_WIDTH + 8) / 2}
                      y={-8}
                      width={e.label.length * LABEL_CHAR_WIDTH + 8}
                      height={16}
                      rx={3}
                    />
                    <text textAnchor="middle" dominantBaseline="central">
                      {e.label}
                    </text>
                  </g>
                )}
              </g>
            ))}
            {layout.nodes.map(n => {
              const state = classToken(n.stage.state);
              const active = activeCellId !== null && n.stage.cell_id === activeCellId;
              return (
                <g
                  key={n.stage.name}
                  className={`mlops-dag-node mlops-state-${state}${active ? ' mlops-dag-node-active' : ''}`}
                  data-testid="mlops-pipeline-node"
                  data-stage={n.stage.name}
                  data-state={n.stage.state}
                  transform={`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}
                  onClick={() => onNodeClick(n.stage)}
                  role="button"
                  tabIndex={0}
                  onKeyDown={event => {
                    if (event.key === 'Enter' || event.key === ' ') {
                      onNodeClick(n.stage);
                    }
                  }}
                >
                  <title>{stageTooltip(n.stage)}</title>
                  <rect width={n.width} height={n.height} rx={7} />
                  <circle className="mlops-dag-dot" cx={14} cy={n.height / 2} r={5} />
                  <text className="mlops-dag-name" x={26} y={16} dominantBaseline="central">
                    {truncate(n.stage.name, 28)}
                  </text>
                  <text className="mlops-dag-state" x={26} y={31} dominantBaseline="central">
                    {stateLine(n.stage)}
                  </text>
                </g>
              );
            })}
          </svg>
        </div>
      )}
      {layout && (
        <div className="mlops-dag-legend">
          {LEGEND.map(s => (
            <span key={s} className={`mlops-legend-item mlops-state-${classToken(s)}`}>
              <span className="mlops-legend-dot" />
              {s}
            </span>
          ))}
        </div>
      )}
      {pipeline && notFresh.length > 0 && (
        <ul className="mlops-stage-list" data-testid="mlops-pipeline-reasons">
          {notFresh.map(s => (
            <li
              key={s.name}
              className={`mlops-state-${classToken(s.state)}`}
              onClick={() => onNodeClick(s)}
            >
              <span className="mlops-legend-dot" />
              <span className="mlops-stage-list-name">{s.name}</span>
              <span className="mlops-muted"> {s.state}</span>
              {s.reasons.length > 0 && (
                <div className="mlops-stage-reasons">{s.reasons.join('; ')}</div>
              )}
            </li>
          ))}
        </ul>
      )}
      {pipeline && pipeline.warnings.length > 0 && (
        <ul className="mlops-warnings" data-testid="mlops-pipeline-warnings">
          {pipeline.warnings.map((w, i) => (
            <li key={i}>{w}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The pipeline of the active notebook as a main-area tab (room for big graphs). */
export function createPipelineWidget(props: IPipelineViewProps): MainAreaWidget<ReactWidget> {
  const content = ReactWidget.create(
    <PipelineView {...props} onExpand={undefined} maxScale={1.5} />
  );
  content.addClass('mlops-pipeline-widget');
  const widget = new MainAreaWidget({ content });
  widget.id = 'mlops-pipeline-main';
  widget.title.label = 'Pipeline';
  widget.title.caption = 'The pipeline of the active notebook';
  widget.title.icon = mlopsIcon;
  widget.title.closable = true;
  return widget;
}
