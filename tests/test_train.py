"""The autograd reference engine on tiny synthetic data: it learns, it is reproducible, zero_grad and probes
mean what they say; and the CUDA-graph warm-up leaves no trace."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import write_dataset

from report_builder.config import TrainConfig
from report_builder.training.autograd import make_train_step, train_run
from report_builder.training.data import load_raw, prepare
from report_builder.training.model import build_model
from report_builder.training.probes import ProbeRecorder

CPU = torch.device("cpu")


@pytest.fixture
def tiny(tmp_path):
    return prepare(load_raw(write_dataset(tmp_path / "d", n_train=512, n_test=128)), CPU)


def config(**overrides) -> TrainConfig:
    return dataclasses.replace(TrainConfig(hidden=32, epochs=3, batch_size=32, device="cpu", engine="autograd"),
                               **overrides)


def test_loss_falls_and_accuracy_rises(tiny):
    run = train_run(config(lr=0.01), tiny, repeat=0, device=CPU)
    losses = [e.train_loss for e in run.epochs]
    assert len(run.epochs) == 3
    assert losses[-1] < losses[0] * 0.5
    assert run.epochs[-1].test_accuracy > 0.9


def test_same_seed_gives_the_same_numbers(tiny):
    first = train_run(config(), tiny, repeat=0, device=CPU)
    second = train_run(config(), tiny, repeat=0, device=CPU)
    assert [e.test_loss for e in first.epochs] == [e.test_loss for e in second.epochs]


def test_repeat_uses_the_next_seed(tiny):
    run = train_run(config(seed=5, epochs=1), tiny, repeat=2, device=CPU)
    other = train_run(config(seed=5, epochs=1), tiny, repeat=0, device=CPU)
    assert run.seed == 7 and other.seed == 5
    assert run.epochs[0].train_loss != other.epochs[0].train_loss


def test_epoch_records_time_train_and_eval_separately(tiny):
    (record,) = train_run(config(epochs=1), tiny, repeat=0, device=CPU).epochs
    assert record.train_seconds > 0 and record.eval_seconds > 0


def test_without_zero_grad_gradients_accumulate_across_steps(tiny):
    def grad_norms(zero_grad: bool) -> list[float]:
        model = build_model(32, 0, CPU)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: same weights, only gradients differ
        step = make_train_step(model, optimizer, zero_grad, torch.zeros(()))
        norms = []
        for i in range(5):
            step(tiny.train_x[i * 32:(i + 1) * 32], tiny.train_y[i * 32:(i + 1) * 32])
            norms.append(model.linears[0].weight.grad.norm().item())
        return norms

    kept, cleared = grad_norms(False), grad_norms(True)
    assert kept[0] == pytest.approx(cleared[0])
    assert kept[-1] > 3 * max(cleared)
    assert all(b > a for a, b in zip(kept, kept[1:]))


def test_no_zero_grad_run_trains_worse(tiny):
    good = train_run(config(), tiny, repeat=0, device=CPU)
    bad = train_run(config(zero_grad=False, lr=0.01), tiny, repeat=0, device=CPU)
    assert bad.epochs[-1].train_loss > good.epochs[-1].train_loss


def test_probes_on_a_hand_checkable_input():
    model = build_model(2, 0, CPU)
    with torch.no_grad():
        fc1 = model.linears[0]
        fc1.weight.zero_()
        fc1.weight[0, 0], fc1.weight[1, 0] = 1.0, -1.0  # unit 0 active, unit 1 not, for x0 > 0
        fc1.bias.zero_()
    recorder = ProbeRecorder(list(model.activations), ("relu_active", "relu_grad_sq"), "relu", CPU)
    recorder.recording = True
    x = torch.zeros(3, 784)
    x[:, 0] = torch.tensor([1.0, 2.0, 3.0])
    y = torch.tensor([0, 1, 2])
    pre = model.linears[0](x)
    pre.retain_grad()
    loss = torch.nn.functional.cross_entropy(model.linears[1](model.activations[0](pre)), y)
    loss.backward()
    sums = recorder.read()
    assert sums["relu_active"] == 3  # unit 0 positive for all three examples, unit 1 never
    expected = (pre.grad * (pre > 0)).square().sum().item()
    assert expected > 0
    assert sums["relu_grad_sq"] == pytest.approx(expected)


def test_probes_count_only_training_batches(tiny):
    run = train_run(config(epochs=2, probes=("relu_active", "relu_grad_sq")), tiny, repeat=0, device=CPU)
    for record in run.epochs:
        assert 0 < record.probes["relu_active"] <= 512 * 32
        assert record.probes["relu_grad_sq"] > 0


def test_divergence_stops_the_run_at_that_epoch(tiny):
    run = train_run(config(optimizer="sgd", lr=1e20, epochs=4), tiny, repeat=0, device=CPU)
    assert run.diverged_at is not None
    assert len(run.epochs) == run.diverged_at
    assert run.epochs[-1].train_loss is None and run.epochs[-1].test_accuracy is None


def test_dataloader_pipeline_computes_what_the_tensor_pipeline_computes(tiny):
    fast = train_run(config(epochs=2), tiny, repeat=0, device=CPU)
    slow = train_run(config(epochs=2, pipeline="dataloader", loader_workers=0), tiny, repeat=0, device=CPU)
    for a, b in zip(fast.epochs, slow.epochs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)
        assert a.test_loss == pytest.approx(b.test_loss, rel=1e-5)
        assert a.test_accuracy == b.test_accuracy


def test_dataloader_pipeline_with_worker_processes_trains(tiny):
    run = train_run(config(epochs=1, pipeline="dataloader", loader_workers=2), tiny, repeat=0, device=CPU)
    assert run.epochs[0].test_accuracy is not None and run.epochs[0].train_seconds > 0


def test_run_records_setup_time_apart_from_epochs(tiny):
    run = train_run(config(epochs=1), tiny, repeat=0, device=CPU)
    assert run.setup_seconds > 0 and run.cuda_graphs is False


def test_graph_capture_restores_the_starting_state():
    """What GraphedSteps undoes after its warm-up steps, checked on the CPU with the same helpers."""
    from report_builder.training.graphs import _restore, optimizer_state

    model = build_model(8, 0, CPU)
    untouched = build_model(8, 0, CPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    loss_sum, probe_sum = torch.zeros(()), torch.zeros((), dtype=torch.float64)
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    step = make_train_step(model, optimizer, False, loss_sum)
    for _ in range(3):  # warm-up: moves weights, fills optimizer state and gradients
        step(torch.randn(4, 784), torch.tensor([0, 1, 2, 3]))
    probe_sum += 5
    _restore(params, saved, [*optimizer_state(optimizer), loss_sum, probe_sum])
    for p, q in zip(model.parameters(), untouched.parameters()):
        assert torch.equal(p, q) and not p.grad.any()
    assert all(not v.any() for state in optimizer.state.values() for v in state.values())
    assert loss_sum.item() == 0 and probe_sum.item() == 0


def test_restored_optimizer_continues_like_a_fresh_one():
    """Zeroed Adam/SGD state after warm-up gives the same next steps as an optimizer that never stepped."""
    from report_builder.training.graphs import _restore, optimizer_state

    x, y = torch.randn(16, 784), torch.randint(0, 10, (16,))
    for make in (lambda p: torch.optim.Adam(p, lr=0.01), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)):
        fresh = build_model(8, 0, CPU)
        fresh_step = make_train_step(fresh, make(fresh.parameters()), True, torch.zeros(()))
        warmed = build_model(8, 0, CPU)
        optimizer = make(warmed.parameters())
        warmed_step = make_train_step(warmed, optimizer, True, torch.zeros(()))
        params = list(warmed.parameters())
        saved = [p.detach().clone() for p in params]
        for _ in range(3):
            warmed_step(torch.randn(16, 784), torch.randint(0, 10, (16,)))
        _restore(params, saved, optimizer_state(optimizer))
        for _ in range(3):
            fresh_step(x, y)
            warmed_step(x, y)
        for p, q in zip(fresh.parameters(), warmed.parameters()):
            assert torch.allclose(p, q, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graph_path_matches_eager_on_gpu(tiny):
    gpu = torch.device("cuda")
    data = prepare(tiny.raw, gpu)
    for overrides in ({}, {"optimizer": "sgd", "lr": 0.05}, {"zero_grad": False},
                      {"probes": ("relu_active", "relu_grad_sq"), "batch_size": 48}):
        graphed = train_run(config(**overrides), data, repeat=0, device=gpu)
        eager = train_run(config(cuda_graphs=False, **overrides), data, repeat=0, device=gpu)
        assert graphed.cuda_graphs and not eager.cuda_graphs
        for a, b in zip(graphed.epochs, eager.epochs):
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-3)
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=0.02)
            for name in a.probes:
                assert a.probes[name] == pytest.approx(b.probes[name], rel=1e-3)


def test_a_warm_up_that_fails_waits_for_queued_work_then_restores(monkeypatch):
    """If a warm-up step raises (out of memory, say), kernels queued on the side stream may still run:
    the restore must come after a device-wide wait, or those kernels could overwrite it."""
    import contextlib

    from report_builder.training import graphs

    events = []
    weight = torch.ones(3)

    class FakeStream:
        def wait_stream(self, other):
            events.append("wait_stream")

    monkeypatch.setattr(torch.cuda, "Stream", lambda device: FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "synchronize",
                        lambda device: events.append(f"synchronize while weight = {weight.tolist()}"))

    def step_on(index):
        weight.add_(1.0)
        events.append("step")
        if len(events) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory")

    for get_ready in (graphs.warm_up, graphs.GraphedSteps):
        events.clear()
        weight.fill_(1.0)
        with pytest.raises(torch.OutOfMemoryError):
            get_ready(step_on, [4], lambda size: (size,), CPU, params=[weight], zero=[])
        steps = events.count("step")
        assert steps > 1 and events[-1] == f"synchronize while weight = {[1.0 + steps] * 3}"  # waited, then undid
        assert weight.tolist() == [1.0, 1.0, 1.0]  # then undone


def test_a_run_keeps_one_byte_per_test_image_after_its_last_epoch(tiny):
    import base64

    run = train_run(config(epochs=2), tiny, repeat=0, device=CPU)
    marks = base64.b64decode(run.test_predictions)
    right = [byte >= 0x80 for byte in marks]  # the top bit: right; the low seven: the predicted class
    assert len(marks) == 128 and sum(right) / 128 == run.epochs[-1].test_accuracy
    assert {byte & 0x7F for byte in marks} <= set(range(10))


def test_both_pipelines_keep_the_same_predictions(tiny):
    fast = train_run(config(epochs=1), tiny, repeat=0, device=CPU)
    slow = train_run(config(epochs=1, pipeline="dataloader", loader_workers=0), tiny, repeat=0, device=CPU)
    assert fast.test_predictions == slow.test_predictions


def test_a_diverged_run_keeps_no_predictions(tiny):
    run = train_run(config(optimizer="sgd", lr=1e20, epochs=4), tiny, repeat=0, device=CPU)
    assert run.diverged_at is not None and run.test_predictions is None
