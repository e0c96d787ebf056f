"""The gradient section as rendered: layers and activations side by side, each computed sentence both ways,
and the engine that measured the gradient named."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import REPO_DIR, config_text, fixture_result, write_config

from report_builder.config import load_suite
from report_builder.report.render import render_report
from report_builder.results import store

FLOW_SUITE = config_text("gradient_flow")


def probes(first: float, last: float, seed: int, shift: int = 0) -> dict[str, list[float]]:
    """Both layers' probes over two epochs: layer 1's final squared gradient `first` and layer 2's `last`, per
    input value (the fixture has 256 training examples), a little different for each seed: × 1.0, 1.1, 1.2 in
    an order that `shift` rotates (the same order in two experiments makes their per-seed ratio constant)."""
    wobble = 1 + 0.1 * ((seed + shift) % 3)
    return {"derivative_sq": [1000.0, 900.0], "grad_sq": [1.0, first * 256 * 16 * wobble],
            "derivative_sq@2": [500.0, 450.0], "grad_sq@2": [1.0, last * 256 * 8 * wobble]}


def render(tmp_path, finals: dict[str, tuple], suite: str = FLOW_SUITE, engine: str = "explicit") -> str:
    """finals: experiment → (first, last[, shift]), see probes()."""
    config = write_config(tmp_path / "experiments.toml", suite)
    for name, (first, last, *shift) in finals.items():
        doc = fixture_result(config, name, [0.8, 0.85], repeats=3, engine=engine, probes=probes(first, last, 0))
        for run in doc["runs"]:
            values = probes(first, last, run["seed"], *shift)
            for e, epoch in enumerate(run["epochs"]):
                epoch["probes"] = {k: v[e] for k, v in values.items()}
        store.write_result(tmp_path / "results", {k: v for k, v in doc.items() if k != "format"})
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates", dirs_exist_ok=True)
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False,
                  figure_files=False)  # the HTML alone: no figure files, no exports
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    html = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    start = html.index(". Gradient flow</h2>")
    return " ".join(re.sub(r"<[^>]+>", " ", html[start:html.find("<h2>", start)]).split())


def test_a_starved_first_layer_is_called_smaller_than_the_baselines(tmp_path):
    text = render(tmp_path, {"relu": (1e-4, 1e-3), "sigmoid": (1e-7, 1e-5)})
    assert "In Sigmoid, the first layer's mean squared gradient is 1,000× smaller than in ReLU (smaller on 3 of " \
           "its 3 seeds, each seed's ratio from 0.001 to 0.001; a description, not a test)" in text
    assert "in Sigmoid, the first layer's mean squared gradient per input value is 100× smaller than the last " \
           "layer's (smaller on 3 of its 3 seeds" in text
    assert "on log values" not in text and "seed noise: p" not in text  # described, never tested


def test_a_first_layer_that_gets_more_gradient_is_called_larger(tmp_path):
    text = render(tmp_path, {"relu": (1e-4, 1e-3), "sigmoid": (1e-2, 1e-3)})
    assert "In Sigmoid, the first layer's mean squared gradient is 100× larger than in ReLU" in text
    assert "in Sigmoid, the first layer's mean squared gradient per input value is 10× larger than the last layer's" in text


def test_a_difference_inside_the_seed_spread_shows_seeds_pointing_both_ways(tmp_path):
    # The seeds' wobble (up to 20% per seed, in another order for Sigmoid) dwarfs a 2% difference: per seed
    # 1.02 × 1.1, × 1.2 / 1.1 and × 1 / 1.2
    text = render(tmp_path, {"relu": (1e-4, 1e-3), "sigmoid": (1.02e-4, 1e-3, 1)})
    assert "In Sigmoid, the first layer's mean squared gradient is 1.02× larger than in ReLU (larger on 2 of its 3 " \
           "seeds, each seed's ratio from 0.85 to 1.12; a description, not a test)" in text


def test_layers_and_activations_stand_side_by_side_in_one_table_and_figure(tmp_path):
    text = render(tmp_path, {"relu": (1e-4, 1e-3), "sigmoid": (1e-7, 1e-5)})
    table = text[text.index("Each probed layer at the last epoch, per input value"):]
    assert re.search(r"ReLU relu 1 of 2 16 .*? ReLU relu 2 of 2 8 .*? Sigmoid sigmoid 1 of 2 16 .*? "
                     r"Sigmoid sigmoid 2 of 2 8", table)
    assert ("Activation layer ReLU: mean (∂loss/∂x)² per input value, final epoch Sigmoid: mean (∂loss/∂x)² per "
            "input value, final epoch 1 0.00011 1.1e-07 2 0.0011 1.1e-05") in text  # the figure's data, layer by layer


def test_a_network_of_other_activations_is_not_described_as_counting_active_inputs(tmp_path):
    suite = config_text("gradient_flow", experiments={"relu": {"activation": "tanh"}})
    text = render(tmp_path, {"relu": (1e-4, 1e-3), "sigmoid": (1e-7, 1e-5)}, suite)
    assert "sums f′(x)² over a layer's inputs" in text and "A ReLU passes gradient only" not in text


@pytest.mark.parametrize("engine, words, not_words", [
    ("explicit", "taken from the explicit engine's written-out backward pass, which has no hooks", "backward hook"),
    ("autograd", "read by a backward hook on the activation module (the autograd engine)", "explicit engine's")])
def test_the_section_names_what_measured_the_gradient(tmp_path, engine, words, not_words):
    text = render(tmp_path, {"relu": (1e-4, 1e-3), "sigmoid": (1e-7, 1e-5)}, engine=engine)
    assert words in text and not_words not in text
