/**
 * Typed client for the mlops-jupyter server extension (`/mlops-jupyter/...`).
 *
 * One function per endpoint; every request goes through
 * `ServerConnection.makeRequest`, so the usual token / xsrf handling applies.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_NAMESPACE = 'mlops-jupyter';

export type RunStatus = 'running' | 'finished' | 'failed' | 'killed';
export type MetricValue = number | 'NaN' | 'Infinity' | '-Infinity';
export type ParamValue =
  string | number | boolean | null | ParamValue[] | { [key: string]: ParamValue };

export interface Run {
  run_id: string;
  experiment: string;
  stage: string | null;
  status: RunStatus;
  start_time: string;
  end_time: string | null;
  duration: number | null;
  notebook: string | null;
  cell_id: string | null;
  fingerprint: string | null;
  params: Record<string, ParamValue>;
  metrics: Record<string, MetricValue>;
  tags: Record<string, string>;
}

export interface RunsQuery {
  path?: string;
  experiment?: string;
  stage?: string;
  status?: string;
  filter?: string;
  sort?: string;
  limit?: number;
  offset?: number;
}

export interface RunsPage {
  total: number;
  offset: number;
  limit: number;
  experiments: string[];
  stages: string[];
  columns: { params: string[]; metrics: string[] };
  runs: Run[];
}

/** A run upstream of an experiment's run (nearest first). */
export interface UpstreamRun {
  run_id: string;
  stage: string | null;
}

/**
 * An experiment: a run with the params and latest metrics of every run upstream of it (a metric
 * several runs of the lineage logged is `STAGE/KEY` for the upstream ones), and its own tags.
 */
export interface Experiment extends Run {
  upstream: UpstreamRun[];
}

export interface ExperimentsPage extends RunsPage {
  /** The sink stages: their runs are the rows unless `stage` picks others. */
  sinks: string[];
  runs: Experiment[];
}

/** `[step, value, timestamp_ms]` */
export type HistoryPoint = [number, MetricValue, number];

export interface Environment {
  python: string | null;
  platform: string | null;
  packages: Record<string, string>;
  git_commit: string | null;
  git_dirty: boolean | null;
  host: string | null;
  pid: number | null;
}

export type ArtifactKind = 'out' | 'figure' | 'variable' | 'file';

export interface Artifact {
  name: string;
  kind: ArtifactKind;
  hash: string | null;
  size: number | null;
  mime: string | null;
}

export interface LineageEdge {
  upstream_run_id: string;
  via: string;
  kind: string;
}

export interface RunDetail extends Run {
  metric_steps: Record<string, number>;
  code: string | null;
  environment: Environment | null;
  artifacts: Artifact[];
  lineage: LineageEdge[];
  histories: Record<string, HistoryPoint[]>;
}

export interface MetricsResponse {
  histories: Record<string, Record<string, HistoryPoint[]>>;
}

export type StageState =
  'fresh' | 'cached' | 'stale' | 'unknown' | 'uncached' | 'never run' | 'failed' | 'running';

export interface PipelineStage {
  name: string;
  state: StageState;
  reasons: string[];
  last_run: string | null;
  cell_index: number;
  cell_id: string | null;
}

export interface PipelineEdge {
  upstream: string;
  downstream: string;
  kind: 'variable' | 'file' | 'after';
  label: string;
}

export interface Pipeline {
  notebook: string;
  stages: PipelineStage[];
  edges: PipelineEdge[];
  warnings: string[];
}

export interface StateResponse {
  version: string;
}

/** A stage of the model registry, as MLflow has them. */
export type ModelStage = 'None' | 'Staging' | 'Production' | 'Archived';

/** A registered model as the list shows it. */
export interface ModelSummary {
  name: string;
  description: string | null;
  tags: Record<string, string>;
  /** alias -> version */
  aliases: Record<string, number>;
  latest_version: number | null;
  version_count: number;
  /** The newest version in each stage but None. */
  stages: Partial<Record<ModelStage, number>>;
  created_time: string;
  updated_time: string;
}

export interface ModelVersion {
  version: number;
  run_id: string;
  artifact: string;
  uri: string;
  stage: ModelStage;
  aliases: string[];
  tags: Record<string, string>;
  description: string | null;
  created_time: string;
  /** The run that made it (null if the store lost it). */
  run: Pick<Run, 'experiment' | 'stage' | 'status' | 'start_time' | 'notebook'> | null;
  metrics: Record<string, MetricValue>;
}

/** One change of a model: a registration, an alias moved or removed, a stage transition, a tag. */
export interface ModelHistoryEntry {
  version: number | null;
  action: 'registered' | 'alias' | 'alias removed' | 'stage' | 'tag' | string;
  /** The alias or tag key. */
  what: string | null;
  old: string | null;
  new: string | null;
  user: string;
  time: string;
}

export interface ModelDetail extends ModelSummary {
  /** Newest first. */
  versions: ModelVersion[];
  /** Newest first. */
  history: ModelHistoryEntry[];
  all_stages: ModelStage[];
}

export interface ModelsList {
  models: ModelSummary[];
}

/** An error answered by the server (`{"message": ...}`) or the network. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'APIError';
  }
}

type Query = Record<string, string | number | undefined | null>;

function queryString(query?: Query): string {
  if (!query) {
    return '';
  }
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') {
      continue;
    }
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Encodes each segment of a relative endpoint path. */
function endpoint(...segments: string[]): string {
  return segments.map(encodeURIComponent).join('/');
}

