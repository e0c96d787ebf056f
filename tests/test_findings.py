"""Findings first: one computed sentence per group, from the same claims as claims.json, linked to its section."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import render_report



def findings(tmp_path: Path, other: list[float], repeats: int = 3, spread: float = 0.003) -> list[str]:
    """The Findings items of a report whose Other has these accuracies (one per epoch), seed r adding
    r × spread (Baseline's seeds add r × 0.002: per-seed differences vary unless spread is 0.002)."""
    config = write_config(tmp_path / "experiments.toml", config_text(
        "findings", defaults={"repeats": repeats}, experiments={"other": {"epochs": len(other)}}))
    write_fixture_results(config, tmp_path / "results", {
        "baseline": {"accuracies": [0.80, 0.84, 0.86], "repeats": repeats},
        "other": {"accuracies": other, "repeats": repeats, "spread": spread},
        "alone": {"accuracies": [0.7, 0.75, 0.78], "repeats": repeats}})
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    page = html.unescape(" ".join((tmp_path / "build" / "report.html").read_text(encoding="utf-8").split()))
    start = page.index('<section id="findings">')
    body = page[start:page.index("</section>", start)]
    return [item.split("</li>")[0] for item in body.split("<li>")[1:]]


def test_a_gap_beyond_seed_noise_is_found_with_its_numbers_and_section(tmp_path):
    group, solo = findings(tmp_path, [0.70, 0.75, 0.80])
    # per seed: 80.0 − 86.0, 80.3 − 86.2, 80.6 − 86.4 → −6.0, −5.9, −5.8 points: standard error 0.058, two decimals
    assert group.startswith("Other reached a final test accuracy of 80.30%, −5.90 points [−6.15, −5.65] against "
                            "Baseline (86.20%) over seeds 0, 1, 2, above it on 0 of 3: beyond seed noise (paired "
                            "t-test, Holm-adjusted p < 0.001 over this group's 1 comparison, at the 5% level).")
    assert group.endswith('(<a class="ref" href="#group-g">section 3</a>)')
    claims = json.loads((tmp_path / "build" / "claims.json").read_text())["claims"]
    assert group.split(" (<a")[0] == claims[0]["sentence"]


def test_a_gap_within_seed_noise_is_found_within_noise_with_what_the_design_detects(tmp_path):
    group, _ = findings(tmp_path, [0.80, 0.84, 0.8603], spread=0.02)
    # per seed: +0.03, +1.83, +3.63 points: mean 1.8, SD 1.8 → p ≈ 0.22
    assert "+1.8 points [" in group and "above it on 3 of 3: within seed noise (paired t-test, Holm-adjusted p = 0.2" \
        in group
    assert "this design detects" in group and "points or more" in group


def test_one_seed_gives_no_estimate_of_noise(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75, 0.80], repeats=1)
    assert group.startswith("Other reached a final test accuracy of 80.0%, −6.0 points against Baseline (86.0%) "
                            "over seed 0")
    assert "above it on 0 of 1: no test with 1 seed: 3 or more are needed." in group


def test_a_group_of_one_states_its_accuracy_and_spread(tmp_path):
    _, solo = findings(tmp_path, [0.70, 0.75, 0.80])
    assert solo.startswith("Solo group — Alone reached a final test accuracy of 78.2 ± 0.2% after 3 epochs "
                           "(seeds 0, 1, 2).")
    assert 'href="#group-solo">section 4</a>' in solo


def test_settings_with_different_epoch_counts_are_not_compared(tmp_path):
    group, _ = findings(tmp_path, [0.70, 0.75])
    assert group.startswith("Group — the settings ran for different numbers of epochs (2, 3), so their final "
                            "accuracies are not compared.")


def test_findings_come_first_and_are_in_the_contents_and_markdown(tmp_path):
    findings(tmp_path, [0.70, 0.75, 0.80])
    page = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    assert page.index('id="findings"') < page.index('id="environment"')
    assert '<p><a href="#findings">Findings</a></p>' in page
    markdown = (tmp_path / "build" / "report.md").read_text(encoding="utf-8")
    assert markdown.index("## Findings") < markdown.index("## 1. Environment")
    assert "- Solo group — Alone reached a final test accuracy of 78.2 ± 0.2% after 3 epochs" in markdown
