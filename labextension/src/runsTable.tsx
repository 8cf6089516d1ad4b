/**
 * The Runs tab: filters, a virtualized sortable table (rows fetched page by page
 * as they scroll into view), selection and Compare. Its rows are experiments by
 * default (each sink stage's run with every param and metric of its lineage,
 * with charts of them), or the stage runs one by one.
 */
import React, { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';

import { Run } from './api';
import {
  classToken,
  formatDuration,
  formatFullTime,
  formatMetric,
  formatParam,
  formatTime,
  runDuration,
  shortId
} from './format';
import { ChartsPanel } from './expView';
import { MlopsModel, useSignal } from './model';
import { IRunsQuery, RowKind, RunsLoader } from './runsLoader';

const STATUSES = ['running', 'finished', 'failed', 'killed'];

/** A filter select: "any" first, then the choices (the current value kept even if it is gone). */
function ChoiceSelect(props: {
  testId: string;
  label: string;
  anyLabel: string;
  choices: string[];
  value: string;
  onChange: (value: string) => void;
  narrow?: boolean;
}): JSX.Element {
  const { choices, value } = props;
  return (
    <select
      className={`mlops-select${props.narrow ? ' mlops-select-narrow' : ''}`}
      data-testid={props.testId}
      aria-label={props.label}
      value={value}
      onChange={e => props.onChange(e.target.value)}
    >
      <option value="">{props.anyLabel}</option>
      {choices.map(name => (
        <option key={name} value={name}>
          {name}
        </option>
      ))}
      {value && !choices.includes(value) && <option value={value}>{value}</option>}
    </select>
  );
}

export const ROW_HEIGHT = 26;
const OVERSCAN = 12;
const COLUMN_OVERSCAN_PX = 320;
const CHECK_WIDTH = 30;

interface IColumn {
  key: string;
  label: string;
  width: number;
  group: 'run' | 'params' | 'metrics';
  sortField: string;
  /** Right-aligned numbers. */
  numeric?: boolean;
  /** Stays in view when the table scrolls sideways (after the checkbox). */
  pinned?: boolean;
  render(run: Run, now: number): React.ReactNode;
  text(run: Run, now: number): string;
}

interface ISort {
  field: string;
  desc: boolean;
}

export function sortParam(sort: ISort): string {
  const field = sort.field.includes(' ') ? quoteField(sort.field) : sort.field;
  return `${field} ${sort.desc ? 'DESC' : 'ASC'}`;
}

/** `params.a b` → params.`a b` (the filter language's quoting of odd keys). */
function quoteField(field: string): string {
  const dot = field.indexOf('.');
  if (dot < 0) {
    return field;
  }
  return `${field.slice(0, dot)}.\`${field.slice(dot + 1).replace(/`/g, '``')}\``;
}

export function StatusBadge(props: { status: string; compact?: boolean }): JSX.Element {
  const token = classToken(props.status);
  return (
    <span
      className={`mlops-status mlops-status-${token}`}
      data-testid="mlops-status"
      data-status={props.status}
      title={props.status}
    >
      <span className="mlops-status-dot" />
      {!props.compact && <span className="mlops-status-label">{props.status}</span>}
    </span>
  );
}

/**
 * The run's own columns, in two parts: before the params and metrics, and after them. Experiments
 * put their params and metrics first (a status dot beside the id): a narrow sidebar shows them.
 */
function baseColumns(showExperiment: boolean, kind: RowKind): [IColumn[], IColumn[]] {
  const compact = kind === 'experiments';
  const lead: IColumn[] = [
    {
      key: 'run_id',
      label: 'Run',
      width: 80,
      group: 'run',
      sortField: 'run_id',
      pinned: true,
      render: run => <span className="mlops-mono">{shortId(run.run_id)}</span>,
      text: run => run.run_id
    },
    {
      key: 'status',
      label: compact ? '' : 'Status',
      width: compact ? 26 : 86,
      group: 'run',
      sortField: 'status',
      render: run => <StatusBadge status={run.status} compact={compact} />,
      text: run => run.status
    }
  ];
  const columns: IColumn[] = compact ? [] : lead;
  if (showExperiment) {
    columns.push({
      key: 'experiment',
      label: 'Experiment',
      width: 110,
      group: 'run',
      sortField: 'experiment',
      render: run => run.experiment,
      text: run => run.experiment
    });
  }
  columns.push(
    {
      key: 'stage',
      label: 'Stage',
      width: 100,
      group: 'run',
      sortField: 'stage',
      render: run => run.stage ?? <span className="mlops-muted">—</span>,
      text: run => run.stage ?? ''
    },
    {
      key: 'start_time',
      label: 'Start',
      width: 104,
      group: 'run',
      sortField: 'start_time',
      render: (run, now) => formatTime(run.start_time, now),
      text: run => formatFullTime(run.start_time)
    },
    {
      key: 'duration',
      label: 'Duration',
      width: 82,
      group: 'run',
      sortField: 'duration',
      numeric: true,
      render: run => formatDuration(runDuration(run)),
      text: run => formatDuration(runDuration(run))
    }
  );
  return compact ? [lead, columns] : [columns, []];
}

