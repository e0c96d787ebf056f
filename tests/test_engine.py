"""The explicit engine: K models per pass, forward and backward written out, checked against autograd
(the reference engine) step by step and run by run."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import write_dataset
from torch.nn import functional as F

from report_builder.config import TrainConfig
from report_builder.training.autograd import train_run
from report_builder.training.data import load_raw, prepare
from report_builder.training.engine import (
    Gradients,
    Optimizers,
    Probes,
    StackedMLP,
    forward_backward,
    train_stack,
)
from report_builder.training.model import build_model
from report_builder.training.probes import ProbeRecorder

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return prepare(load_raw(write_dataset(tmp_path_factory.mktemp("d"), n_train=480, n_test=128)), CPU)


def config(**overrides) -> TrainConfig:
    return dataclasses.replace(TrainConfig(hidden=32, epochs=3, batch_size=32, device="cpu"), **overrides)


def train_stacked(configs, repeats, data, device):
    return train_stack(configs, repeats, data, device)


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


def autograd_pass(seed: int, hidden: int, x: torch.Tensor, y: torch.Tensor):
    """Loss, parameter gradients (w1, b1, w2, b2) and both probes, as autograd and the hook compute them."""
    model = build_model(hidden, seed, CPU)
    recorder = ProbeRecorder(list(model.activations), ("relu_active", "relu_grad_sq"), "relu", CPU)
    recorder.recording = True
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad.view(1, -1) if p.dim() == 1 else p.grad for p in model.parameters()]
    return loss.item(), grads, recorder.read()


@pytest.mark.parametrize("k, batch", [(1, 32), (1, 7), (4, 32), (4, 7)])
def test_forward_and_backward_equal_autograd(k, batch):
    torch.manual_seed(k * 100 + batch)
    seeds = list(range(10, 10 + k))
    x, y = torch.randn(k, batch, 784), torch.randint(0, 10, (k, batch))
    model = StackedMLP(24, seeds, CPU)
    grads = [torch.zeros_like(p) for p in model.params]
    loss_sum, probes = torch.zeros(k), Probes(k, True, CPU)
    forward_backward(model, x, y, grads, loss_sum, probes)
    for i, seed in enumerate(seeds):
        loss, expected, probe_sums = autograd_pass(seed, 24, x[i], y[i])
        assert loss_sum[i].item() == pytest.approx(loss, rel=1e-6)
        for ours, theirs in zip(grads, expected):
            torch.testing.assert_close(ours[i], theirs, rtol=1e-5, atol=1e-7)
        assert probes.active[i].item() == probe_sums["relu_active"]
        assert probes.grad_sq[0, i].item() == pytest.approx(probe_sums["relu_grad_sq"], rel=1e-5)


def test_optimizer_steps_equal_torch_optimizers():
    """Per-model settings in one stack: each model's update is what torch.optim computes for it alone."""
    settings = [dict(optimizer="adam", lr=1e-3), dict(optimizer="sgd", lr=0.05, momentum=0.9),
                dict(optimizer="adam", lr=1e-2), dict(optimizer="sgd", lr=0.1)]
    configs = [config(**s) for s in settings]
    model = StackedMLP(16, [0, 1, 2, 3], CPU)
    grads = Gradients(model, [False] * 4)
    optimizers = Optimizers(model, grads, configs)
    references = []
    for i, s in enumerate(settings):
        params = [p[i].clone().requires_grad_() for p in model.params]
        if s["optimizer"] == "adam":
            opt = torch.optim.Adam(params, lr=s["lr"], fused=True)
        else:
            opt = torch.optim.SGD(params, lr=s["lr"], momentum=s.get("momentum", 0.0), fused=True)
        references.append((params, opt))
    torch.manual_seed(0)
    for _ in range(4):
        for buffer in grads.buffers:
            buffer.copy_(torch.randn_like(buffer))
        optimizers.step()
        for i, (params, opt) in enumerate(references):
            for p, g in zip(params, grads.buffers):
                p.grad = g[i].clone()
            opt.step()
    for i, (params, _) in enumerate(references):
        for ours, theirs in zip(model.params, params):
            torch.testing.assert_close(ours[i], theirs.detach(), rtol=1e-6, atol=1e-8)


