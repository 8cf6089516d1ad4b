"""The ipywidgets views: a paged, sortable, filterable table of runs or experiments, and the
comparison of a few of them. Each page is read from the store as it is shown (the browser never
holds more than one page); every view also carries a static HTML copy of itself for frontends
without a widget manager."""

from __future__ import annotations

import re
import threading
from html import escape

import ipywidgets as w

from ..core import report
from ..core.errors import MlopsError
from . import html, live
from .base import Static
from .source import Page, Query, Source

_PLAIN_KEY = re.compile(r"[\w.\-/]+")
# A column of the table -> the field ``order_by`` sorts it by.
_FIELD_OF = {"run": "run_id", "stage": "stage", "status": "status", "started": "start_time", "duration": "duration"}


def _order_field(column: str) -> str:
    if column in _FIELD_OF:
        return _FIELD_OF[column]
    prefix, _, key = column.partition(".")
    return column if _PLAIN_KEY.fullmatch(key) else f"{prefix}.`{key}`"


class RunsView(Static, w.VBox):
    """Runs or experiments, one page at a time: a filter box, headers that sort (click again to
    reverse), paging, a checkbox per row and Compare for the selected rows."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source
        self.add_class("mlops-runs-view")
        self._lock = threading.RLock()
        self._version: str | None = None
        self._page: Page | None = None
        self.selected: list[str] = []  # full run ids, in the order they were ticked (kept across pages)
        self.filter_box = w.Text(value=source.query.filter or "", continuous_update=False,
                                 placeholder="filter, e.g. metrics.accuracy > 0.9 and params.train.n_est < 200",
                                 layout=w.Layout(width="100%"))
        self.filter_box.add_class("mlops-filter")
        self.filter_box.observe(self._on_filter, "value")
        self.message = w.HTML()
        self.grid = w.GridBox(layout=w.Layout(overflow="auto", grid_gap="0px 0px", width="100%"))
        self.grid.add_class("mlops-grid")
        self.previous = w.Button(description="‹ Newer", layout=w.Layout(width="auto"))
        self.following = w.Button(description="Older ›", layout=w.Layout(width="auto"))
        self.position = w.HTML()
        self.reload = w.Button(icon="refresh", tooltip="Read the store again", layout=w.Layout(width="36px"))
        self.compare_button = w.Button(description="Compare selected", disabled=True, button_style="primary",
                                       layout=w.Layout(width="auto"))
        self.compare_button.add_class("mlops-compare")
        self.comparison = w.VBox()
        self.previous.on_click(lambda _: self._move(-1))
        self.following.on_click(lambda _: self._move(1))
        self.reload.on_click(lambda _: self.refresh())
        self.compare_button.on_click(lambda _: self.show_comparison())
        bar = w.HBox([self.previous, self.following, self.position, self.reload, self.compare_button],
                     layout=w.Layout(align_items="center", flex_flow="row wrap"))
        self.children = [self.filter_box, self.message, self.grid, bar, self.comparison]
        self.refresh()
        live.watch(self)

    # --- reading ------------------------------------------------------------------------------

    def refresh(self) -> None:
        with self._lock:
            self._version = self.source.version()
            try:
                self._page = self.source.page()
            except MlopsError as e:  # a bad filter or sort: one line, the last good page stays
                self.message.value = f'<span style="color:{html.WORSE}">{escape(str(e))}</span>'
                return
            self.message.value = ""
            self._draw()

    def refresh_if_changed(self) -> None:
        if self.source.version() != self._version:
            self.refresh()

    # --- drawing ------------------------------------------------------------------------------

    def _columns(self) -> list[str]:
        return report.flat_columns(self._page.rows, tags=False) if self._page else []

    def _draw(self) -> None:
        page, query = self._page, self.source.query
        columns = self._columns()
        sorted_field, descending = _sorted(query.order_by)
        headers = [w.HTML("", layout=w.Layout(width="28px"))]
        for column in [*html.FIELDS, *columns]:
            field = _order_field(column)
            arrow = (" ▼" if descending else " ▲") if field == sorted_field else ""
            button = w.Button(description=report.shorten(column, 24) + arrow, tooltip=f"sort by {column}",
                              layout=w.Layout(width="auto", margin="0"))
            button.add_class("mlops-sort")
            button.on_click(lambda _, field=field: self.sort_by(field))
            headers.append(button)
        cells = []
        for row in page.rows:
            box = w.Checkbox(value=row.run.id in self.selected, indent=False, layout=w.Layout(width="28px", margin="0"))
            box.observe(lambda change, run_id=row.run.id: self._tick(run_id, change["new"]), "value")
            cells.append(box)
            for text in html.run_cells(row, columns):
                cell = w.HTML(escape(text), layout=w.Layout(margin="0", padding="0 8px"))
                cell.add_class("mlops-cell")
                cells.append(cell)
        self.grid.layout.grid_template_columns = f"28px repeat({len(headers) - 1}, max-content)"
        self.grid.children = [*headers, *cells]
        first = query.offset + 1 if page.rows else 0
        self.position.value = f"&nbsp;{first}–{query.offset + len(page.rows)} of {page.total} {self.source.kind}&nbsp;"
        self.previous.disabled = query.offset == 0
        self.following.disabled = query.offset + len(page.rows) >= page.total
        self._update_compare_button()

    def static_html(self) -> str:
        with self._lock:
            if self._page is None:
                return ""
            query = self.source.query
            caption = f"{query.offset + 1 if self._page.rows else 0}–{query.offset + len(self._page.rows)} of " \
                      f"{self._page.total} {self.source.kind}" + (f" · filter: {query.filter}" if query.filter else "")
            comparison = self.comparison.children[0].static_html() if self.comparison.children else ""
            return html.table(self._page.rows, self._columns(), caption) + comparison

    # --- actions ------------------------------------------------------------------------------

    def sort_by(self, field: str) -> None:
        current, descending = _sorted(self.source.query.order_by)
        descending = not descending if current == field else True
        self.source.query.order_by = f"{field} {'DESC' if descending else 'ASC'}"
        self.source.query.offset = 0
        self.refresh()

    def set_filter(self, text: str) -> None:
        self.filter_box.value = text  # observed: refreshes

    def _on_filter(self, change) -> None:
        previous = self.source.query.filter
        self.source.query.filter = change["new"].strip() or None
        self.source.query.offset = 0
        self.refresh()
        if self.message.value:  # refused: keep the page and the filter it was made with
            self.source.query.filter = previous

    def _move(self, pages: int) -> None:
        query = self.source.query
        query.offset = max(0, query.offset + pages * query.page_size)
        self.refresh()

    def _tick(self, run_id: str, on: bool) -> None:
        if on and run_id not in self.selected:
            self.selected.append(run_id)
        elif not on and run_id in self.selected:
            self.selected.remove(run_id)
        self._update_compare_button()

    def _update_compare_button(self) -> None:
        count = len(self.selected)
        self.compare_button.disabled = count < 2
        self.compare_button.description = f"Compare {count} selected" if count >= 2 else "Compare selected"

    def show_comparison(self) -> None:
        if len(self.selected) >= 2:
            self.comparison.children = [CompareView(Source(self.source.kind, Query(project=self.source.query.project)),
                                                    self.selected)]


def _sorted(order_by: str | None) -> tuple[str | None, bool]:
    """The field a view is sorted by and whether downwards (newest first when unsorted)."""
    if not order_by:
        return "start_time", True
    field, _, direction = order_by.strip().rpartition(" ")
    if direction.upper() in ("ASC", "DESC"):
        return field, direction.upper() == "DESC"
    return order_by.strip(), False


class CompareView(Static, w.VBox):
    """A few runs (or experiments) side by side: params and metrics with their change against the
    first, only the rows that differ unless told, a metric's history over steps, and their plots
    overlaid (the same plot of each run in one chart, as ``plots diff``)."""

    def __init__(self, source: Source, run_ids: list[str]):
        super().__init__()
        self.add_class("mlops-compare-view")
        self.source = source
        self.runs = [source.get(run_id) for run_id in run_ids]
        self.only_changed = w.Checkbox(value=True, description="only rows that differ", indent=False)
        self.only_changed.observe(lambda _: self._draw_table(), "value")
        self.table = w.HTML()
        self.table.add_class("mlops-diff")
        stepped = self._metrics_with_history()
        self.metric = w.Dropdown(options=stepped, value=stepped[0] if stepped else None, description="history",
                                 layout=w.Layout(width="320px"))
        self.metric.observe(lambda _: self._draw_chart(), "value")
        self.chart = w.HTML()
        self.chart.add_class("mlops-history")
        labels = [f"{run.run.stage or 'run'} {run.run.id[:8]}" for run in self.runs]
        views = source.plot_views([run.run.id for run in self.runs], labels)
        self.plots = w.HTML(html.plot_views(views) if views else "")
        self.plots.add_class("mlops-compare-plots")
        self.children = [w.HTML(f"<b>Compare</b> {escape(', '.join(labels))}"), self.only_changed, self.table,
                         *([self.metric, self.chart] if stepped else []), *([self.plots] if views else [])]
        self._draw_table()
        self._draw_chart()

    def _draw_table(self) -> None:
        self.table.value = html.comparison(self.runs, only_changed=self.only_changed.value)

    def _sources_of(self, key: str) -> list[tuple[str, str]]:
        """Per compared row: (run id, metric key) of the run that logged ``key`` (an experiment's
        ``STAGE/KEY`` is its upstream run of that stage; a plain key its own run's or the one
        upstream run holding it)."""
        found = []
        for row in self.runs:
            upstream = getattr(row, "upstream", ())
            stage, _, name = key.rpartition("/")
            owner = next((u.run_id for u in upstream if stage and u.stage == stage), None) if stage else None
            if owner:
                found.append((owner, name))
            else:
                candidates = [row.run.id, *(u.run_id for u in upstream)]
                found.append((next(iter(self._holders(candidates, key)), row.run.id), key))
        return found

    def _holders(self, run_ids: list[str], key: str) -> list[str]:
        histories = self.source.histories(run_ids, key)
        return [run_id for run_id in run_ids if histories[run_id]]

    def _metrics_with_history(self) -> list[str]:
        keys = sorted({key for run in self.runs for key in run.metrics})
        stepped = []
        for key in keys:
            points = self._points(key)
            if any(len(series) > 1 for series in points.values()):
                stepped.append(key)
        return stepped

    def _points(self, key: str) -> dict[str, list]:
        series = {}
        for row, (run_id, name) in zip(self.runs, self._sources_of(key)):
            series[f"{row.run.stage or 'run'} {row.run.id[:8]}"] = self.source.histories([run_id], name)[run_id]
        return series

    def _draw_chart(self) -> None:
        if self.metric.value is None:
            self.chart.value = ""
            return
        self.chart.value = html.svg(html.history_spec(self._points(self.metric.value), self.metric.value))

    def static_html(self) -> str:
        return (self.children[0].value + self.table.value + (self.chart.value if self.metric.value else "")
                + self.plots.value)
