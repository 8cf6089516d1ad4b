/**
 * Compare view (main area): params and metrics side by side with deltas
 * against the first selected run, metric histories as line charts (one line
 * per run), scalar metrics as bars, and the figures each stage displayed.
 * Experiments (each run with its whole lineage) add the upstream runs, a
 * "change" column for two, parallel coordinates and a param-vs-metric scatter. The plots the runs
 * recorded are overlaid, one chart per plot id (`plots.tsx`).
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import {
  Experiment,
  HistoryPoint,
  MetricsResponse,
  RunDetail,
  getExperiment,
  getMetrics,
  getRun,
  metricNumber
} from './api';
import { ArtifactImage } from './artifacts';
import { MetricChart, runColor } from './charts';
import { ExperimentCharts } from './expCharts';
import {
  formatDelta,
  formatDuration,
  formatFullTime,
  formatTime,
  formatMetric,
  formatNumber,
  formatParam,
  runDuration,
  shortId
} from './format';
import { mlopsIcon } from './icons';
import { MlopsModel, useLiveData } from './model';
import { PlotsSection } from './plots';
import { RowKind } from './runsLoader';
import { StatusBadge } from './runsTable';

interface IRow {
  key: string;
  label: string;
  group: string;
  /** Comparable value per run (JSON), for "differs". */
  values: string[];
  cells: React.ReactNode[];
  deltas?: string[];
  /** With two experiments: "300 → 150", or the metric's change. */
  change?: string;
}

/** A value as plain text (for the change column). */
function cellText(value: unknown): string {
  if (value === undefined || value === null) {
    return '—';
  }
  return typeof value === 'string' ? value : formatParam(value as never);
}

function runLabel(run: RunDetail): string {
  return `${shortId(run.run_id)}${run.stage ? ` · ${run.stage}` : ''}`;
}

function buildRows(runs: RunDetail[], experiments?: Experiment[]): IRow[] {
  const rows: IRow[] = [];
  const sources = experiments ?? runs; // whose params, metrics and tags are compared
  const add = (
    group: string,
    key: string,
    label: string,
    values: unknown[],
    cells: React.ReactNode[],
    numbers?: (number | null)[]
  ) => {
    const row: IRow = {
      group,
      key,
      label,
      values: values.map(v => JSON.stringify(v ?? null)),
      cells
    };
    if (numbers) {
      row.deltas = numbers.map((n, i) => (i === 0 ? '' : formatDelta(n, numbers[0])));
    }
    if (experiments && values.length === 2 && group !== 'Run') {
      const [a, b] = numbers ?? [null, null];
      if (group === 'Metrics' && a !== null && b !== null) {
        const delta = formatDelta(b, a);
        row.change = delta === '=' ? '±0' : delta;
      } else if (row.values[0] !== row.values[1]) {
        const text = (v: unknown) =>
          group === 'Lineage' && typeof v === 'string' ? shortId(v) : cellText(v);
        row.change = `${text(values[0])} → ${text(values[1])}`;
      }
    }
    rows.push(row);
  };
  add(
    'Run',
    'experiment',
    'experiment',
    runs.map(r => r.experiment),
    runs.map(r => r.experiment)
  );
  add(
    'Run',
    'stage',
    'stage',
    runs.map(r => r.stage),
    runs.map(r => r.stage ?? '—')
  );
  add(
    'Run',
    'status',
    'status',
    runs.map(r => r.status),
    runs.map(r => <StatusBadge status={r.status} />)
  );
  add(
    'Run',
    'start_time',
    'start',
    runs.map(r => r.start_time),
    // Experiments leave room for the change column: the short form, in full on hover.
    runs.map(r =>
      experiments ? (
        <span title={formatFullTime(r.start_time)}>{formatTime(r.start_time)}</span>
      ) : (
        formatFullTime(r.start_time)
      )
    )
  );
  const durations = runs.map(r => runDuration(r));
  add(
    'Run',
    'duration',
    'duration',
    durations,
    durations.map(d => formatDuration(d)),
    durations
  );

  if (experiments) {
    const stages = [...new Set(experiments.flatMap(e => e.upstream.map(u => u.stage ?? 'run')))];
    for (const stage of stages) {
      const ids = experiments.map(
        e => e.upstream.find(u => (u.stage ?? 'run') === stage)?.run_id ?? null
      );
      add(
        'Lineage',
        `upstream.${stage}`,
        stage,
        ids,
        ids.map(id =>
          id ? (
            <span className="mlops-mono" title={id}>
              {shortId(id)}
            </span>
          ) : (
            '—'
          )
        )
      );
    }
  }
  const paramKeys = [...new Set(sources.flatMap(r => Object.keys(r.params)))].sort();
  for (const key of paramKeys) {
    const values = sources.map(r => r.params[key]);
    const numbers = values.map(v => (typeof v === 'number' ? v : null));
    add(
      'Params',
      `params.${key}`,
      key,
      values,
      values.map(v => (v === undefined ? <span className="mlops-muted">—</span> : formatParam(v))),
      numbers.some(n => n !== null) ? numbers : undefined
    );
  }
  const metricKeys = [...new Set(sources.flatMap(r => Object.keys(r.metrics)))].sort();
  for (const key of metricKeys) {
    const values = sources.map(r => r.metrics[key]);
    add(
      'Metrics',
      `metrics.${key}`,
      key,
      values,
      values.map(v => (v === undefined ? <span className="mlops-muted">—</span> : formatMetric(v))),
      values.map(v => metricNumber(v))
    );
  }
  const tagKeys = [...new Set(sources.flatMap(r => Object.keys(r.tags)))].sort();
  for (const key of tagKeys) {
    const values = sources.map(r => r.tags[key]);
    add(
      'Tags',
      `tags.${key}`,
      key,
      values,
      values.map(v => v ?? <span className="mlops-muted">—</span>)
    );
  }
  return rows;
}

