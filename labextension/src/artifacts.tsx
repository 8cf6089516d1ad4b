/**
 * Artifacts fetched through the authenticated API: figures as images (object
 * URLs of the fetched bytes) and the others as downloads.
 */
import React, { useEffect, useState } from 'react';

import { getArtifact } from './api';

export function ArtifactImage(props: {
  runId: string;
  name: string;
  path: string;
  testId?: string;
}): JSX.Element {
  const { runId, name, path } = props;
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let objectUrl: string | null = null;
    let cancelled = false;
    setUrl(null);
    setError(null);
    getArtifact(runId, name, path).then(
      blob => {
        if (cancelled) {
          return;
        }
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      },
      reason => {
        if (!cancelled) {
          setError(reason instanceof Error ? reason.message : String(reason));
        }
      }
    );
    return () => {
      cancelled = true;
      if (objectUrl) {
        URL.revokeObjectURL(objectUrl);
      }
    };
  }, [runId, name, path]);

  if (error) {
    return (
      <div className="mlops-figure mlops-figure-error" title={error}>
        Cannot load {name}: {error}
      </div>
    );
  }
  return (
    <div className="mlops-figure" data-testid={props.testId ?? 'mlops-figure'} data-name={name}>
      {url ? (
        <img src={url} alt={`${name} of run ${runId}`} />
      ) : (
        <div className="mlops-figure-loading">Loading {name}…</div>
      )}
    </div>
  );
}

/** Saves an artifact's bytes under its name. */
export async function downloadArtifact(runId: string, name: string, path: string): Promise<void> {
  const blob = await getArtifact(runId, name, path);
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name.split('/').pop() || name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}
