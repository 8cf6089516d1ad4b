"""The Models tab as a person uses it: real JupyterLab, real store, headless Chromium.

A project holds model `wine` with two versions, each logged with `mj.log_model` by a run that also
logged its metrics, `@champion` on v1 and v1 in Production. The Models tab lists the model with
its alias and stage; its versions show their stage, aliases, metrics and runs. Moving `champion`
to v2 from the sidebar moves the chip and the history says `champion 1 → 2`; promoting v2 to
Production with "archive existing" archives v1. A change made elsewhere (the CLI) shows up live;
a refused change shows the server's one line; a cookie-authenticated POST without the XSRF token
is refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import TOKEN, running_lab, screenshot
from .test_sidebar import menu

CLI = str(Path(sys.executable).parent / "mlops-jupyter")
XSS = "<img src=x onerror=alert(1)>"
LOG_MODELS = """
import mlops_jupyter as mj
from sklearn.datasets import load_wine
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
for depth in (1, 4):
    with mj.start_run(experiment="wine", stage="train"):
        mj.log_params({"max_depth": depth})
        model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X_train, y_train)
        predicted = model.predict(X_test)
        mj.log_metrics({"accuracy": accuracy_score(y_test, predicted),
                        "f1_macro": f1_score(y_test, predicted, average="macro")})
        mj.log_model(model, "model", registered_model_name="wine")
"""


def cli(root: Path, *args: str) -> str:
    result = subprocess.run([CLI, "-C", str(root), *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MLOPS_USER": "ana"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab on a project of its own holding model `wine` (v1, v2), with its own layout and
    settings (this test switches the theme)."""
    folder = tmp_path_factory.mktemp("lab-models")
    root = folder / "project"
    root.mkdir()
    cli(root, "init")
    subprocess.run([sys.executable, "-c", LOG_MODELS], cwd=root, check=True, timeout=300,
                   env={**os.environ, "MLOPS_JUPYTER_DIR": str(root), "MLOPS_USER": "ana"})
    cli(root, "models", "alias", "wine", "1", "champion")
    cli(root, "models", "stage", "wine", "1", "Production")
    cli(root, "models", "tag", "wine", f"note={XSS}")
    with running_lab(root, f"--LabApp.workspaces_dir={folder / 'workspaces'}",
                         f"--LabApp.user_settings_dir={folder / 'settings'}") as base:
        yield base, root


def open_lab(page, base: str):
    """JupyterLab with its layout restored (the splash screen gone), and the MLOps sidebar open.
    Its tab is clicked only when it is not the current one: clicking the current tab collapses
    the sidebar, and the restored layout may make it current a moment after the splash."""
    page.goto(f"{base}/lab?token={TOKEN}")
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=60_000)
    sidebar = page.get_by_test_id("mlops-sidebar")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="mlops-jupyter-sidebar"]')
    for _ in range(5):
        if sidebar.is_visible():
            break
        if "lm-mod-current" not in (tab.get_attribute("class") or ""):
            tab.click()
        page.wait_for_timeout(500)
    expect(sidebar).to_be_visible()
    return sidebar


def dismiss_news(page) -> None:
    """JupyterLab's question about news, over the corner."""
    no_news = page.get_by_role("button", name="No", exact=True)
    try:
        no_news.click(timeout=3_000)
    except Exception:  # not asked this time
        pass


def version_card(detail, number: int):
    return detail.locator(f'[data-testid="mlops-model-version"][data-version="{number}"]')


def chips(card):
    return card.get_by_test_id("mlops-model-alias-chip")