/** Horizontal bars of one scalar metric, one bar per run. */
function MetricBars(props: { metric: string; runs: RunDetail[] }): JSX.Element {
  const values = props.runs.map(r => metricNumber(r.metrics[props.metric]));
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(0, ...finite);
  const min = Math.min(0, ...finite);
  const span = max - min || 1;
  const barHeight = 18;
  const labelWidth = 80;
  const width = 360;
  const plotWidth = width - labelWidth - 70;
  const zero = labelWidth + ((0 - min) / span) * plotWidth;
  return (
    <div
      className="mlops-chart mlops-bars"
      data-testid="mlops-compare-bars"
      data-metric={props.metric}
    >
      <div className="mlops-chart-title">{props.metric}</div>
      <svg
        width="100%"
        viewBox={`0 0 ${width} ${props.runs.length * (barHeight + 6) + 6}`}
        role="img"
        aria-label={props.metric}
      >
        {props.runs.map((run, i) => {
          const v = values[i];
          const y = 6 + i * (barHeight + 6);
          const ok = v !== null && Number.isFinite(v);
          const x1 = ok ? labelWidth + ((Math.min(v as number, 0) - min) / span) * plotWidth : zero;
          const w = ok ? (Math.abs(v as number) / span) * plotWidth : 0;
          return (
            <g key={run.run_id}>
              <text
                className="mlops-bar-label"
                x={labelWidth - 6}
                y={y + barHeight / 2}
                textAnchor="end"
                dominantBaseline="central"
              >
                {shortId(run.run_id)}
              </text>
              <rect
                x={x1}
                y={y}
                width={Math.max(w, ok ? 1 : 0)}
                height={barHeight}
                rx={2}
                fill={runColor(i)}
              />
              <text
                className="mlops-bar-value"
                x={Math.max(x1 + w, zero) + 4}
                y={y + barHeight / 2}
                dominantBaseline="central"
              >
                {v === null ? '—' : formatNumber(v)}
              </text>
            </g>
          );
        })}
        <line
          className="mlops-bar-axis"
          x1={zero}
          x2={zero}
          y1={0}
          y2={props.runs.length * (barHeight + 6) + 6}
        />
      </svg>
    </div>
  );
}

