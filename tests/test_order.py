"""Run order: round-robin over experiments and seeds (seed 0 of every experiment, then seed 1, …), timing
groups' settings alternating, stacks kept whole; a run stopped halfway leaves a result for every
experiment."""

from __future__ import annotations

import io

import pytest
from conftest import config_text, write_config, write_dataset

from report_builder.config import load_suite
from report_builder.execution import local
from report_builder.execution.plan import Plan
from report_builder.execution.runner import run_suite
from report_builder.execution.tasks import StackTask, build_tasks
from report_builder.progress import Progress
from report_builder.results import store



def suite_at(tmp_path, stack=False, data=None):
    text = config_text("order", defaults={"data_dir": str(data or tmp_path), "stack": stack})
    return load_suite(write_config(tmp_path / "e.toml", text))


def labels(suite, pending=None, stack=True):
    plans = [Plan(exp, {}, [], (pending or {}).get(exp.name, list(range(exp.config.repeats))))
             for exp in suite.experiments.values()]
    return [t.label for t in build_tasks(plans, suite, "results", ".", stack, {n: "cpu" for n in suite.experiments})]


def test_runs_go_seed_by_seed_over_every_experiment(tmp_path):
    assert labels(suite_at(tmp_path)) == [
        "second[0]", "fourth[0]", "first[0]", "third[0]",
        "second[1]", "fourth[1]", "first[1]", "third[1]",
        "second[2]", "fourth[2]", "first[2]", "third[2]",
    ]


def test_a_timing_groups_settings_alternate(tmp_path):
    timed = [label for label in labels(suite_at(tmp_path)) if label.split("[")[0] in ("second", "fourth")]
    assert timed == ["second[0]", "fourth[0]", "second[1]", "fourth[1]", "second[2]", "fourth[2]"]


def test_an_experiment_resumed_with_fewer_runs_left_joins_the_first_round(tmp_path):
    assert labels(suite_at(tmp_path), pending={"first": [2], "third": [1, 2]}) == [
        "second[0]", "fourth[0]", "first[2]", "third[1]",
        "second[1]", "fourth[1]", "third[2]",
        "second[2]", "fourth[2]",
    ]


def test_a_stack_stays_one_task_in_the_round_of_its_first_member(tmp_path):
    suite = suite_at(tmp_path, stack=True)
    plans = [Plan(exp, {}, [], list(range(exp.config.repeats))) for exp in suite.experiments.values()]
    tasks = build_tasks(plans, suite, "results", ".", True, {n: "cpu" for n in suite.experiments})
    (stack,) = [t for t in tasks if isinstance(t, StackTask)]
    assert sorted(m.label for m in stack.members) == [f"{n}[{r}]" for n in ("first", "third") for r in range(3)]
    # round 0: the timing group's runs first, then the stack (its members' first runs are round 0)
    assert [t.label for t in tasks[:3]] == ["second[0]", "fourth[0]", stack.label]


def test_a_run_stopped_halfway_leaves_a_result_for_every_experiment(tmp_path, monkeypatch):
    data = write_dataset(tmp_path / "data", n_train=128, n_test=64)
    suite = suite_at(tmp_path, data=data)
    started = []
    real = local.execute_task

    def stop_halfway(task, progress):
        if len(started) == 6:  # 6 of the 12 runs done
            raise KeyboardInterrupt
        started.append(task.label)
        return real(task, progress)

    monkeypatch.setattr(local, "execute_task", stop_halfway)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, [], tmp_path / "results", progress=Progress(io.StringIO(), bars=False))
    for name in suite.experiments:
        result = store.read_result(tmp_path / "results" / f"{name}.json")
        assert result["status"] == "partial" and len(result["runs"]) >= 1