/** Wide enough for the key in the header (within bounds). */
function columnWidth(key: string): number {
  return Math.max(84, Math.min(170, Math.round(key.length * 7.4 + 26)));
}

function paramColumn(key: string): IColumn {
  return {
    key: `params.${key}`,
    label: key,
    width: columnWidth(key),
    group: 'params',
    sortField: `params.${key}`,
    render: run => formatParam(run.params[key]),
    text: run => formatParam(run.params[key])
  };
}

function metricColumn(key: string): IColumn {
  return {
    key: `metrics.${key}`,
    label: key,
    width: columnWidth(key),
    group: 'metrics',
    sortField: `metrics.${key}`,
    numeric: true,
    render: run => formatMetric(run.metrics[key]),
    text: run => formatMetric(run.metrics[key])
  };
}

/**
 * Keys with two or more distinct values among the runs that have them: a key
 * only some runs log (another stage's params) is not a difference by itself.
 */
function differingKeys(
  runs: Run[],
  keys: string[],
  get: (run: Run) => Record<string, unknown>
): Set<string> {
  const differ = new Set<string>();
  for (const key of keys) {
    let first: string | undefined;
    for (const run of runs) {
      const value = get(run)[key];
      if (value === undefined) {
        continue;
      }
      const text = JSON.stringify(value);
      if (first === undefined) {
        first = text;
      } else if (text !== first) {
        differ.add(key);
        break;
      }
    }
  }
  return differ;
}

interface IRunRowProps {
  run: Run;
  index: number;
  /** The columns drawn: `pinned` pinned ones, then (after `spacer` px) those in view. */
  columns: IColumn[];
  pinned: number;
  spacer: number;
  width: number;
  selected: boolean;
  now: number;
  onOpen(runId: string): void;
  onToggle(runId: string): void;
}

/** One row; re-rendered only when its run, selection or columns change. */
const RunRow = React.memo(function RunRow(props: IRunRowProps): JSX.Element {
  const { run, index, columns, pinned, spacer, width, selected, now, onOpen, onToggle } = props;
  return (
    <div
      role="row"
      className={`mlops-row${selected ? ' mlops-row-selected' : ''}`}
      style={{ top: index * ROW_HEIGHT, width }}
      data-testid="mlops-run-row"
      data-run-id={run.run_id}
      data-index={index}
      onClick={() => onOpen(run.run_id)}
      onKeyDown={event => {
        if (event.target !== event.currentTarget) {
          return;
        }
        if (event.key === 'Enter') {
          onOpen(run.run_id);
        } else if (event.key === ' ') {
          event.preventDefault();
          onToggle(run.run_id);
        }
      }}
      tabIndex={0}
      title={`Open run ${run.run_id}`}
    >
      <div
        className="mlops-cell mlops-cell-check mlops-pinned"
        style={{ width: CHECK_WIDTH, left: 0 }}
      >
        <input
          type="checkbox"
          data-testid="mlops-run-checkbox"
          aria-label={`Select run ${run.run_id}`}
          checked={selected}
          onClick={event => event.stopPropagation()}
          onChange={() => onToggle(run.run_id)}
        />
      </div>
      {columns.map((column, i) => (
        <React.Fragment key={column.key}>
          {i === pinned && spacer > 0 && (
            <div className="mlops-col-spacer" style={{ width: spacer }} />
          )}
          <div
            className={`mlops-cell mlops-cell-${column.group}${column.numeric ? ' mlops-num' : ''}${column.pinned ? ' mlops-pinned' : ''}`}
            style={{ width: column.width, left: column.pinned ? CHECK_WIDTH : undefined }}
            title={column.text(run, now)}
            data-column={column.key}
          >
            {column.render(run, now)}
          </div>
        </React.Fragment>
      ))}
    </div>
  );
});

