"""Running a suite: results on disk, the summary contract, and the cache that skips finished work."""

from __future__ import annotations

import io
import json

import pandas as pd
from conftest import write_config

from report_builder.config import load_suite
from report_builder.execution.runner import run_suite
from report_builder.progress import Progress
from report_builder.results import store


def run(config_path, results_dir, names=(), force=False) -> list[str]:
    stream = io.StringIO()
    run_suite(load_suite(config_path), list(names), results_dir, force=force, progress=Progress(stream, bars=False))
    return stream.getvalue().splitlines()


def test_results_file_holds_config_runs_and_provenance(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    result = json.loads((tmp_path / "results" / "sgd.json").read_text())
    assert result["status"] == "done" and result["config"]["optimizer"] == "sgd"
    assert [e["epoch"] for e in result["runs"][0]["epochs"]] == [1, 2]
    provenance = result["provenance"]
    for key in ("torch_version", "device_name", "cpu_model", "git_commit", "git_dirty", "started_at",
                "finished_at", "wall_seconds"):
        assert key in provenance
    assert provenance["device_name"] == "CPU"


def test_summary_csv_has_one_row_per_experiment_repeat_epoch(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results")
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    for column in ("experiment", "repeat", "epoch", "train_loss", "test_loss", "test_accuracy",
                   "train_seconds", "eval_seconds", "relu_grad_sq", "relu_active"):
        assert column in summary.columns
    assert len(summary) == 2 * 2
    assert list(summary["experiment"].unique()) == ["baseline", "sgd"]


def test_repeats_are_rows_with_successive_seeds(tiny_config, tmp_path):
    config = tiny_config.read_text().replace('[experiments.sgd]', '[experiments.sgd]\nrepeats = 2\nseed = 4')
    write_config(tiny_config, config)
    run(tiny_config, tmp_path / "results", ["sgd"])
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert sorted(set(zip(summary["repeat"], summary["seed"]))) == [(0, 4), (1, 5)]


def test_second_run_is_cached(tiny_config, tmp_path):
    first = run(tiny_config, tmp_path / "results", ["sgd"])
    before = (tmp_path / "results" / "sgd.json").read_bytes()
    second = run(tiny_config, tmp_path / "results", ["sgd"])
    assert first[0] == "sgd: running, no results yet"
    assert second == ["sgd: cached"]
    assert (tmp_path / "results" / "sgd.json").read_bytes() == before


def test_force_reruns(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    lines = run(tiny_config, tmp_path / "results", ["sgd"], force=True)
    assert lines[0] == "sgd: re-run, --force"


def test_changed_setting_reruns_and_says_why(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    write_config(tiny_config, tiny_config.read_text().replace("lr = 0.05", "lr = 0.01"))
    lines = run(tiny_config, tmp_path / "results", ["sgd"])
    assert lines[0] == "sgd: re-run, lr changed 0.05 → 0.01"


def test_title_change_alone_does_not_rerun(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    write_config(tiny_config, tiny_config.read_text().replace('title = "SGD"', 'title = "Plain SGD"'))
    assert run(tiny_config, tmp_path / "results", ["sgd"]) == ["sgd: cached"]


def test_failed_experiment_does_not_stop_the_others(tiny_config, tmp_path):
    # hidden so large that allocating the model fails: a real error inside training
    write_config(tiny_config, tiny_config.read_text().replace('title = "Baseline"', 'hidden = 100000000000'))
    lines = run(tiny_config, tmp_path / "results")
    assert any(line.startswith("baseline: FAILED:") for line in lines)
    assert store.read_result(tmp_path / "results" / "sgd.json")["status"] == "done"
    failed = store.read_result(tmp_path / "results" / "baseline.json")
    assert failed["status"] == "failed" and failed["error"]


def test_failed_experiment_is_retried_next_time(tiny_config, tmp_path):
    write_config(tiny_config, tiny_config.read_text().replace('title = "Baseline"', 'hidden = 100000000000'))
    run(tiny_config, tmp_path / "results", ["baseline"])
    lines = run(tiny_config, tmp_path / "results", ["baseline"])
    assert lines[0] == "baseline: re-run, previous run failed"


def test_damaged_results_file_is_rerun(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    (tmp_path / "results" / "sgd.json").write_text('{"format": 1, "experi')
    lines = run(tiny_config, tmp_path / "results", ["sgd"])
    assert lines[0].startswith("sgd: re-run, previous run damaged")
    assert store.read_result(tmp_path / "results" / "sgd.json")["status"] == "done"


def test_writes_leave_no_temporary_files(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results")
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [".lock", "baseline.json", "sgd.json",
                                                                        "summary.csv"]


def test_results_edited_by_hand_are_run_again(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    path = tmp_path / "results" / "sgd.json"
    result = json.loads(path.read_text())
    result["runs"][0]["epochs"][-1]["test_accuracy"] = 0.99
    path.write_text(json.dumps(result))
    again = run(tiny_config, tmp_path / "results", ["sgd"])
    assert again[0] == "sgd: re-run, its numbers were edited after the run (the digest written with them does not match)"
    assert json.loads(path.read_text())["runs"][0]["epochs"][-1]["test_accuracy"] != 0.99


def test_summary_booleans_are_true_and_false(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    text = (tmp_path / "results" / "summary.csv").read_text()
    assert ",false," in text and "False" not in text
    assert pd.read_csv(tmp_path / "results" / "summary.csv")["diverged"].dtype == bool


def test_list_shows_a_diverged_experiment_as_diverged(tiny_config, tmp_path):
    from report_builder.results.status import describe

    write_config(tiny_config, tiny_config.read_text().replace("lr = 0.05", "lr = 1e20"))
    run(tiny_config, tmp_path / "results", ["sgd"])
    (line,) = [line for line in describe(load_suite(tiny_config), tmp_path / "results") if line.startswith("sgd ")]
    assert "diverged" in line


def test_the_git_commit_is_the_codes_even_with_an_experiments_file_elsewhere(tiny_config, tmp_path):
    import subprocess

    from conftest import REPO_DIR

    run(tiny_config, tmp_path / "results", ["sgd"])  # tiny_config lives in a temporary folder, not a checkout
    commit = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode != 0:
        import pytest

        pytest.skip("the code is not a git checkout here")
    assert json.loads((tmp_path / "results" / "sgd.json").read_text())["provenance"]["git_commit"] == commit.stdout.strip()


def test_an_experiments_start_line_comes_when_its_training_starts(tiny_config, tmp_path):
    lines = run(tiny_config, tmp_path / "results")
    assert [line.split(" in ")[0] for line in lines] == [
        "baseline: running, no results yet", "baseline: done", "sgd: running, no results yet", "sgd: done"]


def test_cached_experiments_are_said_before_any_training(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "results", ["sgd"])
    lines = run(tiny_config, tmp_path / "results")
    assert [line.split(" in ")[0] for line in lines] == ["sgd: cached", "baseline: running, no results yet",
                                                         "baseline: done"]
