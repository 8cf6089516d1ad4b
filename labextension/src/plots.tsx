/**
 * The Plots section of the Compare view: every plot id of the compared runs, the same plot of each
 * run overlaid in one chart as `dvc plots diff` draws it (a line per run, confusion matrices side by
 * side, each run's image). The Vega-Lite specs come from `GET plots` and are drawn by JupyterLab's
 * own Vega renderer (the rendermime registry's `application/vnd.vegalite.v5+json`, which
 * @jupyterlab/vega5-extension provides): nothing bundled here, nothing fetched from a CDN. Charts
 * fit the panel's width, take the runs' colours of the rest of the view and follow the light or
 * dark theme (redrawn when it switches).
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import React, { useEffect, useRef, useState } from 'react';

import { PlotView, getPlots } from './api';
import { ArtifactImage } from './artifacts';
import { runColor } from './charts';
import { MlopsModel, useLiveData } from './model';

export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

// The renderer makes a PNG of each chart unless the data has one; this view never shows it.
const NO_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const EMBED_OPTIONS = {
  renderer: 'svg',
  actions: { export: true, source: false, compiled: false, editor: false }
};

type Spec = { [key: string]: any };

/**
 * The spec as the panel draws it: as wide as the panel (a faceted one, confusion matrices side
 * by side, keeps its cells' size and scrolls), lines in the colours of their runs, on the theme's
 * background.
 */
export function fitSpec(spec: Spec, colorOf: (label: string) => string | undefined): Spec {
  const fitted: Spec = JSON.parse(JSON.stringify(spec));
  if (!fitted.facet && typeof fitted.width === 'number') {
    fitted.width = 'container';
    fitted.autosize = { type: 'fit-x', contains: 'padding' };
  }
  const color = fitted.encoding?.color;
  const domain: unknown[] | undefined = color?.scale?.domain;
  if (Array.isArray(domain) && domain.every(d => typeof d === 'string' && colorOf(d))) {
    color.scale.range = domain.map(d => colorOf(d as string));
  }
  // At a narrow width Vega's ticks crowd: labels closer than this are thinned out.
  const axis = { ...fitted.config?.axis, labelSeparation: 6 };
  fitted.config = { ...fitted.config, axis, background: 'transparent' };
  return fitted;
}

/** A counter that changes when JupyterLab switches between a light and a dark theme. */
function useThemeChanges(): number {
  const [count, setCount] = useState(0);
  useEffect(() => {
    const observer = new MutationObserver(() => setCount(c => c + 1));
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-light'] });
    return () => observer.disconnect();
  }, []);
  return count;
}

/** One Vega-Lite spec drawn by the registry's renderer, a Lumino widget inside this React node. */
function VegaChart(props: { spec: Spec; rendermime: IRenderMimeRegistry; theme: number }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  const key = JSON.stringify(props.spec);
  useEffect(() => {
    const node = host.current;
    if (!node) {
      return;
    }
    setError(null);
    const renderer = props.rendermime.createRenderer(VEGALITE_MIME);
    const model = new MimeModel({
      data: { [VEGALITE_MIME]: props.spec, 'image/png': NO_PNG },
      metadata: { [VEGALITE_MIME]: { embed_options: EMBED_OPTIONS } },
      trusted: true
    });
    Widget.attach(renderer, node);
    renderer.renderModel(model).catch(reason => {
      if (!renderer.isDisposed) {
        setError(reason instanceof Error ? reason.message : String(reason));
      }
    });
    return () => renderer.dispose();
  }, [key, props.rendermime, props.theme]);
  return (
    <>
      {error && <div className="mlops-error">Cannot draw this plot: {error}</div>}
      <div ref={host} className="mlops-plot-chart" data-testid="mlops-compare-plot-chart" />
    </>
  );
}

function PlotImages(props: { plot: PlotView; path: string; colorOf: (label: string) => string }) {
  const { plot } = props;
  return (
    <div
      className="mlops-figure-cols"
      style={{ gridTemplateColumns: `repeat(${plot.images.length}, minmax(160px, 1fr))` }}
    >
      {plot.images.map((image, i) => (
        <div key={`${image.run_id}-${i}`} className="mlops-figure-col">
          <div className="mlops-figure-caption">
            <span className="mlops-swatch" style={{ background: props.colorOf(image.label) }} />
            <span className="mlops-mono">{image.label}</span>
          </div>
          <ArtifactImage
            runId={image.run_id}
            name={image.name}
            path={props.path}
            testId="mlops-compare-plot-image"
          />
        </div>
      ))}
    </div>
  );
}

export function PlotsSection(props: {
  runIds: string[];
  path: string;
  model: MlopsModel;
  rendermime: IRenderMimeRegistry | null;
}): JSX.Element | null {
  const { runIds, path, model, rendermime } = props;
  const { data, error } = useLiveData(model, () => getPlots(runIds, path), [
    runIds.join(','),
    path
  ]);
  const theme = useThemeChanges();
  if (!data) {
    return error ? (
      <section className="mlops-section" data-testid="mlops-compare-plots">
        <h3 className="mlops-section-title">Plots</h3>
        <div className="mlops-error">{error}</div>
      </section>
    ) : null;
  }
  if (data.plots.length === 0) {
    return null; // as Charts and Figures: no section for what the runs did not record
  }
  const colors = new Map(data.runs.map((run, i) => [run.label, runColor(i)]));
  const colorOf = (label: string) => colors.get(label) ?? 'transparent';
  const canDraw = Boolean(rendermime?.mimeTypes.includes(VEGALITE_MIME));
  return (
    <section className="mlops-section" data-testid="mlops-compare-plots">
      <h3 className="mlops-section-title">
        Plots<span className="mlops-section-count">{data.plots.length}</span>
      </h3>
      {error && <div className="mlops-error">{error}</div>}
      {!canDraw && (
        <div className="mlops-error">
          JupyterLab draws no {VEGALITE_MIME} here (is @jupyterlab/vega5-extension disabled?)
        </div>
      )}
      <div className="mlops-plot-list">
        {data.plots.map(plot => (
          <div
            key={plot.id}
            className={`mlops-plot${plot.images.length ? ' mlops-plot-wide' : ''}`}
            data-testid="mlops-compare-plot"
            data-plot-id={plot.id}
            data-runs={plot.runs.join(',')}
          >
            {(plot.images.length > 0 || plot.error) && (
              <div className="mlops-plot-title">{plot.id}</div>
            )}
            {plot.runs.length < data.runs.length && (
              <div className="mlops-muted mlops-plot-note">only in {plot.runs.join(', ')}</div>
            )}
            {plot.error && (
              <div className="mlops-error" data-testid="mlops-compare-plot-error">
                {plot.error}
              </div>
            )}
            {plot.spec && canDraw && rendermime && (
              <VegaChart spec={fitSpec(plot.spec, colorOf)} rendermime={rendermime} theme={theme} />
            )}
            {plot.images.length > 0 && <PlotImages plot={plot} path={path} colorOf={colorOf} />}
          </div>
        ))}
      </div>
    </section>
  );
}
