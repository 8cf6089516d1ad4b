/**
 * Shared state of the extension: which project is shown (the path of the
 * active notebook) and the store's version, polled from `GET state`.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { useEffect, useState } from 'react';

import { APIError, getState } from './api';

/** How often the store's version is polled (ms). */
export const POLL_INTERVAL = 1000;

export interface IMlopsActions {
  openRun(runId: string, path: string): void;
  /** Side by side: runs, or experiments (each run with its whole lineage). */
  compare(runIds: string[], path: string, kind?: 'experiments' | 'runs'): void;
  /** The experiment charts in the main area (over `selected`, or every experiment the query finds). */
  openCharts(query: Record<string, string>, selected: string[]): void;
  /** Scrolls the active notebook to a cell; returns false if not found. */
  revealCell(notebookPath: string | null, cellId: string | null, cellIndex?: number): boolean;
}

export class MlopsModel {
  /**
   * @param isWatched - whether any view needs the version now; the poll
   *   stands by while none does (or while the page is hidden).
   */
  constructor(
    readonly actions: IMlopsActions,
    isWatched: () => boolean = () => true
  ) {
    this._poll = new Poll({
      auto: true,
      factory: () => this._tick(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 30 * 1000 },
      name: 'mlops-jupyter:state',
      standby: () => document.hidden || !isWatched()
    });
  }

  /** Notebook or folder path (relative to the server root) selecting the project. */
  get path(): string {
    return this._path;
  }
  set path(value: string) {
    if (value === this._path) {
      return;
    }
    this._path = value;
    this._version = null;
    this._pathChanged.emit(value);
    void this._poll.refresh();
  }

  get pathChanged(): ISignal<this, string> {
    return this._pathChanged;
  }

  /** The last version seen, or null before the first answer. */
  get version(): string | null {
    return this._version;
  }

  /** Emitted when the store's version changes (a run created, ended, ...). */
  get versionChanged(): ISignal<this, string> {
    return this._versionChanged;
  }

  /** Polls now rather than at the next tick. */
  refresh(): void {
    void this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    const path = this._path;
    let version: string;
    try {
      version = (await getState(path)).version;
    } catch (error) {
      if (error instanceof APIError && error.status >= 400 && error.status < 500) {
        // No project (yet) is a state too: its first run must still show up fast.
        version = `!${error.status}`;
      } else {
        throw error; // the server is away: the poll backs off
      }
    }
    if (path !== this._path) {
      return;
    }
    if (version !== this._version) {
      const first = this._version === null;
      this._version = version;
      if (!first) {
        this._versionChanged.emit(version);
      }
    }
  }

  private _path = '';
  private _version: string | null = null;
  private _poll: Poll;
  private _pathChanged = new Signal<this, string>(this);
  private _versionChanged = new Signal<this, string>(this);
}

/** Re-renders when `signal` fires; returns a counter that changes each time. */
export function useSignal<T>(signal: ISignal<T, any> | null | undefined): number {
  const [count, setCount] = useState(0);
  useEffect(() => {
    if (!signal) {
      return;
    }
    const slot = () => setCount(c => c + 1);
    signal.connect(slot);
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
  return count;
}

/**
 * Data from `load`, fetched again whenever the store's version changes. A result that arrives
 * after the view is gone, or after its inputs changed, is dropped; an error keeps the last data.
 */
export function useLiveData<T>(
  model: MlopsModel,
  load: () => Promise<T>,
  deps: ReadonlyArray<unknown>
): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    const fetch = () => {
      load().then(
        value => {
          if (!cancelled) {
            setData(value);
            setError(null);
          }
        },
        reason => {
          if (!cancelled) {
            setError(reason instanceof Error ? reason.message : String(reason));
          }
        }
      );
    };
    fetch();
    model.versionChanged.connect(fetch);
    return () => {
      cancelled = true;
      model.versionChanged.disconnect(fetch);
    };
  }, [model, ...deps]);
  return { data, error };
}
