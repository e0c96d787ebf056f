"""The fused Triton step (training/fused.py): its kernels, checked against the written-out step (engine.py)
and against autograd with torch.optim; and when a stack trains with it. On a CPU the kernels run under
Triton's interpreter, which runs each program in Python: hence the tiny shapes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

# On a GPU the kernels are compiled and tested there; elsewhere they run under Triton's interpreter. Triton
# decides which when a kernel is defined (its own library's at `import triton`), so TRITON_INTERPRET=1 is set
# before this process first imports it, and put back at once: the kernels stay what they were defined as,
# and processes that other tests start later do not inherit the variable.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
_triton_imported_before = "triton" in sys.modules
_previous = os.environ.get("TRITON_INTERPRET")
if DEVICE.type == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"
try:
    import triton  # noqa: F401

    from report_builder.training import fused_kernels
except ImportError:
    fused_kernels = None
finally:
    if _previous is None:
        os.environ.pop("TRITON_INTERPRET", None)
    else:
        os.environ["TRITON_INTERPRET"] = _previous
if fused_kernels is None:
    pytest.skip("the fused step's tests need Triton (installed with torch's CUDA wheels)", allow_module_level=True)

from conftest import write_dataset  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from report_builder.config import TrainConfig  # noqa: E402
from report_builder.errors import ConfigError  # noqa: E402
from report_builder.training import engine, fused  # noqa: E402
from report_builder.training.data import load_raw, prepare  # noqa: E402
from report_builder.training.engine import (  # noqa: E402
    Gradients,
    Optimizers,
    Probes,
    StackedMLP,
    forward_backward,
    train_stack,
)
from report_builder.training.fused import FusedStep, Tiles  # noqa: E402
from report_builder.training.model import build_model  # noqa: E402

CPU = torch.device("cpu")
HIDDEN = 24
# Under the interpreter few, large blocks (its cost is per program and per operation, not per element); on a
# GPU the blocks it trains with.
TILES = Tiles() if DEVICE.type == "cuda" else Tiles(rows=16, inputs=256, w1_hidden=64, w1_inputs=512, batch=32)


@pytest.fixture(scope="module")
def kernels():
    """The kernels as this module defined them: interpreted on a CPU (with TRITON_INTERPRET=1 set again while
    they run: Triton imports parts of itself lazily at the first launch, and they read it too), compiled on a GPU."""
    if DEVICE.type == "cuda":
        yield fused_kernels
        return
    if type(fused_kernels.update_kernel).__name__ != "InterpretedFunction":
        pytest.fail("triton was imported before tests/test_fused.py could set TRITON_INTERPRET=1"
                    if _triton_imported_before else "TRITON_INTERPRET=1 did not give interpreted kernels")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITON_INTERPRET", "1")
        yield fused_kernels


def config(**overrides) -> TrainConfig:
    return dataclasses.replace(TrainConfig(hidden=HIDDEN, batch_size=20, device="cpu"), **overrides)


MIXED = [config(), config(optimizer="sgd", lr=0.05), config(optimizer="sgd", lr=0.02, momentum=0.9, zero_grad=False),
         config(lr=0.01, zero_grad=False)]


@pytest.fixture(scope="module")
def examples():
    torch.manual_seed(0)
    return torch.randn(64, 784).to(DEVICE), torch.randint(0, 10, (64,)).to(DEVICE)


def batches(k: int, sizes: list[int]) -> list[torch.Tensor]:
    """One index [K, B] per step, each model its own rows."""
    generator = torch.Generator().manual_seed(sum(sizes) + k)
    return [torch.stack([torch.randperm(64, generator=generator)[:size] for _ in range(k)]).to(DEVICE)
            for size in sizes]


def fused_steps(configs, indices, examples, hidden=HIDDEN, tiles=TILES):
    """Train with the fused step: parameters, gradients, loss sums, active counts, squared gradients."""
    x, y = examples
    k = len(configs)
    model = StackedMLP(hidden, list(range(k)), DEVICE)
    loss_sum = torch.zeros(k, device=DEVICE)
    active, grad_sq = (torch.zeros(k, dtype=torch.float64, device=DEVICE) for _ in range(2))
    step = FusedStep(model.params, configs, x, y, max(i.shape[1] for i in indices), loss_sum, active, grad_sq,
                     probes=True, tiles=tiles)
    for index in indices:
        step(index)
    return model.params, step.gradients(), loss_sum, active, grad_sq


def written_out_steps(configs, indices, examples, hidden=HIDDEN):
    """The same steps with engine.py's written-out step and its optimizers."""
    x, y = examples
    k = len(configs)
    model = StackedMLP(hidden, list(range(k)), DEVICE)
    grads = Gradients(model, [not c.zero_grad for c in configs])
    optimizers = Optimizers(model, grads, configs)
    probes, loss_sum = Probes(k, True, DEVICE), torch.zeros(k, device=DEVICE)
    for index in indices:
        forward_backward(model, x[index], y[index], grads.targets(), loss_sum, probes)
        grads.accumulate()
        optimizers.step()
    return model.params, grads.buffers, loss_sum, probes.derivative_sq[0], probes.grad_sq[0]