def test_models_tab_aliases_stages_and_history(lab, page):
    base, root = lab
    runs = {v["version"]: v["run_id"] for v in json.loads(cli(root, "models", "versions", "wine", "--json"))}
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sidebar = open_lab(page, base)
    sidebar.get_by_test_id("mlops-tab-models").click()
    expect(sidebar.get_by_test_id("mlops-tab-models")).to_have_attribute("aria-selected", "true")
    dismiss_news(page)

    # The list: the model, its alias and its version in Production.
    item = sidebar.locator('[data-testid="mlops-model-item"][data-model="wine"]')
    expect(item).to_contain_text("2 versions")
    expect(item.locator('[data-testid="mlops-model-alias-chip"][data-alias="champion"]')).to_contain_text("v1")
    expect(item.locator('[data-testid="mlops-model-stage-badge"][data-stage="Production"]')).to_contain_text("v1")
    screenshot(page, "21-models-list")

    # The model: versions newest first, each with its stage, aliases, metrics and run.
    item.click()
    detail = sidebar.get_by_test_id("mlops-model-detail")
    versions = detail.get_by_test_id("mlops-model-version")
    expect(versions).to_have_count(2)
    assert [versions.nth(i).get_attribute("data-version") for i in range(2)] == ["2", "1"]
    v1, v2 = version_card(detail, 1), version_card(detail, 2)
    expect(v1).to_have_attribute("data-stage", "Production")
    expect(v1.get_by_test_id("mlops-model-stage-badge")).to_have_text("Production")
    expect(v2.get_by_test_id("mlops-model-stage-badge")).to_have_text("no stage")
    expect(chips(v1)).to_have_count(1)
    expect(chips(v1)).to_contain_text("@champion")
    expect(chips(v2)).to_have_count(0)
    for card in (v1, v2):
        metrics = card.get_by_test_id("mlops-model-metrics")
        expect(metrics).to_contain_text("accuracy")
        expect(metrics).to_contain_text(re.compile(r"accuracy\s*0\.\d+"))
        expect(metrics).to_contain_text("f1_macro")
    expect(v2.get_by_test_id("mlops-model-version-run")).to_have_text(f"run {runs[2][:8]}")
    expect(detail.get_by_test_id("mlops-model-tag")).to_have_text(f"note={XSS}")  # a tag's text, as text
    expect(page.locator('img[src="x"]')).to_have_count(0)
    history = detail.get_by_test_id("mlops-model-history-entry")
    expect(history.nth(1)).to_contain_text("v1 None → Production")  # the newest: the tag
    screenshot(page, "22-model-versions")

    # Move @champion to v2 from the sidebar: the chip moves, the history says so.
    v2.click()  # the version acted on
    expect(detail.get_by_test_id("mlops-model-version-select")).to_have_value("2")
    detail.get_by_test_id("mlops-model-alias-input").fill("champion")
    detail.get_by_test_id("mlops-model-alias-set").click()
    expect(chips(v2)).to_have_count(1)
    expect(chips(v2)).to_contain_text("@champion")
    expect(chips(v1)).to_have_count(0)
    moved = history.filter(has_text="champion").first
    expect(history.first).to_contain_text("champion 1 → 2")
    expect(moved).to_have_attribute("data-action", "alias")
    expect(detail.get_by_test_id("mlops-model-notice")).to_have_text("@champion now names v2")
    detail.get_by_test_id("mlops-model-history").scroll_into_view_if_needed()
    screenshot(page, "23-model-alias-moved")

    # Promote v2 to Production, archiving v1 (there now).
    detail.get_by_test_id("mlops-model-stage-select").select_option("Production")
    detail.get_by_test_id("mlops-model-archive-existing").check()
    detail.get_by_test_id("mlops-model-stage-set").click()
    expect(v2).to_have_attribute("data-stage", "Production")
    expect(v1).to_have_attribute("data-stage", "Archived")
    expect(v1.get_by_test_id("mlops-model-stage-badge")).to_have_text("Archived")
    expect(history.nth(0)).to_contain_text("v1 Production → Archived")
    expect(history.nth(1)).to_contain_text("v2 None → Production")
    expect(detail.get_by_test_id("mlops-model-stage-set")).to_be_disabled()  # v2 is in Production already
    stored = {v["version"]: (v["stage"], v["aliases"]) for v in json.loads(cli(root, "models", "versions", "wine", "--json"))}
    assert stored == {2: ("Production", ["champion"]), 1: ("Archived", [])}
    detail.get_by_test_id("mlops-model-history").scroll_into_view_if_needed()
    screenshot(page, "24-model-promoted")

    # A change made elsewhere shows up without a reload; an alias is removed with its ×.
    cli(root, "models", "alias", "wine", "1", "challenger")
    expect(chips(v1)).to_have_count(1, timeout=10_000)
    expect(history.first).to_contain_text("challenger → 1")
    expect(history.first).to_contain_text("ana")
    chips(v1).get_by_test_id("mlops-model-alias-remove").click()
    expect(chips(v1)).to_have_count(0)
    expect(history.first).to_have_attribute("data-action", "alias removed")

    # A refused change: the server's one line, nothing changed.
    detail.get_by_test_id("mlops-model-alias-input").fill("latest")
    detail.get_by_test_id("mlops-model-alias-set").click()
    error = detail.get_by_test_id("mlops-model-action-error")
    expect(error).to_contain_text("reserved")
    expect(chips(v2)).to_have_count(1)
    screenshot(page, "25-model-refused")

    # The run that made v2 opens in the run detail view.
    v2.get_by_test_id("mlops-model-version-run").click()
    run_view = page.locator(f'[data-testid="mlops-run-detail"][data-run-id="{runs[2]}"]')
    expect(run_view).to_be_visible()
    expect(run_view.get_by_test_id("mlops-detail-metrics")).to_contain_text("accuracy")
    expect(run_view.get_by_test_id("mlops-detail-params")).to_contain_text("max_depth")
    screenshot(page, "26-model-run")

    # The list follows: @champion and Production are on v2 now.
    detail.get_by_test_id("mlops-model-back").click()
    expect(item.locator('[data-testid="mlops-model-alias-chip"][data-alias="champion"]')).to_contain_text("v2")
    expect(item.locator('[data-testid="mlops-model-stage-badge"][data-stage="Production"]')).to_contain_text("v2")
    expect(item.locator('[data-testid="mlops-model-stage-badge"][data-stage="Archived"]')).to_contain_text("v1")

    # A browser's POST with its login cookie but without the XSRF token is refused.
    status = page.evaluate("""async () => (await fetch('/mlops-jupyter/models/wine/aliases', {
        method: 'POST', body: JSON.stringify({alias: 'champion', version: 1}), credentials: 'same-origin'})).status""")
    assert status == 403
    assert cli(root, "models", "ls", "--json").count('"champion": 2') == 1
    assert dialogs == []


def test_models_tab_in_the_dark_theme(lab, page):
    base, _ = lab
    sidebar = open_lab(page, base)
    menu(page, "Settings", "Theme")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=30_000)
    dismiss_news(page)
    sidebar.get_by_test_id("mlops-tab-models").click()
    sidebar.locator('[data-testid="mlops-model-item"][data-model="wine"]').click()
    detail = sidebar.get_by_test_id("mlops-model-detail")
    expect(detail.get_by_test_id("mlops-model-version")).to_have_count(2)
    screenshot(page, "27-models-dark")
    badge = detail.locator('[data-testid="mlops-model-version"][data-version="2"] [data-testid="mlops-model-stage-badge"]')
    colors = badge.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b.closest('.mlops-sidebar')).backgroundColor]")
    assert colors[0] != colors[1]
    menu(page, "Settings", "Theme")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Light$")).click()
    expect(page.locator("body[data-jp-theme-light='true']")).to_have_count(1, timeout=30_000)
