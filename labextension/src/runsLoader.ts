/**
 * Pages of runs fetched lazily by limit/offset for the virtualized table.
 *
 * A query change drops every page; a refresh (the store's version changed)
 * keeps the pages on screen until their fresh copies arrive, and forgets the
 * others, so nothing flickers and nothing stale is shown when scrolled to.
 */
import { APIError, Run, RunsPage, listExperiments, listRuns } from './api';

export const PAGE_SIZE = 200;

/** What the rows are: experiments (a run with its whole lineage) or stage runs. */
export type RowKind = 'experiments' | 'runs';

export interface IRunsQuery {
  kind: RowKind;
  path: string;
  experiment: string;
  stage: string;
  status: string;
  filter: string;
  sort: string;
}

export type RunsMeta = Omit<RunsPage, 'runs'> & { sinks?: string[] };

export class RunsLoader {
  constructor(private _onChange: () => void) {}

  get meta(): RunsMeta | null {
    return this._meta;
  }

  /** Total rows, or null before the first page of the query arrived. */
  get total(): number | null {
    return this._total;
  }

  /** A general error (no project, server away, ...). */
  get error(): string | null {
    return this._error;
  }

  /** The server's message about the filter expression, if it rejected it. */
  get filterError(): string | null {
    return this._filterError;
  }

  get loading(): boolean {
    return this._pending.size > 0;
  }

  /** A counter that changes whenever loaded rows change. */
  get dataVersion(): number {
    return this._dataVersion;
  }

  /** A counter that changes whenever the query changes (for scroll resets). */
  get queryGeneration(): number {
    return this._queryGeneration;
  }

  row(index: number): Run | undefined {
    const page = this._pages.get(Math.floor(index / PAGE_SIZE));
    return page ? page[index % PAGE_SIZE] : undefined;
  }

  /** Every run currently loaded, in row order. */
  loadedRuns(): Run[] {
    const keys = [...this._pages.keys()].sort((a, b) => a - b);
    const runs: Run[] = [];
    for (const key of keys) {
      runs.push(...(this._pages.get(key) as Run[]));
    }
    return runs;
  }

  setQuery(query: IRunsQuery): void {
    const key = JSON.stringify(query);
    if (key === this._queryKey) {
      return;
    }
    this._queryKey = key;
    this._query = query;
    this._generation++;
    this._queryGeneration++;
    this._pages.clear();
    this._dataVersion++;
    this._stale.clear();
    this._pending.clear();
    this._total = null;
    this._error = null;
    this._filterError = null;
    this._range = [0, 0];
    this._fetch(0);
    this._onChange();
  }

  /** The store changed: fetch the rows on screen again. */
  refresh(): void {
    if (!this._query) {
      return;
    }
    this._generation++;
    this._pending.clear();
    for (const key of this._pages.keys()) {
      this._stale.add(key);
    }
    const [first, last] = this._range;
    this._ensurePages(first, last, true);
  }

  /** Makes sure rows [first, last] are loaded (or loading). */
  ensureRange(first: number, last: number): void {
    this._range = [first, last];
    this._ensurePages(first, last, false);
  }

  private _ensurePages(first: number, last: number, always: boolean): void {
    const total = this._total;
    const lastPage =
      total === null
        ? 0
        : Math.max(0, Math.floor(Math.max(0, Math.min(last, total - 1)) / PAGE_SIZE));
    const firstPage = Math.min(Math.floor(Math.max(0, first) / PAGE_SIZE), lastPage);
    let fetched = false;
    for (let page = firstPage; page <= lastPage; page++) {
      if (always || !this._pages.has(page) || this._stale.has(page)) {
        if (!this._pending.has(page)) {
          this._fetch(page);
          fetched = true;
        }
      }
    }
    if (always && !fetched && total === 0) {
      this._fetch(0);
    }
  }

  private _fetch(page: number): void {
    const query = this._query;
    if (!query) {
      return;
    }
    const generation = this._generation;
    this._pending.add(page);
    const list = query.kind === 'experiments' ? listExperiments : listRuns;
    list({
      path: query.path,
      experiment: query.experiment,
      stage: query.stage,
      status: query.status,
      filter: query.filter,
      sort: query.sort,
      limit: PAGE_SIZE,
      offset: page * PAGE_SIZE
    }).then(
      result => {
        if (generation !== this._generation) {
          return;
        }
        this._pending.delete(page);
        const { runs, ...meta } = result;
        this._meta = meta;
        this._error = null;
        this._filterError = null;
        if (this._total !== result.total) {
          this._total = result.total;
          const pages = Math.ceil(result.total / PAGE_SIZE);
          for (const key of [...this._pages.keys()]) {
            if (key >= pages) {
              this._pages.delete(key);
            }
          }
        }
        this._pages.set(page, runs);
        this._dataVersion++;
        this._stale.delete(page);
        if (this._pending.size === 0) {
          // Pages that did not come back fresh are forgotten: fetched again when seen.
          for (const key of this._stale) {
            this._pages.delete(key);
          }
          this._stale.clear();
        }
        // The total may have grown past what the first answer allowed for.
        const [first, last] = this._range;
        this._ensurePages(first, last, false);
        this._onChange();
      },
      (error: unknown) => {
        if (generation !== this._generation) {
          return;
        }
        this._pending.delete(page);
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof APIError && error.status === 400 && query.filter.trim()) {
          this._filterError = message;
          this._error = null;
        } else {
          this._error = message;
        }
        if (this._total === null) {
          this._total = 0;
        }
        this._onChange();
      }
    );
  }

  private _query: IRunsQuery | null = null;
  private _queryKey = '';
  private _generation = 0;
  private _queryGeneration = 0;
  private _dataVersion = 0;
  private _pages = new Map<number, Run[]>();
  private _stale = new Set<number>();
  private _pending = new Set<number>();
  private _meta: RunsMeta | null = null;
  private _total: number | null = null;
  private _error: string | null = null;
  private _filterError: string | null = null;
  private _range: [number, number] = [0, 0];
}
