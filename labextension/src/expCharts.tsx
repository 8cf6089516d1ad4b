/**
 * Experiment charts in plain SVG: parallel coordinates (one line per experiment across its params
 * and metrics) and a param-vs-metric scatter. Both fit their container's width (sidebar or main
 * area), take their colours from JupyterLab's theme (axes, text) and colour experiments by a
 * metric; hovering a line or point names the experiment, clicking opens it.
 */
import React, { useLayoutEffect, useRef, useState } from 'react';

import { Experiment, metricNumber } from './api';
import { formatNumber, shortId } from './format';

/** A column of the experiments: `params.KEY` or `metrics.KEY`. */
export type Field = string;

type Value = number | string | null;

export function fieldValue(e: Experiment, field: Field): Value {
  const dot = field.indexOf('.');
  const namespace = field.slice(0, dot);
  const key = field.slice(dot + 1);
  if (namespace === 'metrics') {
    const n = metricNumber(e.metrics[key]);
    return n === null || !Number.isFinite(n) ? null : n;
  }
  const v = e.params[key];
  if (v === undefined || v === null) {
    return null;
  }
  if (typeof v === 'number') {
    return Number.isFinite(v) ? v : null;
  }
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Fields with two or more distinct values among the experiments (all of them if none varies). */
export function varyingFields(experiments: Experiment[], fields: Field[]): Field[] {
  const varying = fields.filter(
    f => new Set(experiments.map(e => fieldValue(e, f)).filter(v => v !== null)).size > 1
  );
  return varying.length ? varying : fields;
}

export function fieldsOf(experiments: Experiment[]): { params: Field[]; metrics: Field[] } {
  const keys = (get: (e: Experiment) => object) =>
    [...new Set(experiments.flatMap(e => Object.keys(get(e))))].sort();
  return {
    params: keys(e => e.params).map(k => `params.${k}`),
    metrics: keys(e => e.metrics).map(k => `metrics.${k}`)
  };
}

export function fieldLabel(field: Field): string {
  return field.replace(/^(params|metrics)\./, '');
}

interface IScale {
  kind: 'number' | 'category';
  /** 0 (bottom/left) to 1 (top/right), or null for a missing value. */
  at(v: Value): number | null;
  ticks: { at: number; label: string }[];
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  const raw = span / Math.max(1, count);
  const step = Math.pow(10, Math.floor(Math.log10(raw)));
  const nice = [1, 2, 5, 10].map(m => m * step).find(s => span / s <= count) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + nice * 1e-9; t += nice) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

export function scaleOf(experiments: Experiment[], field: Field, tickCount = 4): IScale {
  const values = experiments
    .map(e => fieldValue(e, field))
    .filter((v): v is number | string => v !== null);
  if (values.length && values.every(v => typeof v === 'number')) {
    const numbers = values as number[];
    let lo = Math.min(...numbers);
    let hi = Math.max(...numbers);
    if (lo === hi) {
      lo -= Math.abs(lo) * 0.1 || 1;
      hi += Math.abs(hi) * 0.1 || 1;
    }
    return {
      kind: 'number',
      at: v => (typeof v === 'number' ? (v - lo) / (hi - lo) : null),
      ticks: niceTicks(lo, hi, tickCount).map(t => ({
        at: (t - lo) / (hi - lo),
        label: formatNumber(t)
      }))
    };
  }
  const categories = [...new Set(values.map(String))].sort();
  const at = (v: Value) => {
    const i = v === null ? -1 : categories.indexOf(String(v));
    return i < 0 ? null : categories.length === 1 ? 0.5 : i / (categories.length - 1);
  };
  return { kind: 'category', at, ticks: categories.map(c => ({ at: at(c) as number, label: c })) };
}

/** A sequential colour (viridis, its ends trimmed: readable on light and dark themes). */
const VIRIDIS = ['#46327e', '#365c8d', '#277f8e', '#1fa187', '#4ac16d', '#a0da39'];
export function sequentialColor(t: number): string {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const mix = (a: string, b: string, f: number) => {
    const ca = parseInt(a.slice(1), 16);
    const cb = parseInt(b.slice(1), 16);
    const ch = (shift: number) =>
      Math.round(((ca >> shift) & 255) * (1 - f) + ((cb >> shift) & 255) * f);
    return `rgb(${ch(16)}, ${ch(8)}, ${ch(0)})`;
  };
  return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
}

/** The colour of each experiment: `fixed` (by position) or by a metric's value. */
export function colorsOf(
  experiments: Experiment[],
  colorBy: Field | null,
  fixed?: (index: number) => string
): string[] {
  if (fixed) {
    return experiments.map((_, i) => fixed(i));
  }
  const scale = colorBy ? scaleOf(experiments, colorBy) : null;
  return experiments.map(e => {
    const t = scale ? scale.at(fieldValue(e, colorBy as Field)) : null;
    return t === null ? 'var(--jp-ui-font-color3)' : sequentialColor(t);
  });
}

/** The width of an element, followed as it resizes. */
function useWidth(): [React.RefObject<HTMLDivElement>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    setWidth(node.clientWidth);
    const observer = new ResizeObserver(() => setWidth(node.clientWidth));
    observer.observe(node);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** ``text`` cut to about ``px`` pixels of 11px text, ending in … */
function fit(text: string, px: number): string {
  const chars = Math.max(3, Math.floor(px / 6.2));
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

function describe(e: Experiment, fields: Field[]): string {
  const parts = fields.map(f => {
    const v = fieldValue(e, f);
    return `${fieldLabel(f)} = ${v === null ? '—' : typeof v === 'number' ? formatNumber(v) : v}`;
  });
  return [`${shortId(e.run_id)}${e.stage ? ` · ${e.stage}` : ''}`, ...parts].join('\n');
}

export interface IChartProps {
  experiments: Experiment[];
  colors: string[];
  onOpen?: (runId: string) => void;
  height?: number;
}

/** One vertical axis per field, one line per experiment through its values. */
export function ParallelCoordinates(props: IChartProps & { fields: Field[] }): JSX.Element {
  const { experiments, fields, colors, height = 240 } = props;
  const [ref, width] = useWidth();
  const [hover, setHover] = useState<string | null>(null);
  const top = 30;
  const bottom = 16;
  const side = 34;
  const plotH = height - top - bottom;
  const spacing = fields.length > 1 ? (width - 2 * side) / (fields.length - 1) : 0;
  const xOf = (i: number) => (fields.length > 1 ? side + i * spacing : width / 2);
  const scales = fields.map(f => scaleOf(experiments, f, 3));
  const yOf = (t: number) => top + (0.96 - t * 0.92) * plotH; // the ends of a range stay off the axis ends
  const labelRoom = fields.length > 1 ? Math.max(40, spacing - 6) : width;

  const paths = experiments.map(e => {
    let d = '';
    let pen = false;
    fields.forEach((f, i) => {
      const t = scales[i].at(fieldValue(e, f));
      if (t === null) {
        pen = false; // a missing value breaks the line
        return;
      }
      d += `${pen ? 'L' : 'M'}${xOf(i).toFixed(1)},${yOf(t).toFixed(1)}`;
      pen = true;
    });
    return d;
  });

  return (
    <div className="mlops-xchart" ref={ref} data-testid="mlops-parallel-chart">
      {width > 0 && (
        <svg width={width} height={height} role="img" aria-label="Parallel coordinates">
          {experiments.map((e, i) => (
            <path
              key={e.run_id}
              d={paths[i]}
              className={`mlops-pc-line${hover === e.run_id ? ' mlops-pc-hover' : ''}${hover && hover !== e.run_id ? ' mlops-pc-dim' : ''}`}
              stroke={colors[i]}
              data-testid="mlops-parallel-line"
              data-run-id={e.run_id}
              onMouseEnter={() => setHover(e.run_id)}
              onMouseLeave={() => setHover(null)}
              onClick={() => props.onOpen?.(e.run_id)}
            >
              <title>{describe(e, fields)}</title>
            </path>
          ))}
          {fields.map((f, i) => {
            const x = xOf(i);
            const anchor =
              fields.length > 1 && i === 0
                ? 'start'
                : i === fields.length - 1 && fields.length > 1
                  ? 'end'
                  : 'middle';
            const labelX = anchor === 'start' ? x - side + 2 : anchor === 'end' ? x + side - 2 : x;
            const room = anchor === 'middle' ? labelRoom : labelRoom / 2 + side;
            const ticks =
              scales[i].kind === 'number'
                ? scales[i].ticks
                : scales[i].ticks.length <= 8
                  ? scales[i].ticks
                  : [];
            return (
              <g key={f} className="mlops-pc-axis" data-field={f}>
                <line x1={x} x2={x} y1={top} y2={top + plotH} />
                <text className="mlops-pc-label" x={labelX} y={12} textAnchor={anchor}>
                  {fit(fieldLabel(f), room)}
                  <title>{f}</title>
                </text>
                {ticks.map(t => (
                  <text
                    key={t.label}
                    className="mlops-pc-tick"
                    x={x + 3}
                    y={yOf(t.at)}
                    dominantBaseline="central"
                  >
                    {fit(t.label, Math.min(70, spacing - 8 || 70))}
                  </text>
                ))}
              </g>
            );
          })}
        </svg>
      )}
    </div>
  );
}

/** One point per experiment: a param (or metric) across, a metric up. */
export function ParamScatter(props: IChartProps & { x: Field; y: Field }): JSX.Element {
  const { experiments, x, y, colors, height = 220 } = props;
  const [ref, width] = useWidth();
  const left = 44;
  const right = 12;
  const top = 10;
  const bottom = 34;
  const sx = scaleOf(experiments, x, Math.max(2, Math.floor((width - left) / 70)));
  const sy = scaleOf(experiments, y, 4);
  const plotW = Math.max(10, width - left - right);
  const plotH = height - top - bottom;
  const pad = 0.05; // points at the ends of a range stay off the axes
  const px = (t: number) => left + (pad + t * (1 - 2 * pad)) * plotW;
  const py = (t: number) => top + (1 - pad - t * (1 - 2 * pad)) * plotH;
  // Categories spread a little so that equal points stay visible.
  const jitter = (i: number) => (sx.kind === 'category' ? ((i * 37) % 11) / 11 - 0.5 : 0);
  return (
    <div className="mlops-xchart" ref={ref} data-testid="mlops-scatter-chart" data-x={x} data-y={y}>
      {width > 0 && (
        <svg
          width={width}
          height={height}
          role="img"
          aria-label={`${fieldLabel(y)} against ${fieldLabel(x)}`}
        >
          <g className="mlops-sc-axis">
            <line x1={left} x2={left + plotW} y1={top + plotH} y2={top + plotH} />
            <line x1={left} x2={left} y1={top} y2={top + plotH} />
            {sx.ticks.map(t => (
              <text
                key={`x${t.label}`}
                className="mlops-pc-tick"
                x={px(t.at)}
                y={top + plotH + 12}
                textAnchor="middle"
              >
                {fit(t.label, 60)}
              </text>
            ))}
            {sy.ticks.map(t => (
              <g key={`y${t.label}`}>
                <line
                  className="mlops-sc-grid"
                  x1={left}
                  x2={left + plotW}
                  y1={py(t.at)}
                  y2={py(t.at)}
                />
                <text
                  className="mlops-pc-tick"
                  x={left - 4}
                  y={py(t.at)}
                  textAnchor="end"
                  dominantBaseline="central"
                >
                  {fit(t.label, left - 6)}
                </text>
              </g>
            ))}
            <text
              className="mlops-pc-label"
              x={left + plotW / 2}
              y={height - 4}
              textAnchor="middle"
            >
              {fit(fieldLabel(x), plotW)}
              <title>{x}</title>
            </text>
          </g>
          {experiments.map((e, i) => {
            const tx = sx.at(fieldValue(e, x));
            const ty = sy.at(fieldValue(e, y));
            if (tx === null || ty === null) {
              return null;
            }
            return (
              <circle
                key={e.run_id}
                className="mlops-sc-point"
                cx={px(tx) + jitter(i) * Math.min(16, plotW / Math.max(2, sx.ticks.length) / 3)}
                cy={py(ty)}
                r={4}
                fill={colors[i]}
                data-testid="mlops-scatter-point"
                data-run-id={e.run_id}
                onClick={() => props.onOpen?.(e.run_id)}
              >
                <title>{describe(e, [x, y])}</title>
              </circle>
            );
          })}
        </svg>
      )}
    </div>
  );
}

function FieldSelect(props: {
  label: string;
  testId: string;
  fields: Field[];
  value: Field;
  onChange: (f: Field) => void;
}): JSX.Element {
  return (
    <label className="mlops-xchart-pick" title={props.value}>
      <span>{props.label}</span>
      <select
        className="mlops-select"
        data-testid={props.testId}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.fields.map(f => (
          <option key={f} value={f}>
            {f}
          </option>
        ))}
      </select>
    </label>
  );
}

const MAX_AXES = 8;

/**
 * Both charts over a set of experiments, with pickers for the scatter's axes and the colour. The
 * parallel coordinates show the params and metrics that vary (up to eight), metrics on the right.
 */
export function ExperimentCharts(props: {
  experiments: Experiment[];
  /** Colours by position (the compare view's run colours); else by the colour metric. */
  fixedColors?: (index: number) => string;
  onOpen?: (runId: string) => void;
  compact?: boolean;
}): JSX.Element {
  const { experiments } = props;
  const { params, metrics } = fieldsOf(experiments);
  const [x, setX] = useState<Field | null>(null);
  const [y, setY] = useState<Field | null>(null);
  const [colorBy, setColorBy] = useState<Field | null>(null);
  if (experiments.length === 0 || (params.length === 0 && metrics.length === 0)) {
    return (
      <div className="mlops-muted mlops-xchart-empty" data-testid="mlops-charts-empty">
        No params or metrics to chart.
      </div>
    );
  }
  const varyingParams = varyingFields(experiments, params);
  const varyingMetrics = varyingFields(experiments, metrics);
  const numericParams = varyingParams.filter(f => scaleOf(experiments, f).kind === 'number');
  const all = [...params, ...metrics];
  const yField = y && all.includes(y) ? y : (varyingMetrics[0] ?? all[all.length - 1]);
  const xField = x && all.includes(x) ? x : (numericParams[0] ?? varyingParams[0] ?? all[0]);
  const colorField = colorBy && metrics.includes(colorBy) ? colorBy : yField;
  const axes = [
    ...varyingParams.slice(0, Math.max(1, MAX_AXES - Math.min(3, varyingMetrics.length))),
    ...varyingMetrics
  ].slice(0, MAX_AXES);
  const colors = colorsOf(experiments, colorField, props.fixedColors);
  const height = props.compact ? 200 : 280;
  return (
    <div
      className={`mlops-xcharts${props.compact ? ' mlops-xcharts-compact' : ''}`}
      data-testid="mlops-experiment-charts"
    >
      <div className="mlops-xchart-box">
        <div className="mlops-xchart-bar">
          <span className="mlops-chart-title">Parallel coordinates</span>
          {!props.fixedColors && metrics.length > 0 && (
            <FieldSelect
              label="colour"
              testId="mlops-chart-color"
              fields={metrics}
              value={colorField}
              onChange={setColorBy}
            />
          )}
        </div>
        <ParallelCoordinates
          experiments={experiments}
          fields={axes}
          colors={colors}
          onOpen={props.onOpen}
          height={height}
        />
      </div>
      <div className="mlops-xchart-box">
        <div className="mlops-xchart-bar">
          <span className="mlops-chart-title">Scatter</span>
          <FieldSelect
            label="x"
            testId="mlops-scatter-x"
            fields={all}
            value={xField}
            onChange={setX}
          />
          <FieldSelect
            label="y"
            testId="mlops-scatter-y"
            fields={all}
            value={yField}
            onChange={setY}
          />
        </div>
        <ParamScatter
          experiments={experiments}
          x={xField}
          y={yField}
          colors={colors}
          onOpen={props.onOpen}
          height={props.compact ? 180 : 240}
        />
      </div>
    </div>
  );
}
