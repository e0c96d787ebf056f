"""Subnormal floats flushed to zero in every CPU thread (training/subnormals.py), by both engines: an lr 0.01
run on real Fashion-MNIST images leaves no subnormal optimizer state, and its printed accuracy is what it
would have been without the flush."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch
from conftest import real_data_dir

from report_builder.config import TrainConfig
from report_builder.report.filters import pct
from report_builder.training import autograd, engine, subnormals
from report_builder.training.data import load_raw, prepare

CPU = torch.device("cpu")
# Adam's first moment of a dead unit shrinks by β1 = 0.9 a step: ~750 steps take 1e-4 below 1.2e-38.
LR_HIGH = TrainConfig(hidden=32, lr=0.01, epochs=2, batch_size=4, device="cpu")
STEPS_DATA = 2048


def subnormal_count(tensors) -> int:
    """float32 values with a zero exponent and a non-zero fraction, read from their bits: a float comparison
    would itself see them as zero while the flush is on."""
    bits = [t.detach().float().contiguous().view(torch.int32) & 0x7FFFFFFF for t in tensors]
    return sum(int(((b > 0) & (b < 0x00800000)).sum()) for b in bits)


@pytest.fixture(autouse=True)
def _threads_and_flush_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    subnormals.flush()


@pytest.fixture(scope="module")
def images():
    data_dir = real_data_dir()
    if data_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must see the real dataset: set REPORT_BUILDER_DATA_DIR")
        pytest.skip("real Fashion-MNIST not found: set REPORT_BUILDER_DATA_DIR to a folder holding it")
    return prepare(load_raw(data_dir), CPU, max_train=STEPS_DATA, max_test=1000)


def explicit_run(data, monkeypatch, flush: bool):
    """(record, Adam's moment tensors after training) of an lr 0.01 run of the explicit engine."""
    kept = []

    class Kept(engine.Optimizers):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            kept.append(self)

    monkeypatch.setattr(engine, "Optimizers", Kept)
    if not flush:
        monkeypatch.setattr(subnormals, "flush", lambda on=True, _off=subnormals.flush: _off(False))
    torch.set_num_threads(1)  # fast on a busy machine; every thread's flush is tested on its own below
    (run,) = engine.train_stack([LR_HIGH], [0], data, CPU)
    monkeypatch.undo()
    return run, kept[0].state[1:]


def autograd_run(data, monkeypatch, flush: bool):
    kept = []

    def keep(*args, _make=autograd.make_optimizer, **kwargs):
        kept.append(_make(*args, **kwargs))
        return kept[-1]

    monkeypatch.setattr(autograd, "make_optimizer", keep)
    if not flush:
        monkeypatch.setattr(subnormals, "flush", lambda on=True, _off=subnormals.flush: _off(False))
    torch.set_num_threads(1)
    run = autograd.train_run(dataclasses.replace(LR_HIGH, engine="autograd"), data, 0, CPU)
    monkeypatch.undo()
    return run, [t for state in kept[0].state.values() for t in state.values() if t.dim() > 0]


@pytest.fixture(scope="module")
def explicit_runs(images):
    with pytest.MonkeyPatch.context() as mp:
        return {flush: explicit_run(images, mp, flush) for flush in (False, True)}


def test_an_lr_001_run_of_the_explicit_engine_holds_no_subnormal_optimizer_state(explicit_runs):
    assert subnormal_count(explicit_runs[True][1]) == 0


def test_without_the_flush_the_same_run_holds_subnormal_moments(explicit_runs):
    if not subnormals.flush():
        pytest.skip("this processor cannot flush subnormals")
    assert subnormal_count(explicit_runs[False][1]) > 1000


def test_the_flush_changes_no_printed_final_accuracy(explicit_runs):
    assert pct(explicit_runs[True][0].epochs[-1].test_accuracy) == pct(explicit_runs[False][0].epochs[-1].test_accuracy)


def test_an_lr_001_run_of_the_autograd_engine_holds_no_subnormal_optimizer_state(images, monkeypatch):
    run, moments = autograd_run(images, monkeypatch, flush=True)
    assert subnormal_count(moments) == 0 and run.epochs[-1].test_accuracy is not None


def test_the_flush_reaches_cpu_threads_that_existed_before_it():
    torch.set_num_threads(2)
    torch.ones(1 << 20).mul(2).sum()  # the OpenMP team exists now
    subnormals.flush(False)
    assert not subnormals.flushed()
    assert subnormals.flush() and subnormals.flushed()


def test_threads_added_after_the_flush_flush_too():
    torch.set_num_threads(1)
    subnormals.flush()
    torch.set_num_threads(2)
    assert subnormals.flushed()
