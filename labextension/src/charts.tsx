/**
 * Charts: metric histories as uPlot line charts (one line per run), and
 * small SVG sparklines. Axis and grid colours come from JupyterLab's theme
 * variables and follow theme switches.
 */
import React, { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { HistoryPoint, metricNumber } from './api';
import { formatNumber } from './format';

/** Categorical colours for runs (data colours, readable on light and dark themes). */
export const RUN_COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f'
];

export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length];
}

export interface IChartSeries {
  label: string;
  color: string;
  points: HistoryPoint[];
}

function themeVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** Increments when JupyterLab switches between light and dark themes. */
function useThemeGeneration(): number {
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const observer = new MutationObserver(() => setGeneration(g => g + 1));
    observer.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-light', 'data-jp-theme-name']
    });
    return () => observer.disconnect();
  }, []);
  return generation;
}

function toXY(points: HistoryPoint[]): [number[], (number | null)[]] {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  for (const [step, value] of sorted) {
    const n = metricNumber(value);
    if (xs.length && xs[xs.length - 1] === step) {
      ys[ys.length - 1] = n !== null && Number.isFinite(n) ? n : null; // last value of a step wins
      continue;
    }
    xs.push(step);
    ys.push(n !== null && Number.isFinite(n) ? n : null);
  }
  return [xs, ys];
}

export interface IMetricChartProps {
  title: string;
  series: IChartSeries[];
  height?: number;
  testId?: string;
}

/** A line chart of one metric's history for one or more runs. */
export function MetricChart(props: IMetricChartProps): JSX.Element {
  const { title, series, height = 220 } = props;
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const theme = useThemeGeneration();
  const dataKey = JSON.stringify(
    series.map(s => [s.label, s.color, s.points.length, s.points[s.points.length - 1]])
  );

  useEffect(() => {
    const node = host.current;
    if (!node || series.length === 0) {
      return;
    }
    const tables = series.map(s => toXY(s.points)) as uPlot.AlignedData[];
    const data = uPlot.join(tables);
    const maxPoints = Math.max(...tables.map(t => t[0].length));
    const font = themeVar('--jp-ui-font-color2', '#616161');
    const grid = themeVar('--jp-border-color2', '#e0e0e0');
    const fontFamily = themeVar('--jp-ui-font-family', 'sans-serif');
    const axisFont = `11px ${fontFamily}`;
    const axis = (label?: string, integers = false): uPlot.Axis => ({
      ...(integers
        ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000, 1000000] }
        : {}),
      stroke: font,
      font: axisFont,
      labelFont: axisFont,
      label,
      labelSize: label ? 16 : 0,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      values: (_u: uPlot, splits: number[]) => splits.map(v => (v === null ? '' : formatNumber(v)))
    });
    const options: uPlot.Options = {
      width: Math.max(200, node.clientWidth),
      height,
      scales: { x: { time: false } },
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: 'step', value: (_u, v) => (v === null ? '—' : formatNumber(v)) },
        ...series.map(s => ({
          label: s.label,
          stroke: s.color,
          width: 1.75,
          spanGaps: true,
          points: { show: maxPoints <= 40, size: 5, fill: s.color },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : formatNumber(v))
        }))
      ],
      axes: [axis('step', true), axis()]
    };
    plot.current?.destroy();
    plot.current = new uPlot(options, data, node);
    const observer = new ResizeObserver(() => {
      if (plot.current && node.clientWidth > 0) {
        plot.current.setSize({ width: Math.max(200, node.clientWidth), height });
      }
    });
    observer.observe(node);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [dataKey, theme, height]);

  return (
    <div className="mlops-chart" data-testid={props.testId ?? 'mlops-chart'} data-metric={title}>
      <div className="mlops-chart-title">{title}</div>
      <div className="mlops-chart-plot" ref={host} />
    </div>
  );
}

/** A small inline line of a metric's history. */
export function Sparkline(props: {
  points: HistoryPoint[];
  width?: number;
  height?: number;
}): JSX.Element | null {
  const { width = 90, height = 22 } = props;
  const [xs, ys] = toXY(props.points);
  const pairs: [number, number][] = [];
  xs.forEach((x, i) => {
    const y = ys[i];
    if (y !== null) {
      pairs.push([x, y]);
    }
  });
  if (pairs.length < 2) {
    return null;
  }
  const minX = pairs[0][0];
  const maxX = pairs[pairs.length - 1][0];
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [, y] of pairs) {
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const pad = 2;
  const sx = (x: number) => pad + ((x - minX) / (maxX - minX || 1)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - minY) / (maxY - minY || 1)) * (height - 2 * pad);
  const d = pairs
    .map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
    .join('');
  const [lx, ly] = pairs[pairs.length - 1];
  return (
    <svg
      className="mlops-sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      aria-hidden="true"
    >
      <path d={d} />
      <circle cx={sx(lx)} cy={sy(ly)} r={2} />
    </svg>
  );
}
