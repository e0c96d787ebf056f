"""A figure's numbers: each series reads the results-side numbers (EpochStats), and its text alternative's
words come from the series."""

from __future__ import annotations

import pytest

from report_builder.report.plots import Series, Style, epoch_series, probe_figure
from report_builder.analysis.views import experiment_view

STYLE = Style("#0072B2", "o", "-", "")


def view(probes: dict[str, list[float]], accuracies=(0.8, 0.84, 0.86), seeds=(0, 1)):
    runs = [{"seed": seed, "repeat": i, "diverged_at": None,
             "epochs": [{"epoch": e + 1, "train_loss": 1.0, "test_loss": 0.5, "test_accuracy": a + 0.01 * i,
                         "train_seconds": 1.0, "eval_seconds": 0.1, "probes": {p: v[e] for p, v in probes.items()}}
                        for e, a in enumerate(accuracies)]}
            for i, seed in enumerate(seeds)]
    return experiment_view({"experiment": "probed", "status": "done", "config": {"probes": list(probes)},
                            "runs": runs, "provenance": {}})


def test_a_metric_series_is_its_mean_per_epoch_with_a_band_of_one_sd():
    series = epoch_series(view({}), "test_accuracy", "test accuracy", STYLE)
    assert series.x == (1, 2, 3) and series.y == pytest.approx((0.805, 0.845, 0.865))
    assert series.high[0] - series.y[0] == pytest.approx(0.01 / 2 ** 0.5)


def test_a_probe_series_reads_the_probe():
    series = epoch_series(view({"relu_active": [300, 200, 100]}), "relu_active", "count", STYLE)
    assert series.y == (300, 200, 100)


def test_the_per_active_series_is_each_runs_ratio_with_a_band_of_one_sd(tmp_path):
    v = view({"relu_active": [100, 0, 50], "relu_grad_sq": [2.0, 1.0, 0.5]})
    (series,) = [s for s in probe_figure("k", v, {"probed": STYLE}, tmp_path, files=False).series
                 if s.panel.endswith("per active input")]
    assert series.x == (1, 3) and series.y == pytest.approx((0.02, 0.01))


@pytest.mark.parametrize("y, trend", [((0.5,), "one"), ((1.0, 1.009), "flat"), ((1.0, 1.2), "rises"),
                                      ((1.0, 0.5), "falls"), ((0.0, 0.0), "flat")])
def test_a_series_trend_is_what_its_text_alternative_says(y, trend):
    assert Series("a", "panel", tuple(range(len(y))), y).trend == trend


def test_the_probe_figure_has_a_per_active_panel_only_with_both_probes(tmp_path):
    both = probe_figure("k", view({"relu_active": [3, 2, 1], "relu_grad_sq": [1.0, 0.8, 0.5]}), {"probed": STYLE},
                        tmp_path, files=False)
    one = probe_figure("k", view({"relu_active": [3, 2, 1]}), {"probed": STYLE}, tmp_path, files=False)
    assert [s.panel for s in both.series][-1] == "Σ (∂loss/∂ReLU input)² per active input"
    assert [s.panel for s in one.series] == ["active ReLU inputs (count)"]