# Parameters: Adam divides by |gradient| + eps, so where a gradient is near eps (a unit active on one row) the
# gradients' rounding (1e-13) moves the step by up to a few thousandths of lr (1e-3): 1e-5 is 1% of lr, far
# below what a wrong update rule moves (a step of lr or more).
PARAMS_ATOL = 1e-5


def assert_same_steps(ours, theirs):
    params, grads, loss_sum, active, grad_sq = ours
    their_params, their_grads, their_loss, their_active, their_grad_sq = theirs
    for p, q in zip(params, their_params):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=PARAMS_ATOL)
    for g, h in zip(grads, their_grads):
        torch.testing.assert_close(g, h, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss_sum, their_loss, rtol=1e-6, atol=0)
    assert active.tolist() == their_active.tolist()
    torch.testing.assert_close(grad_sq, their_grad_sq, rtol=1e-5, atol=0)


@pytest.mark.parametrize("configs, sizes", [
    ([config(optimizer="sgd", lr=0.02, momentum=0.9, zero_grad=False)], [20, 20, 7]),
    (MIXED, [20, 20, 7]),
    (MIXED, [7]),
], ids=["one model", "a stack of four", "a short batch alone"])
def test_steps_equal_the_written_out_step(kernels, examples, configs, sizes):
    """Full batches (two row blocks, the second partial) and a short last batch; every optimizer setting."""
    indices = batches(len(configs), sizes)
    assert_same_steps(fused_steps(configs, indices, examples), written_out_steps(configs, indices, examples))


def test_tiles_smaller_than_the_layers_cover_every_parameter(kernels, examples):
    """Hidden 40 in tiles of 16 (the last one partial), inputs in tiles of 128 (the last of 784 partial), a
    batch of 37 in blocks of 16: every parameter is stepped once, every row counted once."""
    configs, indices = [config(hidden=40, batch_size=37)] * 2, batches(2, [37])
    tiles = Tiles(rows=16, inputs=64, w1_hidden=16, w1_inputs=128, batch=16)
    assert_same_steps(fused_steps(configs, indices, examples, hidden=40, tiles=tiles),
                      written_out_steps(configs, indices, examples, hidden=40))


def autograd_steps(cfg: TrainConfig, seed: int, indices: list[torch.Tensor], examples):
    """One nn.Module MLP stepped by torch.optim (zero_grad() only when cfg says so): parameters, gradients,
    and the last step's loss and probes from autograd and a backward hook."""
    x, y = examples
    model = build_model(HIDDEN, seed, DEVICE)
    first, last = model.linears
    params = [first.weight, first.bias, last.weight, last.bias]
    optimizer = (torch.optim.Adam(params, lr=cfg.lr) if cfg.optimizer == "adam"
                 else torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum))
    for index in indices:
        if cfg.zero_grad:
            optimizer.zero_grad()
        pre = first(x[index])
        pre.retain_grad()
        loss = F.cross_entropy(last(pre.clamp_min(0)), y[index])
        loss.backward()
        optimizer.step()
    # in the stack's layout: biases as rows
    as_stacked = [lambda t: t, lambda t: t.view(1, -1), lambda t: t, lambda t: t.view(1, -1)]
    probes = ((pre > 0).sum().item(), pre.grad.double().square().sum().item())
    return ([shape(p.detach()) for shape, p in zip(as_stacked, params)],
            [shape(p.grad) for shape, p in zip(as_stacked, params)], loss.item(), probes)


@pytest.mark.parametrize("cfg", [config(), config(optimizer="sgd", lr=0.05, momentum=0.9),
                                 config(optimizer="sgd", lr=0.05), config(zero_grad=False)],
                         ids=["adam", "sgd with momentum", "sgd", "adam without zero_grad"])
