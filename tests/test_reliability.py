"""Nothing lost on a crash, no stale or mixed results, and every bad input answered in one clear message."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import (EVENT_TIMEOUT, REPO_DIR, RUN_TIMEOUT, config_text, readline_within, spawn, write_config,
                      write_dataset)

from report_builder.cli import main
from report_builder.errors import OutputError
from report_builder.results import store


def slow_suite(tmp_path, second_epochs: int = 40, repeats: int = 1):
    """`first` finishes in a moment; `second` trains for seconds — long enough to be interrupted."""
    data_dir = write_dataset(tmp_path / "data", n_train=1024, n_test=64)
    text = config_text("slow", defaults={"data_dir": str(data_dir)},
                       experiments={"second": {"epochs": second_epochs, "repeats": repeats}})
    return write_config(tmp_path / "experiments.toml", text)


def start(config, results_dir, *extra, signal_at: tuple[str, int, str] | None = None):
    """The CLI's `run` in a process of its own; with signal_at = (task, step, signal), the run sends itself
    that signal once that repeat has trained that many steps (tests/signal_at_step.py)."""
    # spawn: the CLI sees Ctrl-C as a terminal user's process would (SIGINT restored, even when the tests run
    # as a background job), and it is ended with the test, however the test ends.
    program = ["-m", "report_builder"] if signal_at is None else \
        [str(REPO_DIR / "tests" / "signal_at_step.py"), *map(str, signal_at), "--"]
    return spawn([sys.executable, *program, "run", "--config", str(config), "--results-dir", str(results_dir), *extra],
                 cwd=REPO_DIR, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_line(process, prefix: str, timeout: float = RUN_TIMEOUT) -> list[str]:
    """Read the process's stderr until a line starts with `prefix` (lines that come after training: RUN_TIMEOUT);
    return the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = readline_within(process.stderr, max(0.0, deadline - time.monotonic()))
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line starting with {prefix!r}; got {lines}")


def run_cli(*args) -> int:
    return main(list(map(str, args)))


@pytest.mark.slow  # the CLI as a process
def test_kill_9_mid_experiment_loses_nothing_finished_and_rerun_completes(tmp_path):
    # SIGKILL in second's second epoch of three (128 steps an epoch), once first is done
    config, results = slow_suite(tmp_path, second_epochs=3), tmp_path / "results"
    process = start(config, results, signal_at=("second[0]", 192, "KILL"))
    wait_for_line(process, "first: done")
    first_before = (results / "first.json").read_bytes()
    process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == -signal.SIGKILL
    assert not (results / "second.json").exists()  # nothing that could pass for a finished result
    assert (results / "first.json").read_bytes() == first_before
    assert store.read_result(results / "first.json")["status"] == "done"

    rerun = start(config, results)
    out = rerun.communicate(timeout=RUN_TIMEOUT)[1].splitlines()
    assert rerun.returncode == 0
    assert out[0] == "first: cached" and out[1] == "second: running, no results yet"
    assert store.read_result(results / "second.json")["status"] == "done"
    assert not list(results.glob(".*.tmp"))


