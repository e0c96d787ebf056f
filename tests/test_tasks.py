"""Tasks: the scheduler stacks compatible repeats into one task and keeps timing-group runs alone; a stacked
suite writes the same results as one trained alone."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import config_text, write_config, write_dataset

from report_builder.config import load_suite
from report_builder.execution.plan import Plan
from report_builder.execution.runner import run_suite
from report_builder.execution.tasks import StackTask, build_tasks
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.results.status import describe


def stacking_config(folder, data_dir, stack: bool | str, **tables) -> Path:
    """tests/fixtures/stacking.toml, reading data from `data_dir`, with `stack` in [defaults]."""
    text = config_text("stacking", defaults={"data_dir": str(data_dir), "stack": stack}, **tables)
    return write_config(folder / "e.toml", text)


def tasks_of(suite, stack=True, kind="cpu"):
    plans = [Plan(exp, {}, [], list(range(exp.config.repeats))) for exp in suite.experiments.values()]
    return build_tasks(plans, suite, "results", ".", stack, {name: kind for name in suite.experiments})


def test_scheduler_stacks_compatible_runs_and_keeps_timing_runs_alone(tmp_path):
    suite = load_suite(stacking_config(tmp_path, tmp_path, stack=True))
    tasks = tasks_of(suite)
    stacks = [t for t in tasks if isinstance(t, StackTask)]
    assert len(stacks) == 1
    assert sorted(m.label for m in stacks[0].members) == ["lr_low[0]", "lr_low[1]", "sgd[0]", "sgd[1]"]
    alone = sorted(t.label for t in tasks if not isinstance(t, StackTask))
    assert alone == ["baseline[0]", "baseline[1]", "big[0]", "big[1]", "loner[0]", "loner[1]"]


def test_no_stack_runs_everything_alone(tmp_path):
    suite = load_suite(stacking_config(tmp_path, tmp_path, stack=True))
    assert not any(isinstance(t, StackTask) for t in tasks_of(suite, stack=False))


def test_stacked_suite_writes_the_same_results_as_unstacked(tmp_path):
    data = write_dataset(tmp_path / "data", n_train=256, n_test=64)
    config = stacking_config(tmp_path, data, stack=True)
    suite = load_suite(config)
    quiet = Progress(io.StringIO(), bars=False)
    run_suite(suite, [], tmp_path / "stacked", progress=quiet)
    run_suite(suite, [], tmp_path / "alone", progress=quiet, stack=False)
    for name in ("lr_low", "sgd"):
        stacked = store.read_result(tmp_path / "stacked" / f"{name}.json")
        alone = store.read_result(tmp_path / "alone" / f"{name}.json")
        assert stacked["provenance"]["stacked_with"] == 4
        for a, b in zip(stacked["runs"], alone["runs"]):
            assert a["seed"] == b["seed"] and a["stacked_with"] == 4 and b["stacked_with"] == 1
            assert a["epochs"][0]["test_loss"] == pytest.approx(b["epochs"][0]["test_loss"], rel=1e-4)
    # identity ignores stacking: the stacked results are cached for an unstacked run
    lines = io.StringIO()
    run_suite(suite, [], tmp_path / "stacked", progress=Progress(lines, bars=False), stack=False)
    assert lines.getvalue().splitlines() == [f"{n}: cached" for n in suite.experiments]


def test_stack_auto_stacks_on_a_gpu_only(tmp_path):
    suite = load_suite(stacking_config(tmp_path, tmp_path, stack="auto"))
    assert not any(isinstance(t, StackTask) for t in tasks_of(suite, kind="cpu"))
    on_gpu = [t for t in tasks_of(suite, kind="cuda") if isinstance(t, StackTask)]
    assert [sorted(m.label for m in t.members) for t in on_gpu] == [["lr_low[0]", "lr_low[1]", "sgd[0]", "sgd[1]"]]


def test_autograd_runs_are_never_stacked(tmp_path):
    suite = load_suite(stacking_config(tmp_path, tmp_path, stack=True, experiments={"sgd": {"engine": "autograd"}}))
    (stack,) = [t for t in tasks_of(suite) if isinstance(t, StackTask)]
    assert sorted(m.label for m in stack.members) == ["lr_low[0]", "lr_low[1]"]


def test_runs_trained_in_a_stack_are_rerun_alone_when_a_timing_group_needs_them(tiny_config, tmp_path):
    write_config(tiny_config, config_text(tiny_config, defaults={"stack": True}))
    quiet = Progress(io.StringIO(), bars=False)
    run_suite(load_suite(tiny_config), [], tmp_path / "r", progress=quiet)
    assert store.read_result(tmp_path / "r" / "sgd.json")["runs"][0]["stacked_with"] == 2
    speed = {"experiments": ["baseline", "sgd"], "timing": True}
    write_config(tiny_config, config_text(tiny_config, groups={"speed": speed}))
    (listed,) = [line for line in describe(load_suite(tiny_config), tmp_path / "r") if line.startswith("sgd ")]
    assert "stale (trained in a stack, a timing group needs it alone)" in listed
    lines = io.StringIO()
    run_suite(load_suite(tiny_config), [], tmp_path / "r", progress=Progress(lines, bars=False))
    said = lines.getvalue().splitlines()
    for name in ("baseline", "sgd"):
        assert f"{name}: re-run, trained in a stack, a timing group needs it alone" in said
        assert [r["stacked_with"] for r in store.read_result(tmp_path / "r" / f"{name}.json")["runs"]] == [1]
    again = io.StringIO()
    run_suite(load_suite(tiny_config), [], tmp_path / "r", progress=Progress(again, bars=False))
    assert again.getvalue().splitlines() == ["baseline: cached", "sgd: cached"]