def test_a_model_steps_as_autograd_and_torch_optim_step_it(kernels, examples, cfg):
    """Two steps, the second on a short batch: parameters and gradients as torch.optim and autograd leave
    them (accumulated without zero_grad), and the last step's loss and probes."""
    indices = batches(1, [20, 7])
    one_step = fused_steps([cfg], indices[1:], examples)
    params, grads, _, _, _ = fused_steps([cfg], indices, examples)
    their_params, their_grads, _, _ = autograd_steps(cfg, 0, [i[0] for i in indices], examples)
    for p, q in zip(params, their_params):
        torch.testing.assert_close(p[0], q, rtol=1e-5, atol=PARAMS_ATOL)
    for g, h in zip(grads, their_grads):
        torch.testing.assert_close(g[0], h, rtol=1e-5, atol=1e-7)
    _, _, loss, (active, grad_sq) = autograd_steps(cfg, 0, [indices[1][0]], examples)
    assert one_step[2].item() == pytest.approx(loss, rel=1e-6)
    assert one_step[3].item() == active
    assert one_step[4].item() == pytest.approx(grad_sq, rel=1e-5)


# Compiles both kernels for an H200 (sm_90) as a launch there would, with no GPU: Triton's front end and
# ptxas catch what the interpreter lets through (a name given two types in two branches, say). A process of
# its own, without TRITON_INTERPRET: this one defined the kernels for the interpreter.
COMPILE_FOR_H200 = """
import torch, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from report_builder.config import TrainConfig
from report_builder.training import fused_kernels as kernels
from report_builder.training.engine import StackedMLP
from report_builder.training.fused import FusedStep

NOT_FP32 = {"y_ptr": "*i64", "index_ptr": "*i64", "partial_ptr": "*fp64", "adam_ptr": "*fp64",
            "active_ptr": "*fp64", "grad_sq_ptr": "*fp64", "log_beta1": "fp32", "log_beta2": "fp32",
            "beta1": "fp32", "beta2": "fp32", "eps": "fp32"}
model = StackedMLP(128, [0, 1], torch.device("cpu"))
sums = [torch.zeros(2), torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]
step = FusedStep(model.params, [TrainConfig()] * 2, torch.zeros(64, 784), torch.zeros(64, dtype=torch.long), 32,
                 *sums, probes=True)
for kernel, constants in ((kernels.forward_backward_kernel, step.first_constants),
                          (kernels.update_kernel, step.second_constants)):
    constants = dict(constants)
    options = {"num_warps": constants.pop("num_warps")}
    signature = {name: "constexpr" if name in constants else
                 NOT_FP32.get(name, "*fp32" if name.endswith("_ptr") else "i32") for name in kernel.arg_names}
    source = ASTSource(kernel, signature, {(kernel.arg_names.index(n),): v for n, v in constants.items()})
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)
    print(kernel.__name__, "cubin", len(compiled.asm["cubin"]), "bytes")
"""


def test_the_kernels_compile_for_an_h200_without_one():
    env = {name: value for name, value in os.environ.items() if name != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", COMPILE_FOR_H200], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "forward_backward_kernel cubin" in done.stdout and "update_kernel cubin" in done.stdout


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """40 examples: a batch of 32 and a short one of 8."""
    return prepare(load_raw(write_dataset(tmp_path_factory.mktemp("d"), n_train=40, n_test=40)), DEVICE)


def test_a_stack_trained_fused_matches_the_written_out_engine(kernels, tiny_data, monkeypatch):
    """train_stack with the fused step (chosen here also on a CPU, where the interpreter runs it; on a GPU
    captured as CUDA graphs) against the same stack with the written-out step, epoch by epoch."""
    configs = [dataclasses.replace(c, batch_size=32, epochs=2, probes=("relu_active", "relu_grad_sq"))
               for c in MIXED[1:3]]
    alone = train_stack(configs, [0, 0], tiny_data, DEVICE)
    monkeypatch.setattr(fused, "choose", lambda configs, device: fused.FusedChoice(True))
    with_fused = train_stack(configs, [0, 0], tiny_data, DEVICE)
    for ours, theirs in zip(with_fused, alone):
        assert ours.fused and not theirs.fused
        for a, b in zip(ours.epochs, theirs.epochs):
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)
            assert a.test_loss == pytest.approx(b.test_loss, rel=1e-5)
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=1 / 40 + 1e-9)
            assert a.probes["relu_active"] == b.probes["relu_active"]
            assert a.probes["relu_grad_sq"] == pytest.approx(b.probes["relu_grad_sq"], rel=1e-5)


