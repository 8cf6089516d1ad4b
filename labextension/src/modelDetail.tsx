/**
 * One registered model in the sidebar: its versions (stage, aliases, the key metrics of the run
 * that made each, when it was registered, a link to that run), the alias and stage controls, and
 * the history. Fetched again whenever the store changes; an action shows its answer at once.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';

import {
  ModelDetail,
  ModelStage,
  ModelVersion,
  deleteModelAlias,
  getModel,
  setModelAlias,
  setModelStage
} from './api';
import { formatFullTime, formatMetric, formatTime, shortId } from './format';
import { IModelActions, ModelActions } from './modelActions';
import { AliasChip, StageBadge } from './modelBadges';
import { ModelHistory } from './modelHistory';
import { MlopsModel } from './model';

/** Metrics shown on a version's card; the others are in its tooltip. */
const KEY_METRICS = 4;

function message(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/**
 * The model, fetched on every change of the store; `put` shows an answer at once, and drops any
 * fetch still in flight (it was asked before the change).
 */
function useModelDetail(mlops: MlopsModel, name: string, path: string) {
  const [data, setData] = useState<ModelDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);
  const load = useCallback(() => {
    const mine = ++generation.current;
    getModel(name, path).then(
      value => {
        if (mine === generation.current) {
          setData(value);
          setError(null);
        }
      },
      reason => {
        if (mine === generation.current) {
          setError(message(reason));
        }
      }
    );
  }, [name, path]);
  useEffect(() => {
    load();
    mlops.versionChanged.connect(load);
    return () => {
      generation.current++;
      mlops.versionChanged.disconnect(load);
    };
  }, [mlops, load]);
  const put = useCallback((value: ModelDetail) => {
    generation.current++;
    setData(value);
    setError(null);
  }, []);
  return { data, error, put };
}

function VersionCard(props: {
  version: ModelVersion;
  chosen: boolean;
  busy: boolean;
  now: number;
  onChoose: () => void;
  onRemoveAlias: (alias: string) => void;
  onOpenRun: () => void;
}): JSX.Element {
  const { version: v, now } = props;
  const keys = Object.keys(v.metrics).sort();
  const shown = keys.slice(0, KEY_METRICS);
  const all = keys.map(k => `${k} = ${formatMetric(v.metrics[k])}`).join('\n');
  return (
    <li
      className={`mlops-model-version${props.chosen ? ' mlops-model-version-chosen' : ''}`}
      data-testid="mlops-model-version"
      data-version={v.version}
      data-stage={v.stage}
      data-chosen={props.chosen}
      onClick={props.onChoose}
      title={`v${v.version}: ${v.uri} — click to act on this version`}
    >
      <div className="mlops-model-version-head">
        <span className="mlops-model-version-number">v{v.version}</span>
        <StageBadge stage={v.stage} />
        {v.aliases.map(alias => (
          <AliasChip
            key={alias}
            alias={alias}
            disabled={props.busy}
            onRemove={() => props.onRemoveAlias(alias)}
          />
        ))}
      </div>
      {shown.length > 0 ? (
        <dl className="mlops-model-metrics" data-testid="mlops-model-metrics" title={all}>
          {shown.map(k => (
            <div key={k} className="mlops-model-metric">
              <dt title={k}>{k}</dt>
              <dd className="mlops-num">{formatMetric(v.metrics[k])}</dd>
            </div>
          ))}
          {keys.length > shown.length && (
            <div className="mlops-model-metric mlops-muted">+{keys.length - shown.length} more</div>
          )}
        </dl>
      ) : (
        <div className="mlops-muted mlops-model-metrics-none">Its run logged no metrics.</div>
      )}
      <div className="mlops-model-version-foot">
        <button
          className="mlops-link mlops-mono"
          data-testid="mlops-model-version-run"
          title={`Open run ${v.run_id}`}
          onClick={event => {
            event.stopPropagation();
            props.onOpenRun();
          }}
        >
          run {shortId(v.run_id)}
        </button>
        {v.run?.stage && <span className="mlops-muted">{v.run.stage}</span>}
        <span className="mlops-spacer" />
        <span className="mlops-muted" title={`Registered ${formatFullTime(v.created_time)}`}>
          {formatTime(v.created_time, now)}
        </span>
      </div>
    </li>
  );
}

