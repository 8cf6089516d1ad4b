/**
 * The Models tab: the project's registered models, each with its aliases and the versions in a
 * stage; click one for its versions, aliases, stages and history (`ModelDetailView`). It follows
 * the store as models are registered, aliased or promoted anywhere (a kernel, the CLI).
 */
import React, { useEffect, useRef, useState } from 'react';

import { ModelSummary, listModels } from './api';
import { formatFullTime, formatTime } from './format';
import { AliasChip, STAGE_ORDER, StageBadge } from './modelBadges';
import { ModelDetailView } from './modelDetail';
import { MlopsModel, useLiveData, useSignal } from './model';

function ModelItem(props: { model: ModelSummary; onOpen: () => void }): JSX.Element {
  const { model } = props;
  const aliases = Object.entries(model.aliases).sort(([a], [b]) => a.localeCompare(b));
  const stages = STAGE_ORDER.filter(s => s !== 'None' && model.stages[s] !== undefined);
  return (
    <li
      className="mlops-model-item"
      data-testid="mlops-model-item"
      data-model={model.name}
      tabIndex={0}
      role="button"
      title={`Open ${model.name}`}
      onClick={props.onOpen}
      onKeyDown={event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          props.onOpen();
        }
      }}
    >
      <div className="mlops-model-item-head">
        <span className="mlops-model-name">{model.name}</span>
        <span className="mlops-muted mlops-model-count">
          {model.version_count} version{model.version_count === 1 ? '' : 's'}
        </span>
      </div>
      {(aliases.length > 0 || stages.length > 0) && (
        <div className="mlops-model-chips">
          {stages.map(s => (
            <StageBadge key={s} stage={s} version={model.stages[s]} />
          ))}
          {aliases.map(([alias, version]) => (
            <AliasChip key={alias} alias={alias} version={version} />
          ))}
        </div>
      )}
      <div className="mlops-muted mlops-model-updated" title={formatFullTime(model.updated_time)}>
        updated {formatTime(model.updated_time)}
      </div>
    </li>
  );
}

export function ModelsView({ model }: { model: MlopsModel }): JSX.Element {
  useSignal(model.pathChanged);
  const path = model.path;
  const [selected, setSelected] = useState<string | null>(null);
  const { data, error } = useLiveData(model, () => listModels(path), [path]);

  // Another project: its models are not ours.
  const lastPath = useRef(path);
  useEffect(() => {
    if (lastPath.current !== path) {
      lastPath.current = path;
      setSelected(null);
    }
  }, [path]);

  if (selected !== null) {
    return (
      <div className="mlops-models" data-testid="mlops-models">
        <ModelDetailView
          key={`${path}\n${selected}`}
          mlops={model}
          name={selected}
          path={path}
          onBack={() => setSelected(null)}
        />
      </div>
    );
  }
  const models = data?.models ?? [];
  return (
    <div className="mlops-models" data-testid="mlops-models">
      {error && (
        <div className="mlops-error" role="alert">
          {error}
        </div>
      )}
      {!data && !error && <div className="mlops-loading">Loading models…</div>}
      {data && models.length === 0 && (
        <div className="mlops-empty" data-testid="mlops-models-empty">
          <div className="mlops-empty-title">No registered models yet</div>
          <div className="mlops-empty-hint">
            In a stage, <code>mj.log_model(model, registered_model_name="NAME")</code> registers a
            version of model NAME; it shows up here.
          </div>
        </div>
      )}
      {models.length > 0 && (
        <>
          <div className="mlops-models-bar">
            <span className="mlops-count" data-testid="mlops-model-count">
              {models.length} model{models.length === 1 ? '' : 's'}
            </span>
          </div>
          <ul className="mlops-model-list">
            {models.map(m => (
              <ModelItem key={m.name} model={m} onOpen={() => setSelected(m.name)} />
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
