"""Stacked training: K models in one pass compute what each computes alone, and the scheduler stacks
only what may be stacked."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch

from report_builder import store
from report_builder.config import TrainConfig, load_suite
from report_builder.data import load_raw, prepare
from report_builder.progress import Progress
from report_builder.runner import Plan, build_tasks, run_suite
from report_builder.stacked import train_stacked
from report_builder.tasks import StackTask
from report_builder.train import train_run

from conftest import write_config, write_dataset

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return prepare(load_raw(write_dataset(tmp_path_factory.mktemp("d"), n_train=480, n_test=128)), CPU)


def config(**overrides) -> TrainConfig:
    return dataclasses.replace(TrainConfig(hidden=32, epochs=3, batch_size=32, device="cpu"), **overrides)


def assert_same_run(stacked, alone):
    assert [e.epoch for e in stacked.epochs] == [e.epoch for e in alone.epochs]
    for a, b in zip(stacked.epochs, alone.epochs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
        assert a.test_loss == pytest.approx(b.test_loss, rel=1e-4)
        assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=1 / 128 + 1e-9)
        for name in b.probes:
            assert a.probes[name] == pytest.approx(b.probes[name], rel=1e-3)


MIXED = [config(), config(optimizer="sgd", lr=0.05), config(optimizer="sgd", lr=0.02, momentum=0.9),
         config(lr=0.01), config(zero_grad=False), config(probes=("relu_active", "relu_grad_sq"))]


def test_every_stacked_model_matches_its_run_alone(tiny):
    stacked = train_stacked(MIXED, [0] * len(MIXED), tiny, CPU)
    for cfg, run in zip(MIXED, stacked):
        assert run.stacked_with == len(MIXED)
        assert_same_run(run, train_run(cfg, tiny, 0, CPU))


def test_repeats_in_a_stack_use_their_own_seeds(tiny):
    stacked = train_stacked([config()] * 3, [0, 1, 2], tiny, CPU)
    assert [r.seed for r in stacked] == [0, 1, 2]
    for repeat, run in enumerate(stacked):
        assert_same_run(run, train_run(config(), tiny, repeat, CPU))


def test_a_run_does_not_depend_on_its_stack_companions(tiny):
    with_sgd = train_stacked([config(), config(optimizer="sgd", lr=0.05)], [0, 0], tiny, CPU)[0]
    with_others = train_stacked([config(lr=0.0001), config(), config(zero_grad=False)], [0, 0, 0], tiny, CPU)[1]
    assert_same_run(with_sgd, with_others)


def test_a_diverging_model_leaves_the_others_alone(tiny):
    healthy, broken = train_stacked([config(), config(optimizer="sgd", lr=1e20)], [0, 0], tiny, CPU)
    assert broken.diverged_at == 1 and len(broken.epochs) == 1
    assert healthy.diverged_at is None
    assert_same_run(healthy, train_run(config(), tiny, 0, CPU))


def test_stacked_seconds_are_per_model_shares(tiny):
    runs = train_stacked([config(epochs=1)] * 4, [0, 1, 2, 3], tiny, CPU)
    assert len({r.epochs[0].train_seconds for r in runs}) == 1 and runs[0].stacked_with == 4


SUITE = """
[defaults]
epochs = 1
batch_size = 32
hidden = 16
device = "cpu"
data_dir = "{data}"
repeats = 2

[experiments.baseline]
[experiments.lr_low]
lr = 0.0001
[experiments.sgd]
optimizer = "sgd"
[experiments.big]
batch_size = 64
[experiments.loner]
stack = false

[groups.batch]
experiments = ["baseline", "big"]
timing = true
"""


def tasks_of(suite, stack=True):
    plans = [Plan(exp, {}, [], list(range(exp.config.repeats))) for exp in suite.experiments.values()]
    return build_tasks(plans, suite, "results", ".", stack)


def test_scheduler_stacks_compatible_runs_and_keeps_timing_runs_alone(tmp_path):
    suite = load_suite(write_config(tmp_path / "e.toml", SUITE.format(data=tmp_path)))
    tasks = tasks_of(suite)
    stacks = [t for t in tasks if isinstance(t, StackTask)]
    assert len(stacks) == 1
    assert sorted(m.label for m in stacks[0].members) == ["lr_low[0]", "lr_low[1]", "sgd[0]", "sgd[1]"]
    alone = sorted(t.label for t in tasks if not isinstance(t, StackTask))
    assert alone == ["baseline[0]", "baseline[1]", "big[0]", "big[1]", "loner[0]", "loner[1]"]


def test_no_stack_runs_everything_alone(tmp_path):
    suite = load_suite(write_config(tmp_path / "e.toml", SUITE.format(data=tmp_path)))
    assert not any(isinstance(t, StackTask) for t in tasks_of(suite, stack=False))


def test_stacked_suite_writes_the_same_results_as_unstacked(tmp_path):
    data = write_dataset(tmp_path / "data", n_train=256, n_test=64)
    config = write_config(tmp_path / "e.toml", SUITE.format(data=data))
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