export interface IRunsTableProps {
  model: MlopsModel;
}

export function RunsTable({ model }: IRunsTableProps): JSX.Element {
  useSignal(model.pathChanged);
  const path = model.path;

  const [, setTick] = useState(0);
  const loader = useMemo(() => new RunsLoader(() => setTick(t => t + 1)), []);

  const [kind, setKind] = useState<RowKind>('experiments');
  const [showCharts, setShowCharts] = useState(false);
  const [experiment, setExperiment] = useState('');
  const [stage, setStage] = useState('');
  const [status, setStatus] = useState('');
  const [filterText, setFilterText] = useState('');
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<ISort>({ field: 'start_time', desc: true });
  const [onlyDiffering, setOnlyDiffering] = useState(false);
  const [selected, setSelected] = useState<string[]>([]);
  const [now, setNow] = useState(Date.now());

  // A different project: its experiments and stages are not ours.
  const lastPath = useRef(path);
  useEffect(() => {
    if (lastPath.current !== path) {
      lastPath.current = path;
      setExperiment('');
      setStage('');
      setSelected([]);
    }
  }, [path]);

  const query: IRunsQuery = {
    kind,
    path,
    experiment,
    stage,
    status,
    filter,
    sort: sortParam(sort)
  };
  const chooseKind = (next: RowKind) => {
    if (next !== kind) {
      setKind(next);
      setSelected([]);
      setStage(''); // the sink stages' rows, or every stage's
      setSort({ field: 'start_time', desc: true });
    }
  };
  const isExperiments = kind === 'experiments';
  const noun = isExperiments ? 'experiment' : 'run';
  useEffect(() => {
    loader.setQuery(query);
  }, [JSON.stringify(query)]);

  // Live: refetch the rows on screen whenever the store changes.
  useEffect(() => {
    const slot = () => {
      loader.refresh();
      setNow(Date.now());
    };
    model.versionChanged.connect(slot);
    return () => {
      model.versionChanged.disconnect(slot);
    };
  }, [model, loader]);

  // Relative times ("3 min ago") and running durations keep moving.
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 15000);
    return () => window.clearInterval(timer);
  }, []);

  // --- the virtual viewport ---
  const [scroller, setScroller] = useState<HTMLDivElement | null>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 600, left: 0, width: 400 });
  useLayoutEffect(() => {
    if (!scroller) {
      return;
    }
    const measure = () =>
      setViewport({
        top: scroller.scrollTop,
        height: scroller.clientHeight,
        left: scroller.scrollLeft,
        width: scroller.clientWidth
      });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(scroller);
    return () => observer.disconnect();
  }, [scroller]);
  useEffect(() => {
    if (scroller) {
      scroller.scrollTop = 0;
    }
    setViewport(v => ({ ...v, top: 0 }));
  }, [loader.queryGeneration]);
  const onScroll = useCallback((event: React.UIEvent<HTMLDivElement>) => {
    const node = event.currentTarget;
    setViewport({
      top: node.scrollTop,
      height: node.clientHeight,
      left: node.scrollLeft,
      width: node.clientWidth
    });
  }, []);

  const total = loader.total ?? 0;
  const firstRow = Math.max(0, Math.floor(viewport.top / ROW_HEIGHT) - OVERSCAN);
  const lastRow = Math.min(
    total - 1,
    Math.ceil((viewport.top + viewport.height) / ROW_HEIGHT) + OVERSCAN
  );
  useEffect(() => {
    loader.ensureRange(firstRow, Math.max(firstRow, lastRow));
  }, [firstRow, lastRow, total, loader.queryGeneration]);

  // --- columns ---
  const meta = loader.meta;
  const paramKeys = meta?.columns.params ?? [];
  const metricKeys = meta?.columns.metrics ?? [];
  const differing = useMemo(() => {
    if (!onlyDiffering) {
      return null;
    }
    const loaded = loader.loadedRuns();
    return {
      params: differingKeys(loaded, paramKeys, r => r.params),
      metrics: differingKeys(loaded, metricKeys, r => r.metrics)
    };
  }, [onlyDiffering, loader.dataVersion, paramKeys.join('\n'), metricKeys.join('\n')]);
  const shownParams = differing ? paramKeys.filter(k => differing.params.has(k)) : paramKeys;
  const shownMetrics = differing ? metricKeys.filter(k => differing.metrics.has(k)) : metricKeys;
  const hiddenCount =
    paramKeys.length + metricKeys.length - shownParams.length - shownMetrics.length;
  const showExperiment = (meta?.experiments.length ?? 0) > 1;
  const columns = useMemo(() => {
    const [lead, tail] = baseColumns(showExperiment, kind);
    const params = shownParams.map(paramColumn);
    const metrics = shownMetrics.map(metricColumn);
    return kind === 'experiments'
      ? [...lead, ...metrics, ...params, ...tail]
      : [...lead, ...params, ...metrics, ...tail];
  }, [showExperiment, kind, shownParams.join('\n'), shownMetrics.join('\n')]);
  const tableWidth = CHECK_WIDTH + columns.reduce((sum, c) => sum + c.width, 0);

  // Columns are windowed too: the pinned ones, a spacer, then those near the viewport.
  const pinnedCount =
    columns.findIndex(c => !c.pinned) < 0 ? columns.length : columns.findIndex(c => !c.pinned);
  const offsets = useMemo(() => {
    const result: number[] = [];
    let x = CHECK_WIDTH;
    for (const column of columns) {
      result.push(x);
      x += column.width;
    }
    return result;
  }, [columns]);
  let firstCol = pinnedCount;
  while (
    firstCol < columns.length &&
    offsets[firstCol] + columns[firstCol].width < viewport.left - COLUMN_OVERSCAN_PX
  ) {
    firstCol++;
  }
  let lastCol = firstCol;
  while (
    lastCol < columns.length &&
    offsets[lastCol] < viewport.left + viewport.width + COLUMN_OVERSCAN_PX
  ) {
    lastCol++;
  }
  const visibleColumns = useMemo(
    () => [...columns.slice(0, pinnedCount), ...columns.slice(firstCol, lastCol)],
    [columns, pinnedCount, firstCol, lastCol]
  );
  const spacer =
    firstCol < columns.length ? offsets[firstCol] - (offsets[pinnedCount] ?? tableWidth) : 0;
  const pinnedWidth =
    CHECK_WIDTH + columns.slice(0, pinnedCount).reduce((sum, c) => sum + c.width, 0);
  // The header's groups: runs of neighbouring columns of one group, after the pinned ones.
  const segments: { group: IColumn['group']; width: number; key: string }[] = [];
  columns.slice(pinnedCount).forEach(column => {
    const last = segments[segments.length - 1];
    if (last && last.group === column.group) {
      last.width += column.width;
    } else {
      segments.push({ group: column.group, width: column.width, key: column.key });
    }
  });

  const onHeaderClick = (column: IColumn) => {
    setSort(current =>
      current.field === column.sortField
        ? { field: current.field, desc: !current.desc }
        : { field: column.sortField, desc: column.sortField === 'start_time' }
    );
  };

  const toggleSelected = useCallback((runId: string) => {
    setSelected(current =>
      current.includes(runId) ? current.filter(id => id !== runId) : [...current, runId]
    );
  }, []);
  const pathRef = useRef(path);
  pathRef.current = path;
  const onOpen = useCallback(
    (runId: string) => model.actions.openRun(runId, pathRef.current),
    [model]
  );

  const filtersActive = Boolean(experiment || stage || status || filter);
  const applyFilter = () => setFilter(filterText.trim());

  // --- rows on screen ---
  const rows: JSX.Element[] = [];
  if (total > 0) {
    for (let index = firstRow; index <= lastRow; index++) {
      const run = loader.row(index);
      const top = index * ROW_HEIGHT;
      if (!run) {
        rows.push(
          <div
            key={`placeholder-${index}`}
            className="mlops-row mlops-row-placeholder"
            style={{ top, width: tableWidth }}
          >
            <div className="mlops-placeholder-bar" />
          </div>
        );
        continue;
      }
      rows.push(
        <RunRow
          key={run.run_id}
          run={run}
          index={index}
          columns={visibleColumns}
          pinned={pinnedCount}
          spacer={spacer}
          width={tableWidth}
          selected={selected.includes(run.run_id)}
          now={now}
          onOpen={onOpen}
          onToggle={toggleSelected}
        />
      );
    }
  }

  const experiments = meta?.experiments ?? [];
  const stages = meta?.stages ?? [];
  const sinks = meta?.sinks ?? [];
  const isEmptyProject =
    loader.total === 0 && !filtersActive && !loader.error && !loader.filterError;

  return (
    <div className="mlops-runs" data-testid="mlops-runs">
      <div className="mlops-runs-filters">
        <div className="mlops-view-switch" role="group" aria-label="Rows">
          {(
            [
              [
                'experiments',
                'Experiments',
                'Each pipeline result with every param and metric of its lineage'
              ],
              ['runs', 'Stage runs', 'Every run of every stage, one by one']
            ] as [RowKind, string, string][]
          ).map(([id, label, title]) => (
            <button
              key={id}
              className={`mlops-view-button${kind === id ? ' mlops-view-active' : ''}`}
              data-testid={`mlops-view-${id}`}
              aria-pressed={kind === id}
              title={title}
              onClick={() => chooseKind(id)}
            >
              {label}
            </button>
          ))}
        </div>
        <div className="mlops-filter-row">
          <ChoiceSelect
            testId="mlops-experiment-select"
            label="Experiment"
            anyLabel="All experiments"
            choices={experiments}
            value={experiment}
            onChange={setExperiment}
          />
          <ChoiceSelect
            testId="mlops-stage-select"
            label={
              isExperiments
                ? `Rows: the runs of a stage (default: the sink stages ${sinks.join(', ')})`
                : 'Stage'
            }
            anyLabel={isExperiments ? 'Sink stages' : 'All stages'}
            choices={stages}
            value={stage}
            onChange={setStage}
          />
          <ChoiceSelect
            testId="mlops-status-select"
            label="Status"
            anyLabel="Any status"
            choices={STATUSES}
            value={status}
            onChange={setStatus}
            narrow
          />
        </div>
        <div className="mlops-filter-row">
          <input
            className={`mlops-filter-input${loader.filterError ? ' mlops-input-error' : ''}`}
            data-testid="mlops-filter-input"
            type="search"
            spellCheck={false}
            placeholder="metrics.rmse < 0.7 and params.n_est = 100"
            title={
              'Filter (Enter applies): metrics.KEY, params.KEY, tags.KEY, status, stage, ' +
              'experiment, start_time, duration; = != < <= > >=, like, in (...), is null, and/or/not'
            }
            value={filterText}
            onChange={e => setFilterText(e.target.value)}
            onKeyDown={e => {
              if (e.key === 'Enter') {
                applyFilter();
              } else if (e.key === 'Escape') {
                setFilterText('');
                setFilter('');
              }
            }}
          />
        </div>
        {loader.filterError && (
          <div className="mlops-filter-error" data-testid="mlops-filter-error" role="alert">
            {loader.filterError}
          </div>
        )}
        <div className="mlops-filter-row mlops-runs-toolbar">
          <span className="mlops-count" data-testid="mlops-run-count">
            {loader.total === null
              ? 'Loading…'
              : `${total.toLocaleString()} ${noun}${total === 1 ? '' : 's'}`}
          </span>
          <label
            className="mlops-toggle"
            title={`Hide params and metrics columns whose value is the same in every loaded ${noun} that has one`}
          >
            <input
              type="checkbox"
              data-testid="mlops-only-differ"
              checked={onlyDiffering}
              onChange={e => setOnlyDiffering(e.target.checked)}
            />
            Only columns that differ
            {onlyDiffering && hiddenCount > 0 && (
              <span className="mlops-muted"> ({hiddenCount} hidden)</span>
            )}
          </label>
          <span className="mlops-spacer" />
          {isExperiments && (
            <button
              className={`mlops-button mlops-button-quiet${showCharts ? ' mlops-button-on' : ''}`}
              data-testid="mlops-charts-toggle"
              aria-pressed={showCharts}
              title="Parallel coordinates and a param-vs-metric scatter of the selected experiments (or of all shown)"
              onClick={() => setShowCharts(on => !on)}
            >
              Charts
            </button>
          )}
          {selected.length > 0 && (
            <button
              className="mlops-button mlops-button-quiet"
              data-testid="mlops-clear-selection"
              onClick={() => setSelected([])}
              title="Clear the selection"
            >
              Clear
            </button>
          )}
          <button
            className="mlops-button mlops-button-primary"
            data-testid="mlops-compare-button"
            disabled={selected.length < 2}
            title={
              selected.length < 2
                ? `Select two or more ${noun}s to compare`
                : `Compare the selected ${noun}s`
            }
            onClick={() => model.actions.compare(selected, path, kind)}
          >
            Compare{selected.length > 0 ? ` (${selected.length})` : ''}
          </button>
        </div>
      </div>
      {isExperiments && showCharts && !isEmptyProject && (
        <ChartsPanel
          model={model}
          compact
          charts={{
            query: { path, experiment, stage, status, filter, sort: sortParam(sort) },
            selected
          }}
          onExpand={() =>
            model.actions.openCharts(
              { path, experiment, stage, status, filter, sort: sortParam(sort) },
              selected
            )
          }
        />
      )}
      {loader.error && (
        <div className="mlops-error" data-testid="mlops-runs-error" role="alert">
          {loader.error}
        </div>
      )}
      {isEmptyProject ? (
        <div className="mlops-empty" data-testid="mlops-runs-empty">
          <div className="mlops-empty-title">No runs yet — add %%stage to a cell</div>
          <div className="mlops-empty-hint">
            Run a cell that starts with <code>%%stage NAME</code> (after{' '}
            <code>%load_ext mlops_jupyter</code>) and its run shows up here.
          </div>
        </div>
      ) : (
        <div
          className="mlops-table-scroll"
          ref={setScroller}
          onScroll={onScroll}
          data-testid="mlops-runs-table"
          style={{ ['--mlops-pinned-width' as string]: `${pinnedWidth}px` }}
          role="table"
          aria-rowcount={total}
        >
          <div className="mlops-table-header" style={{ width: tableWidth }} role="rowgroup">
            <div className="mlops-header-groups">
              {/* The pinned part stays over what scrolls under it; a group's name sticks beside
                  it while the group is in view, cut with an ellipsis when the group is narrow. */}
              <div
                className="mlops-hgroup mlops-pinned mlops-hgroup-pinned"
                style={{ width: pinnedWidth, left: 0 }}
              />
              {segments.map(segment =>
                segment.group === 'run' ? (
                  <div
                    key={segment.key}
                    className="mlops-hgroup"
                    style={{ width: segment.width }}
                  />
                ) : (
                  <div
                    key={segment.key}
                    className={`mlops-hgroup mlops-hgroup-${segment.group}`}
                    style={{ width: segment.width }}
                  >
                    <span
                      className="mlops-hgroup-label"
                      style={{ left: pinnedWidth + 4 }}
                      title={segment.group === 'params' ? 'Params' : 'Metrics'}
                    >
                      {segment.group === 'params' ? 'Params' : 'Metrics'}
                    </span>
                  </div>
                )
              )}
            </div>
            <div className="mlops-header-row" role="row">
              <div
                className="mlops-hcell mlops-cell-check mlops-pinned"
                style={{ width: CHECK_WIDTH, left: 0 }}
              />
              {/* Every header is drawn (one row is cheap); the body draws those in view. */}
              {columns.map(column => {
                const active = sort.field === column.sortField;
                return (
                  <React.Fragment key={column.key}>
                    <div
                      role="columnheader"
                      className={`mlops-hcell mlops-cell-${column.group}${column.numeric ? ' mlops-num' : ''}${active ? ' mlops-sorted' : ''}${column.pinned ? ' mlops-pinned' : ''}`}
                      style={{ width: column.width, left: column.pinned ? CHECK_WIDTH : undefined }}
                      data-testid="mlops-col-header"
                      data-field={column.sortField}
                      aria-sort={active ? (sort.desc ? 'descending' : 'ascending') : 'none'}
                      title={`${column.group === 'run' ? column.label : column.key} — click to sort`}
                      onClick={() => onHeaderClick(column)}
                    >
                      <span className="mlops-hlabel">{column.label}</span>
                      {active && <span className="mlops-sort-arrow">{sort.desc ? '▼' : '▲'}</span>}
                    </div>
                  </React.Fragment>
                );
              })}
            </div>
          </div>
          <div
            className="mlops-table-body"
            style={{ height: total * ROW_HEIGHT, width: tableWidth }}
          >
            {rows}
          </div>
          {loader.total === 0 && filtersActive && !loader.error && (
            <div className="mlops-empty mlops-empty-inline" data-testid="mlops-runs-nomatch">
              No {noun}s match these filters.
            </div>
          )}
        </div>
      )}
    </div>
  );
}
