"""The explicit engine's written-out forward and backward for every activation × depth × dropout, K = 1 and
K > 1, full and short batches, checked against the autograd engine: loss, every gradient, every probe of every
layer; weight decay against torch's optimizers; and whole runs, alone and stacked."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import write_dataset
from torch.nn import functional as F

from report_builder.config import ACTIVATIONS, TrainConfig, probe_key
from report_builder.training import activations
from report_builder.training.autograd import train_run
from report_builder.training.data import load_raw, prepare
from report_builder.training.engine import (
    DropoutMasks,
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
ALL_PROBES = ("derivative_sq", "grad_sq")


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_each_written_backward_and_derivative_equal_autograds(name):
    torch.manual_seed(0)
    pre = (torch.randn(2, 5, 7) * 3).requires_grad_()
    out = activations.forward(name, pre)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    written = activations.backward(name, grad_out, pre.detach(), out.detach())
    torch.testing.assert_close(written, pre.grad, rtol=1e-6, atol=1e-7)
    # Σ f′(x)² from autograd's f′ (the gradient of Σ f(x) is f′ at every x).
    pre.grad = None
    activations.forward(name, pre).sum().backward()
    expected = pre.grad.double().square().sum(dim=(1, 2))
    torch.testing.assert_close(activations.derivative_sq_sum(name, pre.detach(), out.detach(), (1, 2)), expected)


def test_under_a_relu_approach_1_is_the_count_of_positive_inputs():
    pre = torch.tensor([[[-1.0, 0.0, 0.5, 2.0]]])
    assert activations.derivative_sq_sum("relu", pre, pre.clamp_min(0), (1, 2)).item() == 2
    leaky = activations.derivative_sq_sum("leaky_relu", pre, F.leaky_relu(pre, 0.01), (1, 2)).item()
    assert leaky == pytest.approx(2 + 2 * 0.01 ** 2)


def test_dropout_zeroes_about_p_of_the_outputs_and_keeps_the_mean():
    g = activations.dropout_generator(0, CPU)
    scale = activations.dropout_scale((200, 100), 0.3, g, CPU, torch.float32)
    assert scale.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    assert (scale == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert scale.mean().item() == pytest.approx(1.0, abs=0.02)


def autograd_pass(seed, layers, activation, dropout, x, y):
    """Loss, gradients (w, b per Linear layer) and every probe of every layer, as autograd and hooks give them."""
    model = build_model(layers, seed, CPU, activation, dropout)
    recorder = ProbeRecorder(list(model.activations), ALL_PROBES, activation, CPU)
    recorder.recording = True
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad.view(1, -1) if p.dim() == 1 else p.grad for p in model.parameters()]
    return loss.item(), grads, recorder.read()


@pytest.mark.parametrize("k, batch", [(1, 16), (1, 5), (3, 16), (3, 5)])
@pytest.mark.parametrize("layers", [(12,), (12, 8), (10, 9, 7)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_forward_and_backward_equal_autograd(activation, layers, dropout, k, batch):
    torch.manual_seed(k * 100 + batch)
    seeds = list(range(10, 10 + k))
    x, y = torch.randn(k, batch, 784), torch.randint(0, 10, (k, batch))
    model = StackedMLP(layers, seeds, CPU, activation)
    grads = [torch.zeros_like(p) for p in model.params]
    loss_sum, probes = torch.zeros(k), Probes(k, True, CPU, activation, len(layers))
    masks = DropoutMasks([dropout] * k, seeds, CPU)
    forward_backward(model, x, y, grads, loss_sum, probes, masks)
    read = probes.read([ALL_PROBES] * k)
    for i, seed in enumerate(seeds):
        loss, expected, probe_sums = autograd_pass(seed, layers, activation, dropout, x[i], y[i])
        assert loss_sum[i].item() == pytest.approx(loss, rel=1e-6)
        assert len(grads) == len(expected) == 2 * (len(layers) + 1)
        for ours, theirs in zip(grads, expected):
            torch.testing.assert_close(ours[i], theirs, rtol=1e-5, atol=1e-7)
        assert set(read[i]) == set(probe_sums) == {probe_key(n, l) for n in ALL_PROBES for l in range(1, len(layers) + 1)}
        for key, value in probe_sums.items():
            assert value > 0 and read[i][key] == pytest.approx(value, rel=1e-5)


def test_models_of_one_stack_draw_their_own_dropout_masks():
    masks = DropoutMasks([0.5, 0.5, 0.0], [0, 1, 0], CPU)
    scale = masks.draw((4, 64), torch.zeros(()))
    assert not torch.equal(scale[0], scale[1])
    assert torch.equal(scale[2], torch.ones(4, 64))


def test_weight_decay_steps_equal_torch_optimizers():
    settings = [dict(optimizer="adam", lr=1e-3, weight_decay=0.1), dict(optimizer="sgd", lr=0.05, momentum=0.9,
                weight_decay=0.01), dict(optimizer="adam", lr=1e-3), dict(optimizer="sgd", lr=0.1, weight_decay=0.5)]
    configs = [TrainConfig(**s) for s in settings]
    model = StackedMLP((8, 6), [0, 1, 2, 3], CPU)
    grads = Gradients(model, [False] * 4)
    optimizers = Optimizers(model, grads, configs)
    references = []
    for i, s in enumerate(settings):
        params = [p[i].clone().requires_grad_() for p in model.params]
        extra = {"weight_decay": s.get("weight_decay", 0.0)}
        if s["optimizer"] == "adam":
            opt = torch.optim.Adam(params, lr=s["lr"], **extra)
        else:
            opt = torch.optim.SGD(params, lr=s["lr"], momentum=s.get("momentum", 0.0), **extra)
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
            torch.testing.assert_close(ours[i], theirs.detach(), rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return prepare(load_raw(write_dataset(tmp_path_factory.mktemp("d"), n_train=160, n_test=64)), CPU)


def config(**overrides) -> TrainConfig:
    return dataclasses.replace(TrainConfig(hidden=(16, 12), epochs=2, batch_size=32, device="cpu",
                                           probes=ALL_PROBES), **overrides)


def assert_same_run(a, b):
    assert len(a.epochs) == len(b.epochs)
    for x, y in zip(a.epochs, b.epochs):
        assert x.train_loss == pytest.approx(y.train_loss, rel=1e-4)
        assert x.test_loss == pytest.approx(y.test_loss, rel=1e-4)
        assert x.test_accuracy == pytest.approx(y.test_accuracy, abs=1 / 64 + 1e-9)
        assert set(x.probes) == set(y.probes) and len(x.probes) == 4
        for name in y.probes:
            assert x.probes[name] == pytest.approx(y.probes[name], rel=1e-3)


VARIED = [config(activation="tanh", dropout=0.3), config(activation="gelu", optimizer="sgd", lr=0.02, momentum=0.9,
          weight_decay=0.01), config(activation="sigmoid", weight_decay=1e-3, zero_grad=False),
          config(activation="leaky_relu", dropout=0.5)]


@pytest.mark.parametrize("batch_size", [32, 7])  # 160 examples: full batches only, and a short last one
@pytest.mark.parametrize("index", range(len(VARIED)))
def test_a_run_matches_the_autograd_engine(tiny, index, batch_size):
    cfg = dataclasses.replace(VARIED[index], batch_size=batch_size)
    (ours,) = train_stack([cfg], [0], tiny, CPU)
    assert_same_run(ours, train_run(dataclasses.replace(cfg, engine="autograd"), tiny, 0, CPU))


def test_every_model_of_a_stack_with_mixed_dropout_and_decay_matches_its_run_alone(tiny):
    configs = [config(activation="tanh", dropout=d, weight_decay=w) for d, w in ((0.0, 0.0), (0.3, 0.0), (0.5, 0.01))]
    stacked = train_stack(configs, [0, 1, 0], tiny, CPU)
    for cfg, repeat, run in zip(configs, [0, 1, 0], stacked):
        assert run.stacked_with == 3
        assert_same_run(run, train_run(cfg, tiny, repeat, CPU))


def test_runs_that_differ_in_activation_or_depth_never_share_a_stack():
    from report_builder.training.engine import check_stackable

    for other in (config(activation="tanh"), config(hidden=(16,)), config(dataset="mnist")):
        with pytest.raises(ValueError):
            check_stackable([config(), other])
    check_stackable([config(), config(dropout=0.2, weight_decay=0.1)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_dropout_run_on_a_gpu_trains_eagerly_says_why_and_matches_autograd(tiny):
    gpu = torch.device("cuda")
    data = prepare(tiny.raw, gpu)
    cfg = config(activation="tanh", dropout=0.3, batch_size=7)
    (ours,) = train_stack([cfg], [0], data, gpu)
    reference = train_run(dataclasses.replace(cfg, engine="autograd"), data, 0, gpu)
    assert not ours.cuda_graphs and "dropout" in ours.cuda_graph_error
    assert not reference.cuda_graphs and "dropout" in reference.cuda_graph_error
    assert_same_run(ours, reference)
    (graphed,) = train_stack([config(activation="gelu", hidden=(16, 12, 8))], [0], data, gpu)
    assert graphed.cuda_graphs, graphed.cuda_graph_error
    assert_same_run(graphed, train_run(config(activation="gelu", hidden=(16, 12, 8), engine="autograd",
                                              cuda_graphs=False), data, 0, gpu))