async function send(endPoint: string, init: RequestInit = {}, query?: Query): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint) + queryString(query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new APIError(`Cannot reach the server: ${String(error)}`, 0);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const text = await response.text();
      try {
        const data = JSON.parse(text);
        if (data && typeof data.message === 'string' && data.message) {
          message = data.message;
        }
      } catch {
        if (text && text.length < 500 && !text.trimStart().startsWith('<')) {
          message = text;
        }
      }
    } catch {
      /* keep the status line */
    }
    throw new APIError(message, response.status);
  }
  return response;
}

/** GET/POST a JSON endpoint under `/mlops-jupyter/`. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query?: Query
): Promise<T> {
  const response = await send(endPoint, init, query);
  return (await response.json()) as T;
}

export function listRuns(query: RunsQuery): Promise<RunsPage> {
  return requestAPI<RunsPage>('runs', {}, { ...query });
}

export function listExperiments(query: RunsQuery): Promise<ExperimentsPage> {
  return requestAPI<ExperimentsPage>('experiments', {}, { ...query });
}

export function getExperiment(runId: string, path?: string): Promise<Experiment> {
  return requestAPI<Experiment>(endpoint('experiments', runId), {}, { path });
}

export function getRun(runId: string, path?: string): Promise<RunDetail> {
  return requestAPI<RunDetail>(endpoint('runs', runId), {}, { path });
}

export function getMetrics(
  runIds: string[],
  options: { path?: string; keys?: string[] } = {}
): Promise<MetricsResponse> {
  return requestAPI<MetricsResponse>(
    'metrics',
    {},
    {
      path: options.path,
      runs: runIds.join(','),
      keys: options.keys && options.keys.length ? options.keys.join(',') : undefined
    }
  );
}

/** Each run's image of an image plot, served by the artifact route. */
export interface PlotImage {
  label: string;
  run_id: string;
  /** The artifact holding its bytes. */
  name: string;
  mime: string;
  /** Relative to the API: `artifacts/RUN/NAME`. */
  url: string;
}

/** One plot id of the runs: a Vega-Lite v5 spec overlaying them, or each run's image. */
export interface PlotView {
  id: string;
  /** The labels of the runs that have this plot. */
  runs: string[];
  spec: Record<string, unknown> | null;
  images: PlotImage[];
  /** Why the plot cannot be drawn (one line), if it cannot. */
  error: string | null;
}

export interface PlotsResponse {
  /** The runs asked for, in order, with the labels the plots name them by. */
  runs: { run_id: string; label: string }[];
  plots: PlotView[];
}

/** Every plot of these runs, the same plot of each run overlaid (as `dvc plots diff`). */
export function getPlots(runIds: string[], path?: string): Promise<PlotsResponse> {
  return requestAPI<PlotsResponse>('plots', {}, { path, runs: runIds.join(',') });
}

/** The raw bytes of one artifact. */
export async function getArtifact(runId: string, name: string, path?: string): Promise<Blob> {
  const response = await send(endpoint('artifacts', runId, ...name.split('/')), {}, { path });
  return response.blob();
}

export function getPipeline(path: string): Promise<Pipeline> {
  return requestAPI<Pipeline>('pipeline', {}, { path });
}

/** The pipeline of a notebook's current (possibly unsaved) content. */
export function postPipeline(path: string, content: unknown): Promise<Pipeline> {
  return requestAPI<Pipeline>('pipeline', {
    method: 'POST',
    body: JSON.stringify({ path, content })
  });
}

export function getState(path?: string): Promise<StateResponse> {
  return requestAPI<StateResponse>('state', {}, { path });
}

export function listModels(path?: string): Promise<ModelsList> {
  return requestAPI<ModelsList>('models', {}, { path });
}

export function getModel(name: string, path?: string): Promise<ModelDetail> {
  return requestAPI<ModelDetail>(endpoint('models', name), {}, { path });
}

/** Points `alias` of model `name` at `version` (moved from where it was); answers the model. */
export function setModelAlias(
  name: string,
  alias: string,
  version: number,
  path?: string
): Promise<ModelDetail> {
  return requestAPI<ModelDetail>(
    endpoint('models', name, 'aliases'),
    { method: 'POST', body: JSON.stringify({ alias, version }) },
    { path }
  );
}

export function deleteModelAlias(name: string, alias: string, path?: string): Promise<ModelDetail> {
  return requestAPI<ModelDetail>(
    endpoint('models', name, 'aliases', alias),
    { method: 'DELETE' },
    { path }
  );
}

/** Moves a version to `stage`; `archiveExisting` archives the versions already there. */
export function setModelStage(
  name: string,
  version: number,
  stage: ModelStage,
  archiveExisting: boolean,
  path?: string
): Promise<ModelDetail> {
  return requestAPI<ModelDetail>(
    endpoint('models', name, 'versions', String(version), 'stage'),
    { method: 'POST', body: JSON.stringify({ stage, archive_existing: archiveExisting }) },
    { path }
  );
}

/** A metric value as a JS number (`"NaN"`, `"Infinity"` decoded). */
export function metricNumber(value: MetricValue | undefined | null): number | null {
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value === 'number') {
    return value;
  }
  if (value === 'NaN') {
    return NaN;
  }
  if (value === 'Infinity') {
    return Infinity;
  }
  if (value === '-Infinity') {
    return -Infinity;
  }
  const n = Number(value);
  return Number.isNaN(n) ? null : n;
}
