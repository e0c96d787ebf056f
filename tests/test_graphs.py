"""prepare_step, the one preparation of both engines' train steps: eager on a CPU; on a GPU captured as CUDA
graphs, or warmed up when capture is not wanted or fails. The GPU calls are replaced by recorders here."""

from __future__ import annotations

import pytest
import torch

from report_builder.training import graphs

GPU = torch.device("cuda")  # only named: the tests below replace everything that would touch it


def eager_step(index: torch.Tensor) -> None:
    pass


@pytest.fixture
def calls(monkeypatch):
    """What prepare_step asked of GraphedSteps and warm_up: ("capture" | "warm_up", batch sizes)."""
    made = []

    class Captured:
        def __init__(self, step_on, sizes, index_shape, device, params, zero):
            made.append(("capture", sizes))

        def run(self, indices: torch.Tensor) -> None:
            pass

    monkeypatch.setattr(graphs, "GraphedSteps", Captured)
    monkeypatch.setattr(graphs, "warm_up", lambda step_on, sizes, *rest: made.append(("warm_up", sizes)))
    return made


def test_on_a_cpu_the_eager_step_is_used_as_it_is(calls):
    prepared = graphs.prepare_step(eager_step, 100, 32, lambda size: (size,), torch.device("cpu"), capture=True,
                                   params=[], zero=[])
    assert prepared == graphs.PreparedStep(eager_step, graphed=False, error=None)
    assert calls == []


def test_a_captured_step_replays_graphs_for_a_full_and_the_last_short_batch(calls):
    prepared = graphs.prepare_step(eager_step, 100, 32, lambda size: (size,), GPU, capture=True, params=[], zero=[])
    assert prepared.graphed and prepared.error is None and prepared.run is not eager_step
    assert calls == [("capture", [4, 32])]


def test_a_step_not_captured_is_warmed_up_for_each_batch_size(calls):
    prepared = graphs.prepare_step(eager_step, 96, 32, lambda size: (size,), GPU, capture=False, params=[], zero=[])
    assert prepared == graphs.PreparedStep(eager_step, graphed=False, error=None)
    assert calls == [("warm_up", [32])]


def test_a_failed_capture_falls_back_to_a_warmed_up_eager_step_and_says_why(monkeypatch, calls):
    def fail(*args, **kwargs):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    monkeypatch.setattr(graphs, "GraphedSteps", fail)
    prepared = graphs.prepare_step(eager_step, 20, 32, lambda size: (size,), GPU, capture=True, params=[], zero=[])
    assert prepared == graphs.PreparedStep(eager_step, graphed=False,
                                           error="RuntimeError: operation not permitted when stream is capturing")
    assert calls == [("warm_up", [20])]
