"""What the gradient section computes from results: layers found from the stored keys, the log-scale split of
the gradient's change into its two factors (run by run), and comparisons between layers and experiments."""

from __future__ import annotations

import math

import pytest

from report_builder.analysis import gradients
from report_builder.analysis.views import experiment_view


def view(probes_by_seed: dict[int, dict[str, list[float]]], hidden=16, activation: str | None = "relu",
         names=("derivative_sq", "grad_sq"), train_examples=100):
    """An ExperimentView whose run with seed s recorded probes_by_seed[s] ({stored key: value per epoch})."""
    runs = []
    for i, (seed, probes) in enumerate(probes_by_seed.items()):
        n = len(next(iter(probes.values())))
        runs.append({"seed": seed, "repeat": i, "diverged_at": None, "epochs": [
            {"epoch": e + 1, "train_loss": 1.0, "test_loss": 0.5, "test_accuracy": 0.8, "train_seconds": 1.0,
             "eval_seconds": 0.1, "probes": {k: v[e] for k, v in probes.items()}} for e in range(n)]})
    config = {"probes": list(names), "hidden": hidden, **({"activation": activation} if activation else {})}
    return experiment_view({"experiment": "x", "status": "done", "config": config, "runs": runs,
                            "provenance": {"train_examples": train_examples}})


def test_layers_are_found_from_the_stored_keys_input_side_first():
    v = view({0: {"derivative_sq": [1, 2], "grad_sq": [1, 2], "derivative_sq@2": [3, 4], "grad_sq@2": [3, 4]}},
             hidden=[16, 8], activation="tanh")
    layers = gradients.layers_of(v)
    assert [(l.layer, l.width, l.activation, l.derivative, l.gradient) for l in layers] == [
        (1, 16, "tanh", "derivative_sq", "grad_sq"), (2, 8, "tanh", "derivative_sq@2", "grad_sq@2")]


def test_results_from_before_the_activation_setting_read_as_a_relu():
    v = view({0: {"relu_active": [100, 50], "relu_grad_sq": [2.0, 1.5]}}, activation=None,
             names=("relu_active", "relu_grad_sq"))
    (layer,) = gradients.layers_of(v)
    assert (layer.activation, layer.derivative, layer.gradient) == ("relu", "relu_active", "relu_grad_sq")


def test_the_change_splits_into_two_log_factors_that_add_up_run_by_run():
    # seed 0: count halves, per active input ×1.5; seed 1: count ×0.4, per active input ×2
    v = view({0: {"derivative_sq": [100, 50], "grad_sq": [2.0, 1.5]},
              1: {"derivative_sq": [100, 40], "grad_sq": [2.0, 1.6]}})
    c = gradients.probe_change(v)
    assert c.derivative.mean == pytest.approx((math.log(0.5) + math.log(0.4)) / 2)
    assert c.per_unit.mean == pytest.approx((math.log(1.5) + math.log(2.0)) / 2)
    assert c.total.mean == pytest.approx(c.derivative.mean + c.per_unit.mean)
    assert c.total.std is not None and c.opposite and c.driver == "derivative"
    assert c.offset == pytest.approx(abs(c.per_unit.mean) / abs(c.derivative.mean))
    assert c.derivative_share is None


@pytest.mark.parametrize("per_unit, driver", [(0.9, "both"), (0.89, "derivative"), (1.12, "per_unit"),
                                              (1.1, "both")])
def test_the_larger_factor_drives_unless_within_ten_percent(per_unit, driver):
    # derivative log change −1 (×e⁻¹); per-unit log change −per_unit
    v = view({0: {"derivative_sq": [1.0, math.exp(-1)], "grad_sq": [1.0, math.exp(-1 - per_unit)]}})
    assert gradients.probe_change(v).driver == driver


