"""What the report says of torch threads and the subnormal flush, rendered from results that record them:
speeds are ranked only between runs timed at one thread count, and the environment says how many threads
each run took and why."""

from __future__ import annotations

import re
import shutil

from conftest import REPO_DIR, config_text, fixture_result, write_config

from report_builder.analysis.views import experiment_view
from report_builder.config import load_suite
from report_builder.findings.comparison import speed_unranked
from report_builder.analysis.environment import environment
from report_builder.report.render import render_report
from report_builder.results import store

SUITE = config_text("timing")
SPEC = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3, "run_factors": [1.0, 1.1, 0.9]}


def with_threads(result: dict, counts: list[int] | None, reason: str | None = None, setting="auto",
                 flush: bool | None = True, disturbed_counts: dict[int, int] | None = None) -> dict:
    """A fixture result whose epochs trained with `counts` threads (per epoch; epoch → count in
    disturbed_counts for epochs timed on a busy machine), started for `reason`."""
    for run in result["runs"]:
        for epoch in run["epochs"]:
            if counts is not None:
                epoch["threads"] = counts[epoch["epoch"] - 1]
            if disturbed_counts and epoch["epoch"] in disturbed_counts:
                epoch["threads"], epoch["timing_disturbed"] = disturbed_counts[epoch["epoch"]], True
        run["threads"] = run["epochs"][0].get("threads")
    if counts is not None:
        per_run = {"cpu_threads": counts[0], "threads_reason": reason, "flush_denormal": flush}
        result["provenance"].update(per_run, threads_setting=setting,
                                    repeat_provenance=[{"device_name": "CPU", **per_run}] * len(result["runs"]))
    return result


def results(tmp_path, base: dict, other: dict):
    config = write_config(tmp_path / "experiments.toml", SUITE)
    docs = {}
    for name, threads in (("base", base), ("other", other)):
        docs[name] = with_threads(fixture_result(config, name, seconds=2.0 if name == "base" else 1.0, **SPEC),
                                  **threads)
        store.write_result(tmp_path / "results", {k: v for k, v in docs[name].items() if k != "format"})
    return config, docs


def render(tmp_path, base: dict, other: dict) -> str:
    config, _ = results(tmp_path, base, other)
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False,
                  figure_files=False)  # the HTML alone: no figure files, no exports
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))


def views(tmp_path, base: dict, other: dict):
    _, docs = results(tmp_path, base, other)
    return [experiment_view(docs["base"]), experiment_view(docs["other"])]


TWO = {"counts": [2, 2, 2], "reason": "2 of 2 cores free"}
ONE = {"counts": [1, 1, 1], "reason": "1 of 2 cores free"}


def test_runs_timed_at_one_thread_count_are_ranked_by_speed(tmp_path):
    assert speed_unranked(views(tmp_path, TWO, TWO)) is None


def test_runs_timed_at_different_thread_counts_are_not_timed_alike(tmp_path):
    assert speed_unranked(views(tmp_path, TWO, ONE)) == "not_alike"


def test_an_experiment_whose_clean_epochs_changed_thread_count_is_not_timed_alike(tmp_path):
    assert speed_unranked(views(tmp_path, TWO, {"counts": [2, 1, 2], "reason": "2 of 2 cores free"})) == "not_alike"


def test_the_thread_count_of_a_disturbed_epoch_does_not_count(tmp_path):
    # its seconds are left out of every comparison anyway
    assert speed_unranked(views(tmp_path, TWO, {**TWO, "disturbed_counts": {2: 1}})) is None


def test_results_that_do_not_record_threads_are_compared_as_before(tmp_path):
    assert speed_unranked(views(tmp_path, {"counts": None}, {"counts": None})) is None


def test_the_report_names_each_experiments_threads_where_they_differ(tmp_path):
    html = render(tmp_path, TWO, ONE)
    # (speed-ups come from the timing rounds; these are the runs' own seconds per epoch)
    assert ("These runs' seconds were not measured alike: Base alone with 2 torch threads; "
            "Other alone with 1 torch thread.") in html


def test_the_environment_says_how_many_threads_and_why(tmp_path):
    html = render(tmp_path, TWO, ONE)
    assert "(2/1 torch threads: 2 of 2 cores free; 1 of 2 cores free)" in html
    assert ("Threads</dt><dd>Each run takes no more threads than the cores other work leaves free, decided as it "
            "starts and again after every epoch.") in html
    assert "Subnormal floats</dt><dd>Flushed to zero, so that a processor's slow path" in html


def test_a_pinned_count_is_not_said_to_fit_the_free_cores(tmp_path):
    pinned = {"counts": [2, 2, 2], "reason": "threads = 2 in [executor]", "setting": 2}
    html = render(tmp_path, pinned, pinned)
    assert "(2 torch threads: threads = 2 in [executor])" in html
    assert "other work leaves free" not in html


def test_a_processor_that_could_not_flush_is_named_as_such(tmp_path):
    html = render(tmp_path, TWO, {**ONE, "flush": False})
    assert "Subnormal floats</dt><dd>Not flushed to zero on every processor." in html
    assert "Flushed to zero" not in html


def test_results_without_thread_records_say_neither(tmp_path):
    html = render(tmp_path, {"counts": None}, {"counts": None})
    assert "(2 torch threads)" in html
    assert "other work leaves free" not in html and "subnormal" not in html


def test_one_thread_is_one_thread(tmp_path):
    html = render(tmp_path, ONE, ONE)
    assert "(1 torch thread: 1 of 2 cores free)" in html


def test_each_repeats_own_count_and_reason_are_listed(tmp_path):
    config = write_config(tmp_path / "experiments.toml", SUITE)
    doc = with_threads(fixture_result(config, "base", seconds=1.0, **SPEC), **TWO)
    doc["provenance"]["repeat_provenance"][2] = {"device_name": "CPU", "cpu_threads": 1,
                                                 "threads_reason": "1 of 2 cores free", "flush_denormal": True}
    env = environment([experiment_view(doc)])
    assert (env["cpu_threads"], env["thread_reasons"]) == ([2, 1], ["2 of 2 cores free", "1 of 2 cores free"])