export function CompareView(props: {
  runIds: string[];
  path: string;
  model: MlopsModel;
  kind?: RowKind;
  /** JupyterLab's renderers: the plots are drawn by its Vega-Lite one. */
  rendermime?: IRenderMimeRegistry | null;
}): JSX.Element {
  const { runIds, path, model } = props;
  const isExperiments = props.kind === 'experiments';
  const [onlyDiffering, setOnlyDiffering] = useState(false);
  const { data, error } = useLiveData(
    model,
    () =>
      Promise.all([
        Promise.all(runIds.map(id => getRun(id, path))),
        getMetrics(runIds, { path }),
        isExperiments
          ? Promise.all(runIds.map(id => getExperiment(id, path)))
          : Promise.resolve(null)
      ]),
    [runIds.join(','), path, isExperiments]
  );
  const runs = data ? data[0] : null;
  const histories: MetricsResponse['histories'] = data ? data[1].histories : {};
  const experiments = data?.[2] ?? undefined;
  const noun = isExperiments ? 'experiments' : 'runs';

  if (!runs) {
    return (
      <div className="mlops-compare" data-testid="mlops-compare-view">
        {error ? (
          <div className="mlops-error">{error}</div>
        ) : (
          <div className="mlops-loading">
            Loading {runIds.length} {noun}…
          </div>
        )}
      </div>
    );
  }

  const rows = buildRows(runs, experiments);
  const shown = rows.filter(
    row => !onlyDiffering || (row.key !== 'start_time' && new Set(row.values).size > 1)
  );
  const groups = [...new Set(shown.map(r => r.group))];
  const hasChange = Boolean(experiments) && runs.length === 2;

  // Metric keys with a history (more than one step in some run) get a line chart.
  const historyOf = (runId: string, key: string): HistoryPoint[] => histories[runId]?.[key] ?? [];
  const metricKeys = [...new Set(runs.flatMap(r => Object.keys(r.metrics)))].sort();
  const charted = metricKeys.filter(key => runs.some(r => historyOf(r.run_id, key).length > 1));
  const scalar = metricKeys.filter(key => !charted.includes(key));

  const figureNames = [
    ...new Set(runs.flatMap(r => r.artifacts.filter(a => a.kind === 'figure').map(a => a.name)))
  ];

  return (
    <div className="mlops-compare" data-testid="mlops-compare-view">
      <header className="mlops-compare-header">
        <h2>
          Comparing {runs.length} {noun}
        </h2>
        <div className="mlops-compare-legend">
          {runs.map((run, i) => (
            <button
              key={run.run_id}
              className="mlops-run-chip"
              title={`Open run ${run.run_id}`}
              onClick={() => model.actions.openRun(run.run_id, path)}
            >
              <span className="mlops-swatch" style={{ background: runColor(i) }} />
              <span className="mlops-mono">{shortId(run.run_id)}</span>
              {run.stage && <span className="mlops-muted"> {run.stage}</span>}
              {i === 0 && <span className="mlops-base-tag">base</span>}
            </button>
          ))}
        </div>
        {error && <div className="mlops-error">{error}</div>}
      </header>

      <section className="mlops-section">
        <div className="mlops-section-bar">
          <h3 className="mlops-section-title">Params and metrics</h3>
          <label className="mlops-toggle">
            <input
              type="checkbox"
              data-testid="mlops-compare-only-differ"
              checked={onlyDiffering}
              onChange={e => setOnlyDiffering(e.target.checked)}
            />
            Only rows that differ
          </label>
        </div>
        <div className="mlops-compare-table-scroll">
          <table className="mlops-compare-table" data-testid="mlops-compare-table">
            <thead>
              <tr>
                <th />
                {runs.map((run, i) => (
                  <th key={run.run_id} title={run.run_id}>
                    <span className="mlops-swatch" style={{ background: runColor(i) }} />
                    <span className="mlops-mono">{shortId(run.run_id)}</span>
                  </th>
                ))}
                {hasChange && <th className="mlops-change-col">change</th>}
              </tr>
            </thead>
            {groups.map(group => (
              <tbody key={group}>
                <tr className="mlops-compare-group">
                  <th colSpan={runs.length + (hasChange ? 2 : 1)}>{group}</th>
                </tr>
                {shown
                  .filter(r => r.group === group)
                  .map(row => {
                    const differs = row.key !== 'start_time' && new Set(row.values).size > 1;
                    return (
                      <tr
                        key={row.key}
                        className={differs ? 'mlops-differ' : undefined}
                        data-testid="mlops-compare-row"
                        data-key={row.key}
                        data-differs={differs ? 'true' : 'false'}
                      >
                        <th title={row.key}>{row.label}</th>
                        {row.cells.map((cell, i) => (
                          <td key={i}>
                            <span className="mlops-compare-value">{cell}</span>
                            {!hasChange && row.deltas && row.deltas[i] && row.deltas[i] !== '=' && (
                              <span
                                className={`mlops-delta ${row.deltas[i].startsWith('+') ? 'mlops-delta-up' : 'mlops-delta-down'}`}
                              >
                                {row.deltas[i]}
                              </span>
                            )}
                          </td>
                        ))}
                        {hasChange && (
                          <td className="mlops-change-col" data-testid="mlops-compare-change">
                            {row.change ?? ''}
                          </td>
                        )}
                      </tr>
                    );
                  })}
              </tbody>
            ))}
          </table>
        </div>
      </section>

      {experiments && (
        <section className="mlops-section" data-testid="mlops-compare-experiment-charts">
          <h3 className="mlops-section-title">Params against metrics</h3>
          <ExperimentCharts
            experiments={experiments}
            fixedColors={runColor}
            onOpen={runId => model.actions.openRun(runId, path)}
          />
        </section>
      )}

      {(charted.length > 0 || scalar.length > 0) && (
        <section className="mlops-section">
          <h3 className="mlops-section-title">Charts</h3>
          <div className="mlops-chart-grid">
            {charted.map(key => (
              <MetricChart
                key={key}
                title={key}
                testId="mlops-compare-chart"
                series={runs.map((run, i) => ({
                  label: runLabel(run),
                  color: runColor(i),
                  points: historyOf(run.run_id, key)
                }))}
              />
            ))}
            {scalar.map(key => (
              <MetricBars key={key} metric={key} runs={runs} />
            ))}
          </div>
        </section>
      )}

      <PlotsSection
        runIds={runIds}
        path={path}
        model={model}
        rendermime={props.rendermime ?? null}
      />

      {figureNames.length > 0 && (
        <section className="mlops-section">
          <h3 className="mlops-section-title">Figures</h3>
          {figureNames.map(name => (
            <div key={name} className="mlops-figure-row">
              <div className="mlops-figure-name">{name}</div>
              <div
                className="mlops-figure-cols"
                style={{ gridTemplateColumns: `repeat(${runs.length}, minmax(220px, 1fr))` }}
              >
                {runs.map((run, i) => (
                  <div key={run.run_id} className="mlops-figure-col">
                    <div className="mlops-figure-caption">
                      <span className="mlops-swatch" style={{ background: runColor(i) }} />
                      {runLabel(run)}
                    </div>
                    {run.artifacts.some(a => a.kind === 'figure' && a.name === name) ? (
                      <ArtifactImage
                        runId={run.run_id}
                        name={name}
                        path={path}
                        testId="mlops-compare-figure"
                      />
                    ) : (
                      <div className="mlops-muted mlops-figure-missing">—</div>
                    )}
                  </div>
                ))}
              </div>
            </div>
          ))}
        </section>
      )}
    </div>
  );
}

