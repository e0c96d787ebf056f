"""Accessible, standards-clean output: the HTML passes axe-core (WCAG 2.0/2.1 A and AA, best practices) and
html-validate; the PDF is tagged (PDF/UA-1) with figures' alt text, table headers, title, language and
bookmarks; every figure is described in words and numbers, with its data one click away."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import pdf_available, render_report

A11Y_DIR = REPO_DIR / "tests" / "a11y"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"

SUITE = config_text("accessibility")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("a11y")
    (folder / "ref.csv").write_text("experiment,epoch,test_accuracy,train_seconds\nbase,3,0.862,20.0\n")
    config = write_config(folder / "experiments.toml", SUITE)
    three = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3}
    write_fixture_results(config, folder / "results", {
        "base": {**three, "seconds": 2.0}, "sgd": {"accuracies": [0.7, 0.75, 0.79], "repeats": 3, "seconds": 1.5},
        "probed": {**three, "probes": {"relu_active": [1000, 800, 600], "relu_grad_sq": [1.0, 0.85, 0.744]}}})
    render_report(load_suite(config), folder / "results", folder / "build", REPO_DIR / "templates",
                  pdf=pdf_available())
    return folder / "build"


def tools_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(CHROMIUM).exists():
        return "Chromium is not installed (Debian: apt install chromium)"
    if not (A11Y_DIR / "node_modules" / "axe-core").is_dir():
        return "the checkers are not installed (cd tests/a11y && npm ci)"
    return None


def need_tools():
    why = tools_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the accessibility checks: {why}")
        pytest.skip(f"accessibility checks need node, Chromium and tests/a11y's packages: {why}")


def test_html_has_no_axe_core_violations(report):
    need_tools()
    done = subprocess.run(["node", "check.mjs", str(report / "report.html"), CHROMIUM], cwd=A11Y_DIR,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["violations"] == [] and result["passes"] > 20


def test_html_validates(report):
    need_tools()
    done = subprocess.run(["node", "node_modules/html-validate/bin/html-validate.mjs", str(report / "report.html")],
                          cwd=A11Y_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_every_figure_is_described_with_its_numbers(report):
    html = (report / "report.html").read_text()
    alts = [" ".join(a.split()) for a in re.findall(r'<img class="plot" src="[^"]+" alt="([^"]*)"', html)]
    assert alts and all(a for a in alts)
    assert "Line chart of test accuracy per epoch. Baseline rises from 80.2% to 86.2%; SGD rises from 70.2% to 79.2%." \
           in alts
    assert any(a.startswith("Bar chart of training seconds per epoch: Baseline 2.00 s; SGD 1.50 s") for a in alts)
    assert any("Active ReLU inputs (count): Probed falls from 1,000 to 600" in a for a in alts)


def test_the_data_behind_each_figure_is_one_click_away(report):
    html = (report / "report.html").read_text()
    assert html.count('<details class="figure-data">') == html.count('<img class="plot"')
    data = html[html.index("<summary>Data of Figure 1</summary>"):]
    assert "<th scope=\"col\">Baseline: test accuracy</th>" in data[:2000] and "0.862" in data[:3000]


@pytest.mark.skipif(not pdf_available(), reason="WeasyPrint is not installed")
def test_pdf_is_tagged_with_alt_text_table_headers_title_language_and_bookmarks(report):
    import pikepdf

    pdf = pikepdf.open(report / "report.pdf")
    root = pdf.Root
    assert bool(root.MarkInfo.Marked) and str(root.Lang) == "en" and str(pdf.docinfo.Title) == "Accessibility fixture"
    tags, alts = {}, []

    def walk(node):
        if isinstance(node, pikepdf.Array):
            for kid in node:
                walk(kid)
        elif isinstance(node, pikepdf.Dictionary):
            if "/S" in node:
                tags[str(node.S)] = tags.get(str(node.S), 0) + 1
                if str(node.S) == "/Figure":
                    alts.append(str(node.get("/Alt", "")))
            if "/K" in node:
                walk(node.K)

    walk(root.StructTreeRoot)
    assert tags.get("/Figure") == len(alts) > 0 and all("chart" in a for a in alts)
    assert tags.get("/TH", 0) > 10 and tags.get("/Table", 0) > 3 and tags.get("/H2", 0) > 3
    with pdf.open_outline() as outline:
        (top,) = outline.root  # the title, with a bookmark per section under it
        titles = [item.title for item in top.children]
    assert top.title == "Accessibility fixture" and "1. Environment" in titles