def test_a_cpu_run_keeps_why_it_did_not_use_the_fused_step(tiny_data):
    cpu_data = prepare(tiny_data.raw, CPU)
    (run,) = train_stack([config(epochs=1, batch_size=32)], [0], cpu_data, CPU)
    assert not run.fused and run.fused_note == "fused Triton step: CUDA only"


CUDA = torch.device("cuda")  # a device object only: choose() asks no GPU anything


def test_on_cuda_the_fused_step_is_off_unless_switched_on(monkeypatch):
    monkeypatch.delenv(fused.ENV, raising=False)
    assert fused.choose([config()], CUDA) == fused.FusedChoice(False, "fused Triton step off (REPORT_BUILDER_FUSED=1 turns it on)")
    monkeypatch.setenv(fused.ENV, "0")
    assert fused.choose([config()], CUDA) == fused.FusedChoice(False, "fused Triton step turned off by REPORT_BUILDER_FUSED=0")
    monkeypatch.setenv(fused.ENV, "1")
    assert fused.choose([config()], CUDA) == fused.FusedChoice(True)


def test_the_switch_does_not_bring_the_fused_step_to_a_cpu(monkeypatch):
    monkeypatch.setenv(fused.ENV, "1")
    assert fused.choose([config()], CPU) == fused.FusedChoice(False, "fused Triton step: CUDA only")


def test_a_switch_that_is_neither_0_nor_1_is_a_config_error(monkeypatch):
    monkeypatch.setenv(fused.ENV, "yes")
    with pytest.raises(ConfigError) as error:
        fused.choose([config()], CUDA)
    assert str(error.value) == "REPORT_BUILDER_FUSED='yes': must be 0 (the written-out step) or 1 (the fused Triton step)"


def test_the_widest_hidden_layer_the_kernels_take_is_max_hidden(monkeypatch):
    monkeypatch.setenv(fused.ENV, "1")
    assert fused.choose([config(hidden=fused.MAX_HIDDEN)], CUDA).use
    wider = fused.choose([config(), config(hidden=fused.MAX_HIDDEN + 1)], CUDA)
    assert wider == fused.FusedChoice(False, "fused Triton step: written-out step instead, for hidden = 257 (above 256)")


def test_shapes_of_other_variations_train_with_the_written_out_step():
    """Settings issue 26 adds (deeper, other activations, dropout, weight decay, other probes) are named."""
    cfg = SimpleNamespace(hidden=(128, 64), activation="tanh", dropout=0.1, weight_decay=1e-4,
                          probes=("relu_active", "grad_sq"))
    assert fused.unsupported(cfg) == ["2 hidden layers", "activation = tanh", "dropout = 0.1",
                                      "weight_decay = 0.0001", "probe grad_sq"]
    assert fused.unsupported(config(probes=("relu_active", "relu_grad_sq"))) == []


def test_without_triton_the_note_says_so(monkeypatch):
    monkeypatch.setenv(fused.ENV, "1")
    monkeypatch.setitem(sys.modules, "triton", None)  # import triton now raises ImportError
    assert fused.choose([config()], CUDA) == fused.FusedChoice(False, "fused Triton step: Triton is not installed")


def test_the_kernels_use_the_written_out_steps_adam_constants():
    assert (fused.ADAM_BETAS, fused.ADAM_EPS) == (engine.ADAM_BETAS, engine.ADAM_EPS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_gpu_a_captured_fused_stack_trains_as_the_written_out_one(tiny_data, monkeypatch):
    """The compiled kernels as CUDA graphs (a full and a short last batch) against the written-out step."""
    configs = [dataclasses.replace(c, device="cuda", batch_size=32, epochs=2, probes=("relu_active", "relu_grad_sq"))
               for c in MIXED]
    monkeypatch.setenv(fused.ENV, "0")
    written_out = train_stack(configs, [0] * len(configs), tiny_data, CUDA)
    monkeypatch.setenv(fused.ENV, "1")
    with_fused = train_stack(configs, [0] * len(configs), tiny_data, CUDA)
    for ours, theirs in zip(with_fused, written_out):
        assert ours.fused and ours.cuda_graphs, (ours.fused_note, ours.cuda_graph_error)
        for a, b in zip(ours.epochs, theirs.epochs):
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=1 / 40 + 1e-9)
            assert a.probes["relu_grad_sq"] == pytest.approx(b.probes["relu_grad_sq"], rel=1e-3)