export class CompareWidget extends ReactWidget {
  constructor(
    readonly runIds: string[],
    readonly path: string,
    private _model: MlopsModel,
    readonly kind: RowKind = 'runs',
    private _rendermime: IRenderMimeRegistry | null = null
  ) {
    super();
    this.addClass('mlops-compare-widget');
  }

  render(): JSX.Element {
    return (
      <CompareView
        runIds={this.runIds}
        path={this.path}
        model={this._model}
        kind={this.kind}
        rendermime={this._rendermime}
      />
    );
  }
}

export function createCompare(
  runIds: string[],
  path: string,
  model: MlopsModel,
  kind: RowKind = 'runs',
  rendermime: IRenderMimeRegistry | null = null
): MainAreaWidget<CompareWidget> {
  const content = new CompareWidget(runIds, path, model, kind, rendermime);
  const widget = new MainAreaWidget({ content });
  const noun = kind === 'experiments' ? 'experiments' : 'runs';
  widget.id = `mlops-compare-${kind}-${runIds.map(shortId).join('-')}`;
  widget.title.label = `Compare ${runIds.length} ${noun}`;
  widget.title.caption = `Compare ${noun} ${runIds.join(', ')}`;
  widget.title.icon = mlopsIcon;
  widget.title.closable = true;
  return widget;
}
