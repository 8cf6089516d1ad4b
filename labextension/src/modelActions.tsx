/**
 * What a person changes on a model from the sidebar: point an alias at a version, move a version
 * to a stage (archiving the versions already there, if asked). Each answers with the updated
 * model; a refusal shows the server's one-line message.
 */
import React, { useEffect, useState } from 'react';

import { ModelDetail, ModelStage } from './api';

export interface IModelActions {
  setAlias(alias: string, version: number): void;
  setStage(version: number, stage: ModelStage, archiveExisting: boolean): void;
}

const TARGET_STAGES: ModelStage[] = ['Staging', 'Production', 'Archived', 'None'];

export function ModelActions(props: {
  model: ModelDetail;
  version: number | null;
  onVersion: (version: number) => void;
  actions: IModelActions;
  busy: boolean;
}): JSX.Element {
  const { model, version, busy, actions } = props;
  const [alias, setAlias] = useState('');
  const [stage, setStage] = useState<ModelStage>('Production');
  const [archive, setArchive] = useState(false);
  const canArchive = stage === 'Staging' || stage === 'Production';
  useEffect(() => {
    if (!canArchive) {
      setArchive(false);
    }
  }, [canArchive]);
  const current = model.versions.find(v => v.version === version);
  const submitAlias = () => {
    if (version !== null && alias.trim()) {
      actions.setAlias(alias.trim(), version);
    }
  };
  const listId = `mlops-aliases-${model.name.replace(/[^\w-]/g, '_')}`;
  return (
    <div className="mlops-model-actions" data-testid="mlops-model-actions">
      <label className="mlops-model-field">
        <span className="mlops-model-field-label">Version</span>
        <select
          className="mlops-select"
          data-testid="mlops-model-version-select"
          value={version ?? ''}
          onChange={e => props.onVersion(Number(e.target.value))}
        >
          {model.versions.map(v => (
            <option key={v.version} value={v.version}>
              v{v.version}
              {v.stage !== 'None' ? ` · ${v.stage}` : ''}
            </option>
          ))}
        </select>
      </label>

      <div className="mlops-model-control" data-testid="mlops-model-alias-control">
        <span className="mlops-model-field-label">Set alias</span>
        <div className="mlops-filter-row">
          <input
            className="mlops-filter-input"
            data-testid="mlops-model-alias-input"
            aria-label="Alias name"
            placeholder="alias name"
            list={listId}
            spellCheck={false}
            value={alias}
            onChange={e => setAlias(e.target.value)}
            onKeyDown={e => {
              if (e.key === 'Enter') {
                submitAlias();
              }
            }}
          />
          <datalist id={listId}>
            {Object.keys(model.aliases).map(a => (
              <option key={a} value={a} />
            ))}
          </datalist>
          <button
            className="mlops-button mlops-button-primary"
            data-testid="mlops-model-alias-set"
            disabled={busy || version === null || !alias.trim()}
            title={
              version === null
                ? 'Choose a version'
                : `Point @${alias.trim() || 'ALIAS'} at v${version} (moved from where it was)`
            }
            onClick={submitAlias}
          >
            Set
          </button>
        </div>
      </div>

      <div className="mlops-model-control" data-testid="mlops-model-stage-control">
        <span className="mlops-model-field-label">Stage</span>
        <div className="mlops-filter-row">
          <select
            className="mlops-select"
            data-testid="mlops-model-stage-select"
            aria-label="Stage"
            value={stage}
            onChange={e => setStage(e.target.value as ModelStage)}
          >
            {TARGET_STAGES.map(s => (
              <option key={s} value={s}>
                {s === 'None' ? 'None (no stage)' : s}
              </option>
            ))}
          </select>
          <button
            className="mlops-button mlops-button-primary"
            data-testid="mlops-model-stage-set"
            disabled={busy || version === null || current?.stage === stage}
            title={
              current?.stage === stage
                ? `v${version} is in ${stage} already`
                : `Move v${version} to ${stage}`
            }
            onClick={() => version !== null && actions.setStage(version, stage, archive)}
          >
            {stage === 'Staging' || stage === 'Production' ? 'Promote' : 'Move'}
          </button>
        </div>
        <label
          className={`mlops-toggle mlops-model-archive${canArchive ? '' : ' mlops-model-disabled'}`}
          title={`Move the versions now in ${canArchive ? stage : 'that stage'} to Archived`}
        >
          <input
            type="checkbox"
            data-testid="mlops-model-archive-existing"
            checked={archive}
            disabled={!canArchive}
            onChange={e => setArchive(e.target.checked)}
          />
          Archive existing {canArchive ? stage : ''} versions
        </label>
      </div>
    </div>
  );
}