def test_moves_in_one_direction_give_each_factors_share():
    v = view({0: {"derivative_sq": [1.0, math.exp(-0.25)], "grad_sq": [1.0, math.exp(-1.0)]}})
    c = gradients.probe_change(v)
    assert not c.opposite and c.offset is None and c.derivative_share == pytest.approx(0.25)


def test_no_change_is_split_from_a_zero_gradient():
    assert gradients.probe_change(view({0: {"derivative_sq": [100, 50], "grad_sq": [0.0, 1.5]}})) is None


def test_per_unit_is_each_runs_ratio_then_mean_and_sd():
    v = view({0: {"derivative_sq": [100], "grad_sq": [2.0]}, 1: {"derivative_sq": [50], "grad_sq": [2.0]}})
    stat = gradients.per_unit(v, 1, gradients.layers_of(v)[0])
    assert stat.mean == pytest.approx(0.03) and stat.std == pytest.approx(0.01 * math.sqrt(2))


def test_rows_are_per_input_value_of_each_layer():
    v = view({0: {"derivative_sq": [800.0], "grad_sq": [16.0], "derivative_sq@2": [400.0], "grad_sq@2": [0.08]}},
             hidden=[16, 8])
    first, second = gradients.gradient_rows(v)
    assert first.derivative.mean == pytest.approx(800 / (100 * 16)) and first.gradient.mean == pytest.approx(0.01)
    assert second.gradient.mean == pytest.approx(0.0001) and second.log10_gradient == {0: pytest.approx(-4)}


def spread_view(layer1: list[float], layer2: list[float] | None = None):
    """Seeds 0, 1, 2 with these final per-input squared gradients of layer 1 (and 2)."""
    runs = {}
    for seed, g1 in enumerate(layer1):
        probes = {"derivative_sq": [1.0], "grad_sq": [g1 * 100 * 16]}
        if layer2:
            probes.update({"derivative_sq@2": [1.0], "grad_sq@2": [layer2[seed] * 100 * 16]})
        runs[seed] = probes
    return view(runs, hidden=[16, 16] if layer2 else 16)


def test_the_first_layer_against_the_last_is_a_ratio_described_seed_by_seed():
    vanishing = gradients.first_vs_last(spread_view([1e-6, 2e-6, 1.5e-6], [1e-3, 1.1e-3, 0.9e-3]))
    geometric = (lambda xs: 10 ** (sum(map(math.log10, xs)) / len(xs)))
    assert vanishing.smaller
    assert vanishing.factor == pytest.approx(geometric([1e-3, 1.1e-3, 0.9e-3]) / geometric([1e-6, 2e-6, 1.5e-6]))
    assert (vanishing.seeds, vanishing.agreeing) == (3, 3)
    assert vanishing.seed_range == (pytest.approx(1e-6 / 1e-3), pytest.approx(2e-6 / 1.1e-3))
    noisy = gradients.first_vs_last(spread_view([1e-3, 3e-3, 0.5e-3], [2e-3, 0.6e-3, 1.4e-3]))
    assert noisy.smaller and (noisy.seeds, noisy.agreeing) == (3, 2)  # per seed 0.5, 5 and 0.36


def test_an_experiment_against_its_baseline_compares_first_layers_both_ways():
    relu, sigmoid = spread_view([1e-3, 1.2e-3, 0.9e-3]), spread_view([1e-5, 1.3e-5, 0.8e-5])
    smaller = gradients.against_baseline(sigmoid, relu)
    larger = gradients.against_baseline(relu, sigmoid)
    assert smaller.smaller and not larger.smaller
    assert smaller.factor == pytest.approx(larger.factor) and 50 < smaller.factor < 200
    assert gradients.against_baseline(relu, relu) is None and gradients.against_baseline(relu, None) is None


def test_gradient_comparisons_are_described_without_a_test():
    c = gradients.against_baseline(spread_view([1e-3, 1.2e-3, 0.9e-3]), spread_view([1e-5, 1.3e-5, 0.8e-5]))
    assert not hasattr(c, "difference") and not hasattr(c, "p_value")
