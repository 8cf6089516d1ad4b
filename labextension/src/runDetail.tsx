/**
 * One run in full: params, metrics (with sparklines and charts), tags,
 * artifacts, lineage, environment and code. Opened in the main area.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { getRun } from './api';
import { ArtifactImage, downloadArtifact } from './artifacts';
import { MetricChart, Sparkline, runColor } from './charts';
import {
  formatBytes,
  formatDuration,
  formatFullTime,
  formatMetric,
  formatParam,
  runDuration,
  shortId
} from './format';
import { mlopsIcon } from './icons';
import { MlopsModel, useLiveData } from './model';
import { StatusBadge } from './runsTable';

function Section(props: {
  title: string;
  count?: number;
  children: React.ReactNode;
  testId?: string;
}): JSX.Element {
  return (
    <section className="mlops-section" data-testid={props.testId}>
      <h3 className="mlops-section-title">
        {props.title}
        {props.count !== undefined && <span className="mlops-section-count">{props.count}</span>}
      </h3>
      {props.children}
    </section>
  );
}

function KeyValueTable(props: { rows: [string, React.ReactNode][]; testId?: string }): JSX.Element {
  return (
    <table className="mlops-kv" data-testid={props.testId}>
      <tbody>
        {props.rows.map(([key, value]) => (
          <tr key={key}>
            <th title={key}>{key}</th>
            <td>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunDetailView(props: {
  runId: string;
  path: string;
  model: MlopsModel;
}): JSX.Element {
  const { runId, path, model } = props;
  const [expanded, setExpanded] = useState<string | null>(null);
  const { data: run, error } = useLiveData(model, () => getRun(runId, path), [runId, path]);

  if (error && !run) {
    return (
      <div className="mlops-detail" data-testid="mlops-run-detail" data-run-id={runId}>
        <div className="mlops-error" role="alert">
          {error}
        </div>
      </div>
    );
  }
  if (!run) {
    return (
      <div className="mlops-detail" data-testid="mlops-run-detail" data-run-id={runId}>
        <div className="mlops-loading">Loading run {shortId(runId)}…</div>
      </div>
    );
  }

  const paramKeys = Object.keys(run.params).sort();
  const metricKeys = Object.keys(run.metrics).sort();
  const tagKeys = Object.keys(run.tags).sort();
  const figures = run.artifacts.filter(a => a.kind === 'figure');
  const others = run.artifacts.filter(a => a.kind !== 'figure');
  const env = run.environment;
  const packages = env
    ? Object.entries(env.packages ?? {}).sort(([a], [b]) => a.localeCompare(b))
    : [];

  return (
    <div className="mlops-detail" data-testid="mlops-run-detail" data-run-id={run.run_id}>
      <header className="mlops-detail-header">
        <h2>
          {run.stage ? <span className="mlops-detail-stage">{run.stage}</span> : <span>Run</span>}{' '}
          <span className="mlops-mono mlops-muted">{run.run_id}</span>
        </h2>
        <div className="mlops-detail-meta">
          <StatusBadge status={run.status} />
          <span title="Experiment">{run.experiment}</span>
          <span title={run.start_time}>{formatFullTime(run.start_time)}</span>
          <span title="Duration">{formatDuration(runDuration(run))}</span>
          {run.notebook && (
            <button
              className="mlops-link"
              title="Show the cell of this run"
              onClick={() => model.actions.revealCell(run.notebook, run.cell_id)}
            >
              {run.notebook}
            </button>
          )}
          {run.fingerprint && (
            <span className="mlops-mono mlops-muted" title={`Fingerprint ${run.fingerprint}`}>
              #{run.fingerprint.slice(0, 12)}
            </span>
          )}
        </div>
        {error && <div className="mlops-error">{error}</div>}
      </header>

      <div className="mlops-detail-grid">
        <Section title="Params" count={paramKeys.length} testId="mlops-detail-params">
          {paramKeys.length ? (
            <KeyValueTable rows={paramKeys.map(k => [k, formatParam(run.params[k])])} />
          ) : (
            <div className="mlops-muted">No params.</div>
          )}
        </Section>

        <Section title="Metrics" count={metricKeys.length} testId="mlops-detail-metrics">
          {metricKeys.length ? (
            <table className="mlops-kv mlops-metrics-table">
              <tbody>
                {metricKeys.map(k => {
                  const history = run.histories[k] ?? [];
                  const hasHistory = history.length > 1;
                  return (
                    <tr key={k}>
                      <th title={k}>{k}</th>
                      <td className="mlops-num">{formatMetric(run.metrics[k])}</td>
                      <td className="mlops-spark-cell">
                        {hasHistory && (
                          <button
                            className="mlops-spark-button"
                            title={`${history.length} steps — click for a chart`}
                            onClick={() => setExpanded(expanded === k ? null : k)}
                          >
                            <Sparkline points={history} />
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          ) : (
            <div className="mlops-muted">No metrics.</div>
          )}
          {expanded && run.histories[expanded] && (
            <MetricChart
              title={expanded}
              height={180}
              testId="mlops-detail-chart"
              series={[
                { label: shortId(run.run_id), color: runColor(0), points: run.histories[expanded] }
              ]}
            />
          )}
        </Section>

        <Section title="Tags" count={tagKeys.length} testId="mlops-detail-tags">
          {tagKeys.length ? (
            <KeyValueTable rows={tagKeys.map(k => [k, run.tags[k]])} />
          ) : (
            <div className="mlops-muted">No tags.</div>
          )}
        </Section>

        <Section title="Lineage" count={run.lineage.length} testId="mlops-detail-lineage">
          {run.lineage.length ? (
            <ul className="mlops-lineage">
              {run.lineage.map(edge => (
                <li key={`${edge.upstream_run_id}:${edge.via}`}>
                  <button
                    className="mlops-link mlops-mono"
                    data-testid="mlops-lineage-link"
                    data-run-id={edge.upstream_run_id}
                    onClick={() => model.actions.openRun(edge.upstream_run_id, path)}
                    title={`Open upstream run ${edge.upstream_run_id}`}
                  >
                    {shortId(edge.upstream_run_id)}
                  </button>{' '}
                  <span className="mlops-muted">{edge.kind}</span> <span>{edge.via}</span>
                </li>
              ))}
            </ul>
          ) : (
            <div className="mlops-muted">No upstream runs.</div>
          )}
        </Section>
      </div>

      <Section title="Artifacts" count={run.artifacts.length} testId="mlops-detail-artifacts">
        {figures.length > 0 && (
          <div className="mlops-figures">
            {figures.map(a => (
              <ArtifactImage key={a.name} runId={run.run_id} name={a.name} path={path} />
            ))}
          </div>
        )}
        {others.length > 0 && (
          <table className="mlops-artifacts">
            <thead>
              <tr>
                <th>Name</th>
                <th>Kind</th>
                <th className="mlops-num">Size</th>
                <th>Type</th>
              </tr>
            </thead>
            <tbody>
              {others.map(a => (
                <tr key={`${a.kind}:${a.name}`}>
                  <td>
                    <button
                      className="mlops-link"
                      title={`Download ${a.name}`}
                      onClick={() => void downloadArtifact(run.run_id, a.name, path)}
                    >
                      {a.name}
                    </button>
                  </td>
                  <td>{a.kind}</td>
                  <td className="mlops-num">{formatBytes(a.size)}</td>
                  <td className="mlops-muted">{a.mime ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {run.artifacts.length === 0 && <div className="mlops-muted">No artifacts.</div>}
      </Section>

      {env && (
        <Section title="Environment" testId="mlops-detail-environment">
          <KeyValueTable
            rows={[
              ['python', env.python ?? ''],
              ['platform', env.platform ?? ''],
              ['host', env.host ?? ''],
              ['pid', env.pid === null || env.pid === undefined ? '' : String(env.pid)],
              [
                'git commit',
                env.git_commit ? `${env.git_commit}${env.git_dirty ? ' (dirty)' : ''}` : ''
              ]
            ]}
          />
          {packages.length > 0 && (
            <details className="mlops-packages">
              <summary>{packages.length} packages</summary>
              <KeyValueTable rows={packages.map(([name, version]) => [name, version])} />
            </details>
          )}
        </Section>
      )}

      {run.code !== null && run.code !== undefined && (
        <Section title="Code" testId="mlops-detail-code">
          <pre className="mlops-code">{run.code}</pre>
        </Section>
      )}
    </div>
  );
}

/** The main-area widget of one run. */
export class RunDetailWidget extends ReactWidget {
  constructor(
    readonly runId: string,
    readonly path: string,
    private _model: MlopsModel
  ) {
    super();
    this.addClass('mlops-detail-widget');
  }

  render(): JSX.Element {
    return <RunDetailView runId={this.runId} path={this.path} model={this._model} />;
  }
}

export function createRunDetail(
  runId: string,
  path: string,
  model: MlopsModel
): MainAreaWidget<RunDetailWidget> {
  const content = new RunDetailWidget(runId, path, model);
  const widget = new MainAreaWidget({ content });
  widget.id = `mlops-run-${runId}`;
  widget.title.label = `Run ${shortId(runId)}`;
  widget.title.caption = `Run ${runId}`;
  widget.title.icon = mlopsIcon;
  widget.title.closable = true;
  return widget;
}