def test_without_zero_grad_gradients_accumulate_as_autograd_accumulates(tiny):
    """zero_grad = false beside zero_grad = true in one stack: the first keeps adding, the second clears."""
    batches = [torch.arange(i * 32, (i + 1) * 32) for i in range(4)]
    model = StackedMLP(32, [0, 0], CPU)
    grads = Gradients(model, [True, False])
    reference = build_model(32, 0, CPU)
    loss_sum, probes = torch.zeros(2), Probes(2, False, CPU)
    for index in batches:
        x, y = tiny.train_x[index], tiny.train_y[index]
        forward_backward(model, torch.stack([x, x]), torch.stack([y, y]), grads.targets(), loss_sum, probes)
        grads.accumulate()
        F.cross_entropy(reference(x), y).backward()  # no zero_grad(): autograd adds into .grad
    torch.testing.assert_close(grads.buffers[0][0], reference.linears[0].weight.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grads.buffers[3][0], reference.linears[1].bias.grad.view(1, -1), rtol=1e-5, atol=1e-7)
    reference.zero_grad()
    F.cross_entropy(reference(tiny.train_x[batches[-1]]), tiny.train_y[batches[-1]]).backward()
    torch.testing.assert_close(grads.buffers[0][1], reference.linears[0].weight.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("overrides", [{}, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}, {"zero_grad": False},
                                       {"probes": ("relu_active", "relu_grad_sq"), "batch_size": 48}])
def test_a_run_matches_the_autograd_engine(tiny, overrides):
    """Two epochs (480 examples, so batch 48 ends on a full batch and 32 too; 7 leaves a short one)."""
    for batch_size in (overrides.pop("batch_size", 32), 7):
        (ours,) = train_stacked([config(epochs=2, batch_size=batch_size, **overrides)], [0], tiny, CPU)
        reference = train_run(config(epochs=2, batch_size=batch_size, engine="autograd", **overrides), tiny, 0, CPU)
        assert ours.engine == "explicit" and reference.engine == "autograd"
        assert_same_run(ours, reference)


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_stack_matches_eager_and_autograd_on_gpu(tiny):
    """The stacked engine as CUDA graphs (a full and a short last batch) against its eager steps and
    against each model trained alone by the autograd engine, on the GPU."""
    gpu = torch.device("cuda")
    data = prepare(tiny.raw, gpu)
    for batch_size in (32, 7):
        configs = [dataclasses.replace(c, batch_size=batch_size) for c in MIXED]
        graphed = train_stacked(configs, [0] * len(configs), data, gpu)
        eager = train_stacked([dataclasses.replace(c, cuda_graphs=False) for c in configs], [0] * len(configs),
                              data, gpu)
        assert all(r.cuda_graphs for r in graphed) and not any(r.cuda_graphs for r in eager)
        for cfg, g, e in zip(configs, graphed, eager):
            assert_same_run(g, e)
            assert_same_run(g, train_run(dataclasses.replace(cfg, engine="autograd", cuda_graphs=False), data, 0, gpu))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_alone_as_a_cuda_graph_matches_autograd_on_gpu(tiny):
    gpu = torch.device("cuda")
    data = prepare(tiny.raw, gpu)
    for overrides in ({}, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}, {"zero_grad": False},
                      {"probes": ("relu_active", "relu_grad_sq"), "batch_size": 7}):
        (ours,) = train_stacked([config(**overrides)], [0], data, gpu)
        assert ours.cuda_graphs, ours.cuda_graph_error
        assert_same_run(ours, train_run(config(engine="autograd", **overrides), data, 0, gpu))


def test_each_model_of_a_stack_keeps_its_own_predictions(tiny):
    import base64

    runs = train_stack([config(), config(lr=0.01)], [0, 1], tiny, CPU)
    for run in runs:
        right = [byte >= 0x80 for byte in base64.b64decode(run.test_predictions)]
        assert len(right) == 128 and sum(right) / 128 == run.epochs[-1].test_accuracy
    assert runs[0].test_predictions != runs[1].test_predictions
    alone = train_run(dataclasses.replace(config(), engine="autograd"), tiny, repeat=0, device=CPU)
    same = sum(a == b for a, b in zip(base64.b64decode(runs[0].test_predictions),
                                      base64.b64decode(alone.test_predictions)))
    assert same >= 126  # the engines agree to float rounding: an image or two may tip