export function ModelDetailView(props: {
  mlops: MlopsModel;
  name: string;
  path: string;
  onBack: () => void;
}): JSX.Element {
  const { mlops, name, path } = props;
  const { data, error, put } = useModelDetail(mlops, name, path);
  const [version, setVersion] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());

  // The version acted on: the one clicked, else the newest; one that is gone is forgotten.
  useEffect(() => {
    if (data && (version === null || !data.versions.some(v => v.version === version))) {
      setVersion(data.versions[0]?.version ?? null);
    }
    setNow(Date.now());
  }, [data]);
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 15000);
    return () => window.clearInterval(timer);
  }, []);

  const act = (request: () => Promise<ModelDetail>, done: string) => {
    setBusy(true);
    setActionError(null);
    setNotice(null);
    request().then(
      value => {
        put(value);
        setNotice(done);
        setBusy(false);
        mlops.refresh(); // the other views (the list) follow at once
      },
      reason => {
        setActionError(message(reason));
        setBusy(false);
      }
    );
  };
  const actions: IModelActions = {
    setAlias: (alias, v) =>
      act(() => setModelAlias(name, alias, v, path), `@${alias} now names v${v}`),
    setStage: (v, stage: ModelStage, archive) =>
      act(
        () => setModelStage(name, v, stage, archive, path),
        `v${v} is in ${stage}${archive ? '; the versions there before are archived' : ''}`
      )
  };
  const removeAlias = (alias: string) =>
    act(() => deleteModelAlias(name, alias, path), `@${alias} removed`);

  return (
    <div className="mlops-model-detail" data-testid="mlops-model-detail" data-model={name}>
      <div className="mlops-model-detail-head">
        <button
          className="mlops-button mlops-button-quiet mlops-model-back"
          data-testid="mlops-model-back"
          title="All models"
          onClick={props.onBack}
        >
          ‹ Models
        </button>
        <span className="mlops-model-name mlops-model-detail-name" title={name}>
          {name}
        </span>
      </div>
      {error && (
        <div className="mlops-error" role="alert">
          {error}
        </div>
      )}
      {!data && !error && <div className="mlops-loading">Loading {name}…</div>}
      {data && (
        <div className="mlops-model-detail-body">
          <div className="mlops-muted mlops-model-summary">
            {data.versions.length} version{data.versions.length === 1 ? '' : 's'} · updated{' '}
            <span title={formatFullTime(data.updated_time)}>
              {formatTime(data.updated_time, now)}
            </span>
          </div>
          {data.description && <div className="mlops-model-description">{data.description}</div>}
          {Object.keys(data.tags).length > 0 && (
            <div className="mlops-model-tags">
              {Object.entries(data.tags).map(([k, value]) => (
                <span
                  key={k}
                  className="mlops-model-tag"
                  data-testid="mlops-model-tag"
                  title={`${k} = ${value}`}
                >
                  {k}={value}
                </span>
              ))}
            </div>
          )}

          <section className="mlops-model-section">
            <h3 className="mlops-section-title">
              Versions<span className="mlops-section-count">{data.versions.length}</span>
            </h3>
            <ul className="mlops-model-versions">
              {data.versions.map(v => (
                <VersionCard
                  key={v.version}
                  version={v}
                  chosen={v.version === version}
                  busy={busy}
                  now={now}
                  onChoose={() => setVersion(v.version)}
                  onRemoveAlias={removeAlias}
                  onOpenRun={() => mlops.actions.openRun(v.run_id, path)}
                />
              ))}
            </ul>
          </section>

          <section className="mlops-model-section">
            <h3 className="mlops-section-title">Alias and stage</h3>
            <ModelActions
              model={data}
              version={version}
              onVersion={setVersion}
              actions={actions}
              busy={busy}
            />
            {actionError && (
              <div className="mlops-error" data-testid="mlops-model-action-error" role="alert">
                {actionError}
              </div>
            )}
            {notice && !actionError && (
              <div className="mlops-model-notice" data-testid="mlops-model-notice" role="status">
                {notice}
              </div>
            )}
          </section>

          <section className="mlops-model-section">
            <h3 className="mlops-section-title">
              History<span className="mlops-section-count">{data.history.length}</span>
            </h3>
            <ModelHistory history={data.history} now={now} />
          </section>
        </div>
      )}
    </div>
  );
}
