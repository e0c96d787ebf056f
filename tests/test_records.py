"""timed_epochs, the one epoch loop of both engines: what it times, between which device waits, what each
epoch's record holds, and where a diverged run stops. Then the same through both engines on tiny data."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import write_dataset

from report_builder.config import TrainConfig
from report_builder.training import records
from report_builder.training.data import load_raw, prepare
from report_builder.training.records import EpochScores, RunRecord, timed_epochs
from report_builder.training.train import train

CPU = torch.device("cpu")
EVIDENCE = {"others_cpu_share": 0.5}


class Machine:
    """A fake clock whose time moves only when a phase says so, and a log of every wait and clock read."""

    def __init__(self, monkeypatch):
        self.now, self.events = 0.0, []
        machine = self

        class Clock:  # contention.EpochClock
            def __init__(self, gpu_others=None):
                pass

            def start(self) -> None:
                machine.events.append("clock.start")

            def stop(self) -> tuple[bool, dict]:
                machine.events.append("clock.stop")
                return True, EVIDENCE

        class Time:
            @staticmethod
            def perf_counter() -> float:
                machine.events.append("time")
                return machine.now

        monkeypatch.setattr(records, "EpochClock", Clock)
        monkeypatch.setattr(records, "time", Time)
        monkeypatch.setattr(records, "synchronize", lambda device: machine.events.append("wait"))

    def phase(self, name: str, seconds: float, value=None):
        def run(*args):
            self.events.append(name)
            self.now += seconds
            return value

        return run


def runs_of(k: int) -> list[RunRecord]:
    return [RunRecord(repeat=i, seed=i, epochs=[]) for i in range(k)]


def scores(*train_losses: float) -> EpochScores:
    """Scores for len(train_losses) models: test loss and accuracy follow the train loss."""
    return EpochScores(list(train_losses), [2 * v for v in train_losses], [0.5] * len(train_losses),
                       [{"relu_active": 3.0, "relu_grad_sq": v} for v in train_losses])


def test_each_epoch_is_timed_between_device_waits_and_read_after_the_clocks_stop(monkeypatch):
    machine = Machine(monkeypatch)
    timed_epochs(runs_of(1), 0.0, 2, 10, CPU, None, start=machine.phase("start", 0), train=machine.phase("train", 0),
                 evaluate=machine.phase("evaluate", 0), read=machine.phase("read", 0, scores(1.0)))
    setup = ["wait", "time"]
    epoch = ["start", "wait", "clock.start", "time", "train", "wait", "time", "clock.stop",
             "time", "evaluate", "wait", "time", "read"]
    assert machine.events == setup + epoch + epoch


def test_seconds_are_the_timed_phases_shared_among_the_stacked_models(monkeypatch):
    machine = Machine(monkeypatch)
    machine.now = 7.0  # setup so far: 7 s since setup_started = 1
    runs = runs_of(2)
    timed_epochs(runs, 1.0, 1, 10, CPU, None, start=machine.phase("start", 100), train=machine.phase("train", 8),
                 evaluate=machine.phase("evaluate", 2), read=machine.phase("read", 100, scores(1.0, 1.0)))
    for run in runs:
        assert run.setup_seconds == 3.0
        (record,) = run.epochs
        assert (record.train_seconds, record.eval_seconds) == (4.0, 1.0)


def test_each_record_holds_the_epoch_its_scores_and_the_clock_reading(monkeypatch):
    machine = Machine(monkeypatch)
    orders = iter(["order 1", "order 2"])
    trained_on = []
    (run,) = runs_of(1)
    timed_epochs([run], 0.0, 2, 10, CPU, None, start=lambda: next(orders), train=trained_on.append,
                 evaluate=machine.phase("evaluate", 0), read=machine.phase("read", 0, scores(1.5)))
    assert trained_on == ["order 1", "order 2"]  # what start drew, train got
    assert [r.epoch for r in run.epochs] == [1, 2]
    record = run.epochs[0]
    assert (record.train_loss, record.test_loss, record.test_accuracy) == (1.5, 3.0, 0.5)
    assert record.probes == {"relu_active": 3.0, "relu_grad_sq": 1.5}
    assert record.timing_disturbed is True and record.timing_evidence == EVIDENCE
    assert run.diverged_at is None


def test_a_diverged_model_stops_there_while_the_others_go_on(monkeypatch):
    machine = Machine(monkeypatch)
    epochs = iter([scores(1.0, 1.0), scores(0.9, math.nan), scores(0.8, 0.5)])
    healthy, broken = runs = runs_of(2)
    progress = []
    timed_epochs(runs, 0.0, 3, 10, CPU, progress.append, start=machine.phase("start", 0),
                 train=machine.phase("train", 0), evaluate=machine.phase("evaluate", 0), read=lambda _: next(epochs))
    assert healthy.diverged_at is None and len(healthy.epochs) == 3
    assert broken.diverged_at == 2 and len(broken.epochs) == 2
    last = broken.epochs[-1]
    assert last.train_loss is None and last.test_accuracy is None
    assert last.probes == {"relu_active": 3.0, "relu_grad_sq": None}
    assert progress == []  # a stack's steps go on for the others


def test_a_lone_run_that_diverges_ends_the_loop_and_counts_its_skipped_steps(monkeypatch):
    machine = Machine(monkeypatch)
    (run,) = runs = runs_of(1)
    progress = []
    timed_epochs(runs, 0.0, 5, 10, CPU, progress.append, start=machine.phase("start", 0),
                 train=machine.phase("train", 0), evaluate=machine.phase("evaluate", 0),
                 read=machine.phase("read", 0, scores(math.inf)))
    assert machine.events.count("train") == 1
    assert run.diverged_at == 1 and len(run.epochs) == 1
    assert progress == [40]  # the four epochs never trained, 10 steps each


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return prepare(load_raw(write_dataset(tmp_path_factory.mktemp("d"), n_train=96, n_test=64)), CPU)


@pytest.mark.parametrize("engine", ["explicit", "autograd"])
def test_both_engines_record_every_epoch_with_its_times_and_probes(tiny, engine):
    cfg = TrainConfig(hidden=8, epochs=2, batch_size=32, device="cpu", engine=engine,
                      probes=("relu_active", "relu_grad_sq"))
    (run,) = train([cfg], [0], tiny, CPU)
    assert run.engine == engine and run.setup_seconds > 0
    assert [r.epoch for r in run.epochs] == [1, 2]
    for record in run.epochs:
        assert record.train_seconds > 0 and record.eval_seconds > 0
        assert list(record.probes) == ["relu_active", "relu_grad_sq"]
        assert 0 < record.probes["relu_active"] <= 96 * 8 and record.probes["relu_grad_sq"] > 0


def test_each_stacked_model_records_only_the_probes_it_asked_for(tiny):
    base = TrainConfig(hidden=8, epochs=1, batch_size=32, device="cpu")
    configs = [base, dataclasses.replace(base, probes=("relu_grad_sq",)),
               dataclasses.replace(base, probes=("relu_active", "relu_grad_sq"))]
    runs = train(configs, [0, 0, 0], tiny, CPU)
    assert [list(run.epochs[0].probes) for run in runs] == [[], ["relu_grad_sq"], ["relu_active", "relu_grad_sq"]]
    assert runs[1].epochs[0].probes["relu_grad_sq"] == pytest.approx(runs[2].epochs[0].probes["relu_grad_sq"])
