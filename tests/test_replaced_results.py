"""A result replaced by the same numbers timed anew is no change (history keeps nothing), and "What
changed" says how two results' seeds differ in the words of a comparison, not in `run`'s."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import render_report
from report_builder.results import history

def write(project: Path, repeats: int = 2, seconds: float = 1.0, other: tuple = (0.70, 0.75)) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    config = write_config(project / "experiments.toml", config_text("replaced_results", defaults={"repeats": repeats}))
    write_fixture_results(config, project / "results", {
        "baseline": {"accuracies": [0.80, 0.84], "repeats": repeats, "seconds": seconds},
        "other": {"accuracies": list(other), "repeats": repeats, "seconds": seconds}})
    return config


def what_changed(project: Path, compare: Path | None = None) -> str:
    if not (project / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", project / "templates")
    render_report(load_suite(project / "experiments.toml"), project / "results", project / "build",
                  project / "templates", pdf=False, compare_dir=compare)
    page = html.unescape(" ".join((project / "build" / "report.html").read_text(encoding="utf-8").split()))
    start = page.find('<section id="what-changed">')
    return page[start:page.index("</section>", start)] if start >= 0 else ""


def test_the_same_numbers_timed_again_are_no_change(tmp_path):
    write(tmp_path, seconds=1.0)
    write(tmp_path, seconds=3.0)
    assert history.entries(tmp_path / "results", "other") == []
    assert what_changed(tmp_path) == ""


def test_other_numbers_are_a_change_whatever_the_seconds(tmp_path):
    write(tmp_path, seconds=1.0)
    write(tmp_path, seconds=1.0, other=(0.70, 0.77))
    assert len(history.entries(tmp_path / "results", "other")) == 1


def test_seeds_added_since_the_replaced_result_are_said_to_be_added(tmp_path):
    write(tmp_path, repeats=2)
    write(tmp_path, repeats=3)
    text = what_changed(tmp_path)
    assert "repeats changed 2 → 3; seed 2 added" in text
    assert "not run yet" not in text


def test_against_a_compare_folder_seeds_are_said_to_be_only_here_or_only_there(tmp_path):
    write(tmp_path / "old", repeats=3)
    write(tmp_path / "new", repeats=2)
    text = what_changed(tmp_path / "new", compare=tmp_path / "old" / "results")
    assert f"repeats changed 3 → 2; seed 2 only in {tmp_path / 'old' / 'results'}" in text
    assert "no longer declared" not in text
