"""Repeat files: what each task writes, how the driver reads them back, merges them and clears them."""

from __future__ import annotations

from report_builder.execution.repeats import clear_repeats, merge, read_repeat, write_repeat


def repeat_doc(name: str, repeat: int, status: str = "done", seconds: float = 1.0) -> dict:
    return {"experiment": name, "repeat": repeat, "status": status,
            "identity": {"config": {"lr": 0.001}, "code_version": "c", "data_fingerprint": "f", "device_kind": "cpu"},
            "run": {"repeat": repeat, "seed": repeat, "epochs": []} if status == "done" else None,
            "error": "RuntimeError: boom" if status == "failed" else None,
            "provenance": {"device_name": "CPU", "hostname": f"host{repeat}", "started_at": f"2026-01-01T00:0{repeat}",
                           "finished_at": f"2026-01-01T00:1{repeat}", "wall_seconds": seconds}}


HEADER = {"experiment": "sgd", "title": "SGD", "description": "", "identity": {"config": {}}, "config": {}}


def test_a_written_repeat_reads_back(tmp_path):
    write_repeat(tmp_path, repeat_doc("sgd", 1))
    assert read_repeat(tmp_path, "sgd", 1) == repeat_doc("sgd", 1)
    assert (tmp_path / ".repeats" / "sgd" / "repeat-1.json").is_file()


def test_a_missing_or_unreadable_repeat_reads_as_none(tmp_path):
    assert read_repeat(tmp_path, "sgd", 0) is None
    write_repeat(tmp_path, repeat_doc("sgd", 0))
    (tmp_path / ".repeats" / "sgd" / "repeat-0.json").write_text('{"experiment": "sg')
    assert read_repeat(tmp_path, "sgd", 0) is None


def test_clearing_one_experiments_repeats_leaves_the_others(tmp_path):
    write_repeat(tmp_path, repeat_doc("sgd", 0))
    write_repeat(tmp_path, repeat_doc("baseline", 0))
    clear_repeats(tmp_path, "sgd")
    assert not (tmp_path / ".repeats" / "sgd").exists()
    assert read_repeat(tmp_path, "baseline", 0) == repeat_doc("baseline", 0)
    clear_repeats(tmp_path, "baseline")
    assert not (tmp_path / ".repeats").exists()


def test_merge_is_partial_until_every_repeat_is_in_then_done():
    partial = merge(HEADER, [repeat_doc("sgd", 1)], wanted=2)
    assert partial["status"] == "partial" and [r["seed"] for r in partial["runs"]] == [1]
    done = merge(HEADER, [repeat_doc("sgd", 1, seconds=2.0), repeat_doc("sgd", 0)], wanted=2)
    assert done["status"] == "done" and [r["seed"] for r in done["runs"]] == [0, 1]
    assert done["provenance"]["wall_seconds"] == 3.0
    assert done["provenance"]["started_at"] == "2026-01-01T00:00"
    assert [p["hostname"] for p in done["provenance"]["repeat_provenance"]] == ["host0", "host1"]


def test_one_failed_repeat_fails_the_merge_with_its_error():
    merged = merge(HEADER, [repeat_doc("sgd", 0), repeat_doc("sgd", 1, status="failed")], wanted=2)
    assert merged["status"] == "failed" and merged["error"] == "RuntimeError: boom"
    assert len(merged["runs"]) == 1


# ---- repeats are per seed ----------------------------------------------------------------------------

import io  # noqa: E402

import pytest  # noqa: E402
from conftest import write_config  # noqa: E402

from report_builder.config import load_suite  # noqa: E402
from report_builder.execution.runner import run_suite  # noqa: E402
from report_builder.progress import Progress  # noqa: E402
from report_builder.results import store  # noqa: E402


@pytest.fixture
def trained_seeds(monkeypatch):
    """The seeds that training is asked for, in order."""
    import report_builder.training.train as training

    seeds, real = [], training.train

    def spy(configs, repeats, *args, **kwargs):
        seeds.extend(c.seed + r for c, r in zip(configs, repeats))
        return real(configs, repeats, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    return seeds


def run_sgd(config, results_dir) -> list[str]:
    stream = io.StringIO()
    run_suite(load_suite(config), ["sgd"], results_dir, progress=Progress(stream, bars=False))
    return stream.getvalue().splitlines()


def with_repeats(config, n: int) -> None:
    lines = [line for line in config.read_text().splitlines() if not line.strip().startswith("repeats =")]
    write_config(config, "\n".join(lines).replace('title = "SGD"', f'title = "SGD"\nrepeats = {n}') + "\n")


def runs_by_seed(results_dir) -> dict[int, dict]:
    return {r["seed"]: r for r in store.read_result(results_dir / "sgd.json")["runs"]}


def test_more_repeats_train_only_the_new_seeds(tiny_config, tmp_path, trained_seeds):
    with_repeats(tiny_config, 2)
    run_sgd(tiny_config, tmp_path / "r")
    before = runs_by_seed(tmp_path / "r")
    trained_seeds.clear()
    with_repeats(tiny_config, 3)
    lines = run_sgd(tiny_config, tmp_path / "r")
    assert trained_seeds == [2]
    assert lines[0] == "sgd: training seed 2, repeats changed 2 → 3, seed 2 not run yet (seeds 0, 1 kept)"
    after = runs_by_seed(tmp_path / "r")
    assert sorted(after) == [0, 1, 2] and after[0] == before[0] and after[1] == before[1]
    assert store.read_result(tmp_path / "r" / "sgd.json")["status"] == "done"
    assert run_sgd(tiny_config, tmp_path / "r") == ["sgd: cached"]


def test_fewer_repeats_train_nothing_and_keep_the_declared_seeds(tiny_config, tmp_path, trained_seeds):
    import pandas as pd

    with_repeats(tiny_config, 3)
    run_sgd(tiny_config, tmp_path / "r")
    before = runs_by_seed(tmp_path / "r")
    trained_seeds.clear()
    with_repeats(tiny_config, 2)
    lines = run_sgd(tiny_config, tmp_path / "r")
    assert trained_seeds == []
    assert lines[0] == "sgd: nothing to train, repeats changed 3 → 2, seed 2 no longer declared (seeds 0, 1 kept)"
    after = runs_by_seed(tmp_path / "r")
    assert sorted(after) == [0, 1] and after[0] == before[0] and after[1] == before[1]
    assert sorted(set(pd.read_csv(tmp_path / "r" / "summary.csv").query("experiment == 'sgd'").seed)) == [0, 1]
    assert run_sgd(tiny_config, tmp_path / "r") == ["sgd: cached"]


def test_fewer_repeats_make_the_results_stale_until_run(tiny_config, tmp_path):
    with_repeats(tiny_config, 3)
    run_sgd(tiny_config, tmp_path / "r")
    with_repeats(tiny_config, 2)
    result = store.read_result(tmp_path / "r" / "sgd.json")
    assert store.stale_reasons(result, load_suite(tiny_config).experiments["sgd"].config.identity()) == [
        "repeats changed 3 → 2", "seed 2 no longer declared"]
