/**
 * A model's history, newest first: each registration, alias move, stage transition and tag, with
 * who did it, when, and what changed from → to.
 */
import React, { useState } from 'react';

import { ModelHistoryEntry } from './api';
import { formatFullTime, formatTime, shortId } from './format';

const SHOWN = 20;

interface IChange {
  label: string;
  subject: string;
  /** `from → to`, or a phrase. */
  change: string;
}

/** What an entry says, in the words of the CLI's `models history`. */
export function describeChange(entry: ModelHistoryEntry): IChange {
  const version = entry.version === null ? '' : `v${entry.version}`;
  const arrow = (from: string | null, to: string | null) => `${from ?? '—'} → ${to ?? '—'}`;
  switch (entry.action) {
    case 'registered': {
      const run = /^runs:\/([0-9a-fA-F]+)\//.exec(entry.new ?? '');
      return {
        label: 'registered',
        subject: version,
        change: run ? `from run ${shortId(run[1])}` : ''
      };
    }
    case 'alias':
      return {
        label: 'alias',
        subject: entry.what ?? '',
        change: entry.old === null ? `→ ${entry.new}` : arrow(entry.old, entry.new)
      };
    case 'alias removed':
      return { label: 'alias removed', subject: entry.what ?? '', change: arrow(entry.old, null) };
    case 'stage':
      return { label: 'stage', subject: version, change: arrow(entry.old, entry.new) };
    case 'tag':
      return {
        label: 'tag',
        subject: [version, entry.what].filter(Boolean).join(' '),
        change: `= ${entry.new ?? ''}`
      };
    default:
      return {
        label: entry.action,
        subject: entry.what ?? version,
        change: arrow(entry.old, entry.new)
      };
  }
}

export function ModelHistory(props: { history: ModelHistoryEntry[]; now: number }): JSX.Element {
  const [all, setAll] = useState(false);
  const { history, now } = props;
  const shown = all ? history : history.slice(0, SHOWN);
  if (!history.length) {
    return <div className="mlops-muted">No changes yet.</div>;
  }
  return (
    <>
      <ol className="mlops-model-history" data-testid="mlops-model-history">
        {shown.map((entry, i) => {
          const { label, subject, change } = describeChange(entry);
          return (
            <li
              key={`${entry.time}-${history.length - i}`}
              className="mlops-model-history-entry"
              data-testid="mlops-model-history-entry"
              data-action={entry.action}
            >
              <div className="mlops-model-history-what">
                <span
                  className={`mlops-model-history-label mlops-model-history-${label.replace(' ', '-')}`}
                >
                  {label}
                </span>{' '}
                <span className="mlops-model-history-subject">{subject}</span>{' '}
                <span className="mlops-model-history-change">{change}</span>
              </div>
              <div className="mlops-muted mlops-model-history-who">
                <span title="Who">{entry.user}</span> ·{' '}
                <span title={formatFullTime(entry.time)}>{formatTime(entry.time, now)}</span>
              </div>
            </li>
          );
        })}
      </ol>
      {history.length > SHOWN && (
        <button className="mlops-button mlops-button-quiet" onClick={() => setAll(a => !a)}>
          {all ? 'Show the newest' : `Show all ${history.length}`}
        </button>
      )}
    </>
  );
}
