/** The model registry's small pieces: a version's stage as a badge, an alias as a chip. */
import React from 'react';

import { ModelStage } from './api';

/** The order stages are listed in, most live first. */
export const STAGE_ORDER: ModelStage[] = ['Production', 'Staging', 'Archived', 'None'];

export function StageBadge(props: { stage: ModelStage; version?: number }): JSX.Element {
  const label = props.stage === 'None' ? 'no stage' : props.stage;
  return (
    <span
      className={`mlops-model-stage mlops-model-stage-${props.stage.toLowerCase()}`}
      data-testid="mlops-model-stage-badge"
      data-stage={props.stage}
      title={
        props.version === undefined
          ? `Stage: ${props.stage}`
          : `v${props.version} is in ${props.stage}`
      }
    >
      {label}
      {props.version !== undefined && (
        <span className="mlops-model-stage-version">v{props.version}</span>
      )}
    </span>
  );
}

export function AliasChip(props: {
  alias: string;
  version?: number;
  onRemove?: () => void;
  disabled?: boolean;
}): JSX.Element {
  return (
    <span
      className="mlops-model-alias"
      data-testid="mlops-model-alias-chip"
      data-alias={props.alias}
      title={
        props.version === undefined
          ? `models:/…@${props.alias}`
          : `@${props.alias} names v${props.version}`
      }
    >
      <span className="mlops-model-alias-name">@{props.alias}</span>
      {props.version !== undefined && (
        <span className="mlops-model-alias-version">v{props.version}</span>
      )}
      {props.onRemove && (
        <button
          className="mlops-model-alias-remove"
          data-testid="mlops-model-alias-remove"
          aria-label={`Remove alias ${props.alias}`}
          title={`Remove @${props.alias}`}
          disabled={props.disabled}
          onClick={event => {
            event.stopPropagation();
            props.onRemove?.();
          }}
        >
          ×
        </button>
      )}
    </span>
  );
}