@pytest.mark.parametrize("sent, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.slow  # the CLI as a process
def test_interrupt_ends_with_one_line_and_nonzero_status(tmp_path, sent, status):
    config, results = slow_suite(tmp_path), tmp_path / "results"
    process = start(config, results)
    wait_for_line(process, "first: done")
    process.send_signal(sent)
    err = process.communicate(timeout=EVENT_TIMEOUT)[1]
    assert process.returncode == status
    assert err.strip().splitlines()[-1].startswith("interrupted: finished experiments and repeats are saved")
    assert "Traceback" not in err
    assert store.read_result(results / "first.json")["status"] == "done"


@pytest.mark.slow  # the CLI as a process
def test_killed_run_resumes_at_the_repeat_where_it_stopped(tmp_path):
    config, results = slow_suite(tmp_path, second_epochs=2, repeats=2), tmp_path / "results"
    # alone, the repeats finish one by one; SIGKILL in the second repeat's second epoch
    process = start(config, results, "second", "--no-stack", signal_at=("second[1]", 192, "KILL"))
    wait_for_line(process, "second: repeat 1 of 2 done (seed 0)")
    process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == -signal.SIGKILL
    partial = store.read_result(results / "second.json")
    assert partial["status"] == "partial" and len(partial["runs"]) == 1

    rerun = start(config, results, "second", "--no-stack")
    err = rerun.communicate(timeout=RUN_TIMEOUT)[1].splitlines()
    assert rerun.returncode == 0
    assert err[0] == "second: resuming, 1 of 2 repeats already done"
    resumed = store.read_result(results / "second.json")
    assert resumed["status"] == "done" and [r["seed"] for r in resumed["runs"]] == [0, 1]
    assert resumed["runs"][0] == partial["runs"][0]


def summary_agrees_with_results(results) -> None:
    """summary.csv holds exactly the rows of the finished results files, nothing older or newer."""
    frames = [pd.DataFrame(store.summary_rows(store.read_result(path)), columns=store.SUMMARY_COLUMNS)
              for path in sorted(results.glob("*.json")) if store.read_result(path)["status"] == "done"]
    expected = pd.concat(frames).sort_values(["experiment", "repeat", "epoch"]).reset_index(drop=True)
    written = pd.read_csv(results / "summary.csv").sort_values(["experiment", "repeat", "epoch"]).reset_index(drop=True)
    assert written[["experiment", "seed", "epoch"]].values.tolist() == expected[["experiment", "seed", "epoch"]].values.tolist()
    assert written["test_accuracy"].tolist() == pytest.approx(expected["test_accuracy"].astype(float).tolist())


@pytest.mark.slow  # the CLI as a process
def test_interrupted_force_rerun_keeps_the_complete_result_published(tmp_path, capsys):
    config, results = slow_suite(tmp_path, second_epochs=2, repeats=2), tmp_path / "results"
    assert run_cli("run", "--config", config, "--results-dir", results, "--no-stack") == 0
    complete = (results / "second.json").read_bytes()
    # alone, the repeats finish one by one; Ctrl-C in the second repeat's second epoch
    process = start(config, results, "second", "--force", "--no-stack", signal_at=("second[1]", 192, "INT"))
    wait_for_line(process, "second: repeat 1 of 2 done (seed 0)")
    process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 130
    assert (results / "second.json").read_bytes() == complete
    summary_agrees_with_results(results)
    capsys.readouterr()
    assert run_cli("render", "--config", config, "--results-dir", results, "--build-dir", tmp_path / "b",
                   "--no-pdf") == 0


@pytest.mark.slow  # the CLI as a process
def test_summary_agrees_with_results_after_an_interrupted_first_run(tmp_path):
    config, results = slow_suite(tmp_path), tmp_path / "results"
    process = start(config, results)
    wait_for_line(process, "first: done")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    summary_agrees_with_results(results)


def test_partial_results_are_not_rendered_as_finished(tmp_path, capsys):
    config, results = slow_suite(tmp_path, second_epochs=1, repeats=2), tmp_path / "results"
    run_cli("run", "--config", config, "--results-dir", results)
    done = store.read_result(results / "second.json")
    (results / "second.json").write_text(json.dumps({**done, "status": "partial", "runs": done["runs"][:1]}))
    capsys.readouterr()
    status = run_cli("render", "--config", config, "--results-dir", results, "--build-dir", tmp_path / "b", "--no-pdf")
    assert status == 2
    assert "second: unfinished (1 of 2 repeats)" in capsys.readouterr().err


@pytest.mark.slow  # the CLI as a process
def test_second_run_on_same_results_waits_for_the_first(tmp_path):
    config, results = slow_suite(tmp_path, second_epochs=3), tmp_path / "results"
    first = start(config, results)
    wait_for_line(first, "first: running")
    # Paused while holding the lock, the first run cannot finish before the second asks for it, however
    # slow the machine makes the second's start-up.
    first.send_signal(signal.SIGSTOP)
    second = start(config, results)
    err = wait_for_line(second, "waiting:")
    first.send_signal(signal.SIGCONT)
    err += second.communicate(timeout=RUN_TIMEOUT)[1].splitlines()
    first.communicate(timeout=RUN_TIMEOUT)
    assert first.returncode == 0 and second.returncode == 0
    assert err[0] == f"waiting: another report_builder run (pid {first.pid}) is using {results}"
    assert err[1:3] == ["first: cached", "second: cached"]


def test_lock_left_by_a_dead_process_is_taken_over(tiny_config, tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / ".lock").write_text("999999\n")
    assert run_cli("run", "sgd", "--config", tiny_config, "--results-dir", results) == 0
    assert "waiting" not in capsys.readouterr().err
    assert (results / ".lock").read_text() == f"{os.getpid()}\n"


def test_divergence_is_reported_not_crashed(tiny_config, tmp_path, capsys):
    write_config(tiny_config, tiny_config.read_text().replace("lr = 0.05", "lr = 1e20"))
    assert run_cli("run", "--config", tiny_config, "--results-dir", tmp_path / "r") == 0
    assert "sgd: diverged (loss not finite) at epoch 1 of seed 0" in capsys.readouterr().err
    assert run_cli("render", "--config", tiny_config, "--results-dir", tmp_path / "r", "--build-dir",
                   tmp_path / "b", "--no-pdf") == 0
    html = (tmp_path / "b" / "report.html").read_text()
    assert "1 experiment diverged" in html and "seed 0 at epoch 1" in html


def test_results_written_by_hand_badly_are_rerun_not_rendered(tiny_project, capsys):
    config, results = tiny_project / "experiments.toml", tiny_project / "results"
    (results / "sgd.json").write_text("{ not json")
    assert run_cli("render", "--config", config, "--results-dir", results, "--build-dir", tiny_project / "b",
                   "--no-pdf") == 2
    assert "sgd: " in capsys.readouterr().err and not (tiny_project / "b" / "report.html").exists()


def test_partial_render_says_what_is_missing(tiny_config, tmp_path, capsys):
    run_cli("run", "sgd", "--config", tiny_config, "--results-dir", tmp_path / "r")
    assert run_cli("render", "--partial", "--config", tiny_config, "--results-dir", tmp_path / "r",
                   "--build-dir", tmp_path / "b", "--no-pdf") == 0
    html = (tmp_path / "b" / "report.html").read_text()
    assert "This report is incomplete" in html and "baseline: no results in" in html


def test_corrupt_dataset_file_is_one_clear_error(tmp_path, capsys):
    data_dir = write_dataset(tmp_path / "data", n_train=16, n_test=16)
    (data_dir / "t10k-images-idx3-ubyte").write_bytes((data_dir / "t10k-images-idx3-ubyte").read_bytes()[:500])
    config = write_config(tmp_path / "e.toml", config_text(defaults={"data_dir": str(data_dir), "device": "cpu"},
                                                           experiments={"a": {}}))
    assert run_cli("run", "--config", config, "--results-dir", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {data_dir / 't10k-images-idx3-ubyte'}: truncated") and "Traceback" not in err


def test_unwritable_results_directory_is_one_clear_error(tiny_config, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert run_cli("run", "--config", tiny_config, "--results-dir", blocker / "results") == 2
    assert capsys.readouterr().err.startswith(f"error: cannot use results directory {blocker / 'results'}")


def test_unwritable_build_directory_is_one_clear_error(tiny_project, capsys):
    blocker = tiny_project / "file"
    blocker.write_text("not a directory")
    assert run_cli("render", "--config", tiny_project / "experiments.toml", "--results-dir", tiny_project / "results",
                   "--build-dir", blocker / "build", "--no-pdf") == 2
    assert capsys.readouterr().err.startswith(f"error: cannot write the report to {blocker / 'build'}")


def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "summary.csv"
    store.write_atomic(path, "old contents\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError) as caught:
        store.write_atomic(path, "new contents\n")
    assert str(caught.value) == f"cannot write {path}: No space left on device; the previous file, if any, is unchanged"
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]


def test_disk_full_during_a_run_is_one_clear_error(tiny_config, tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert run_cli("run", "sgd", "--config", tiny_config, "--results-dir", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "sgd.json").exists()


def test_undefined_template_variable_exits_2_naming_the_line(tiny_project, capsys):
    import shutil

    templates = tiny_project / "templates"
    shutil.copytree(REPO_DIR / "templates", templates)
    title = templates / "sections" / "title.html.j2"
    title.write_text("{{ report.titel }}\n" + title.read_text())
    assert run_cli("render", "--config", tiny_project / "experiments.toml", "--results-dir", tiny_project / "results",
                   "--build-dir", tiny_project / "b", "--templates", templates, "--no-pdf") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {title}:1: undefined in template:") and "titel" in err
