/** Formatting of run values for display. */
import { MetricValue, ParamValue, metricNumber } from './api';

export function shortId(runId: string): string {
  return runId.length > 8 ? runId.slice(0, 8) : runId;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? '∞' : '−∞';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e15) {
    return String(value);
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e7)) {
    return value.toExponential(3);
  }
  return String(Number(value.toPrecision(5)));
}

export function formatMetric(value: MetricValue | undefined | null): string {
  const n = metricNumber(value);
  return n === null ? '' : formatNumber(n);
}

export function formatParam(value: ParamValue | undefined): string {
  if (value === undefined) {
    return '';
  }
  if (value === null) {
    return 'null';
  }
  if (typeof value === 'number') {
    return formatNumber(value);
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)}ms`;
  }
  if (seconds < 60) {
    return `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)}s`;
  }
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) {
    return `${m}m ${s}s`;
  }
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

/** Parses the server's ISO times; naive ones are taken as UTC. */
export function parseTime(iso: string | null | undefined): Date | null {
  if (!iso) {
    return null;
  }
  const hasZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso);
  const date = new Date(hasZone ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function formatTime(iso: string | null | undefined, now: number = Date.now()): string {
  const date = parseTime(iso);
  if (!date) {
    return '';
  }
  const ago = (now - date.getTime()) / 1000;
  if (ago >= -5 && ago < 60) {
    return 'just now';
  }
  if (ago >= 0 && ago < 3600) {
    return `${Math.floor(ago / 60)} min ago`;
  }
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const today = new Date(now);
  if (date.toDateString() === today.toDateString()) {
    return `today ${time}`;
  }
  if (date.getFullYear() !== today.getFullYear()) {
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }
  const day = date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return `${day} ${time}`;
}

export function formatFullTime(iso: string | null | undefined): string {
  const date = parseTime(iso);
  return date ? date.toLocaleString() : '';
}

/** Seconds a run has been going (for running runs) or lasted. */
export function runDuration(run: {
  duration: number | null;
  start_time: string;
  status: string;
}): number | null {
  if (run.duration !== null && run.duration !== undefined) {
    return run.duration;
  }
  if (run.status === 'running') {
    const start = parseTime(run.start_time);
    return start ? Math.max(0, (Date.now() - start.getTime()) / 1000) : null;
  }
  return null;
}

export function formatBytes(size: number | null | undefined): string {
  if (size === null || size === undefined) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** "+0.012 (+3.4%)" — the change of `value` against `base`. */
export function formatDelta(value: number | null, base: number | null): string {
  if (value === null || base === null || !Number.isFinite(value) || !Number.isFinite(base)) {
    return '';
  }
  const delta = value - base;
  if (delta === 0) {
    return '=';
  }
  const sign = delta > 0 ? '+' : '−';
  let text = `${sign}${formatNumber(Math.abs(delta))}`;
  if (base !== 0) {
    const pct = (delta / Math.abs(base)) * 100;
    text += ` (${sign}${Math.abs(pct) >= 100 ? Math.abs(pct).toFixed(0) : Math.abs(pct).toFixed(1)}%)`;
  }
  return text;
}

/** A CSS-class-safe form of a state or status ("never run" → "never-run"). */
export function classToken(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}
