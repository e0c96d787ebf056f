"""A sweep's report section: its sentences, each rendered with numbers that make it true and with numbers
that point the other way; its figure's axis and text alternative; its interval; and the section rendered
from small real runs."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.config.schema import Sweep, SweepPoint
from report_builder.report.render import render_report
from report_builder.analysis.sweeps import CONFIDENCE, LOG_AXIS_RATIO, mean_interval, sweep_view

SUITE = config_text("lr_sweep")
NAMES = ["lr-lr-0p0001", "base", "lr-lr-0p01", "lr-lr-0p1"]


def render(tmp_path, finals: list[float], suite: str = SUITE, repeats: int = 3, names=NAMES,
           spreads: dict[str, float] | None = None) -> str:
    """Seed r of each point adds r × its spread (0.002 unless given) to its accuracy: points with the same spread
    differ by the same amount on every seed, which the paired test calls beyond noise however small."""
    config = write_config(tmp_path / "experiments.toml", suite)
    write_fixture_results(config, tmp_path / "results",
                          {name: {"accuracies": [0.5, final], "repeats": repeats,
                                  "spread": (spreads or {}).get(name, 0.002)} for name, final in zip(names, finals)})
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", REPO_DIR / "templates", pdf=False,
                  figure_files=False)  # the HTML alone: no figure files, no exports
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", html)


def section(html: str) -> str:
    start = html.index(". Learning rate sweep</h2>")
    return html[start:html.index("</section>", start)]


def test_means_rising_with_the_value_say_the_best_is_the_largest_swept(tmp_path):
    text = section(render(tmp_path, [0.80, 0.82, 0.84, 0.86]))
    assert "Final test accuracy is highest at lr = 0.1: 86.2%" in text
    assert "The mean rises with every step up in lr, so the best value is the largest swept" in text
    assert "falls with every step" not in text and "inside the swept range" not in text


def test_means_falling_with_the_value_say_the_best_is_the_smallest_swept(tmp_path):
    text = section(render(tmp_path, [0.86, 0.84, 0.82, 0.80]))
    assert "highest at lr = 0.0001" in text
    assert "The mean falls with every step up in lr, so the best value is the smallest swept" in text
    assert "rises with every step" not in text


def test_a_peak_whose_neighbours_are_below_it_beyond_noise_is_bracketed(tmp_path):
    text = section(render(tmp_path, [0.80, 0.86, 0.82, 0.78]))
    assert "highest at lr = 0.001" in text
    assert "the values on both sides of it are below it by more than seed noise: the sweep brackets" in text
    assert "Below it beyond seed noise: lr = 0.0001, lr = 0.01, lr = 0.1." in text
    assert "<td>−6.0</td> <td class=\"text\">beyond (<span class=\"num\">p" in text  # each one's difference, in the table


def test_a_peak_with_a_neighbour_within_noise_is_not_called_bracketed(tmp_path):
    # lr = 0.01 by seed: 84.1, 86.1, 88.1 against 86.0, 86.2, 86.4: −1.9, −0.1, +1.7 points
    text = section(render(tmp_path, [0.80, 0.86, 0.841, 0.78], spreads={"lr-lr-0p01": 0.02}))
    assert "highest at lr = 0.001" in text
    assert "brackets" not in text
    assert "not both of its neighbours are below it by more than seed noise" in text
    assert "Not shown below it, so other seeds could rank it first: lr = 0.01 (0.1 points lower; within seed " \
           "noise: paired t-test over seeds 0, 1, 2" in text
    assert "p = 0.93, 95% CI [−4.4, 4.6] points, Holm-adjusted p = 0.93 over this sweep's 3 " \
           "comparisons)" in text  # the other two are p = 0: the largest p is multiplied by one


def test_a_best_value_at_an_end_without_a_monotone_mean_says_a_value_beyond_may_be_better(tmp_path):
    text = section(render(tmp_path, [0.86, 0.80, 0.84, 0.82]))
    assert "highest at lr = 0.0001" in text
    assert "does not change monotonically with lr, and the best value is at an end of the range" in text


def test_one_seed_gives_no_estimate_of_noise_and_no_interval(tmp_path):
    suite = config_text("lr_sweep", defaults={"repeats": 1})
    text = section(render(tmp_path, [0.80, 0.86, 0.82, 0.78], suite=suite, repeats=1))
    assert "on average over seed 0." in text and "confidence interval 8" not in text
    assert "No test (fewer than 3 seeds shared with the best) for lr = 0.0001, lr = 0.01, " \
           "lr = 0.1: their differences from the best may be noise." in text
    assert "brackets" not in text and "Below it beyond seed noise" not in text


def test_the_figure_uses_a_log_axis_and_its_text_alternative_gives_every_mean(tmp_path):
    text = section(render(tmp_path, [0.80, 0.86, 0.82, 0.78]))
    alt = re.search(r'alt="([^"]*)"', text).group(1)
    assert alt.startswith("Chart of final test accuracy against lr on a logarithmic axis: each seed is a point")
    assert "lr = 0.0001: 80.2%; lr = 0.001: 86.2% (highest); lr = 0.01: 82.2%; lr = 0.1: 78.2%." in alt
    assert "86.2%" in text and '<th scope="row">0.001</th>' in text


def test_a_sweep_over_two_keys_draws_one_line_per_value_of_the_second(tmp_path):
    suite = config_text("lr_sweep", sweeps={"lr": {"vary": {"lr": [0.001, 0.01], "batch_size": [32, 64]}}})
    names = ["base", "lr-lr-0p001-batch_size-64", "lr-lr-0p01-batch_size-32", "lr-lr-0p01-batch_size-64"]
    text = section(render(tmp_path, [0.80, 0.86, 0.82, 0.78], suite=suite, names=names))
    assert "one line per value of batch_size" in text
    assert "</span> batch_size = 32</li>" in text and "</span> batch_size = 64</li>" in text
    assert "highest at lr = 0.001, batch_size = 64" in text
    assert "rises with every step" not in text and "inside the swept range" not in text


def test_sweep_members_are_not_listed_again_among_other_experiments(tmp_path):
    html = render(tmp_path, [0.80, 0.86, 0.82, 0.78])
    assert "Other experiments" not in html
    assert '<a href="#sweep-lr">Learning rate sweep</a>' in html


def _sweep(values: list[float]) -> Sweep:
    return Sweep(name="s", title="s", description="", base=None, keys=("lr",),
                 points=tuple(SweepPoint(values=(("lr", v),), experiment=f"e{i}", label=f"lr = {v}")
                              for i, v in enumerate(values)))


def test_values_spanning_a_decade_get_a_log_axis_and_less_do_not():
    assert sweep_view(_sweep([0.01, 0.01 * LOG_AXIS_RATIO]), {}).log_axis
    assert not sweep_view(_sweep([0.01, 0.01 * LOG_AXIS_RATIO * 0.99]), {}).log_axis
    assert LOG_AXIS_RATIO == 10.0


def test_the_interval_is_students_t_at_95_percent():
    low, high = mean_interval([0.80, 0.82, 0.84])
    # t(0.975, 2 df) = 4.302653; the standard error is 0.02 / √3
    assert (low, high) == pytest.approx((0.82 - 4.302653 * 0.02 / 3 ** 0.5, 0.82 + 4.302653 * 0.02 / 3 ** 0.5))
    assert CONFIDENCE == 0.95
    assert mean_interval([0.8]) is None


def test_a_sweep_rendered_from_small_real_runs(tmp_path, tiny_data_dir):
    from report_builder.execution.runner import run_suite
    from report_builder.progress import Progress

    config = write_config(tmp_path / "experiments.toml",
                          config_text("lr_sweep_real", defaults={"data_dir": str(tiny_data_dir)}))
    suite = load_suite(config)
    run_suite(suite, [], tmp_path / "results", progress=Progress(bars=False))
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(suite, tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    text = section(re.sub(r"\s+", " ", (tmp_path / "build" / "report.html").read_text(encoding="utf-8")))
    assert "Final test accuracy is highest at lr = " in text
    assert text.count('<th scope="row">0.') == 2  # one row per swept value
    assert (tmp_path / "build" / "figures" / "_sweep-lr.svg").exists()


def test_a_failed_point_is_named_and_left_out(tmp_path):
    config = write_config(tmp_path / "experiments.toml", SUITE)
    write_fixture_results(config, tmp_path / "results", {"lr-lr-0p1": {"accuracies": [0.5, 0.5], "status": "failed"}})
    text = section(render(tmp_path, [0.80, 0.86, 0.82], names=NAMES[:3]))
    assert "Not shown: lr = 0.1 (failed)." in text
    assert "highest at lr = 0.001" in text


def test_diverged_seeds_are_counted_and_left_out_of_the_mean(tmp_path):
    from conftest import fixture_result

    from report_builder.results import store

    render(tmp_path, [0.80, 0.86, 0.82, 0.78])
    result = fixture_result(tmp_path / "experiments.toml", "lr-lr-0p1", accuracies=[0.5, 0.78], repeats=3)
    result["runs"][2]["diverged_at"] = 2
    result["runs"][2]["epochs"][1].update(test_accuracy=None, test_loss=None)
    store.write_result(tmp_path / "results", {k: v for k, v in result.items() if k != "format"})
    render_report(load_suite(tmp_path / "experiments.toml"), tmp_path / "results", tmp_path / "build",
                  REPO_DIR / "templates", pdf=False)
    text = section(re.sub(r"\s+", " ", (tmp_path / "build" / "report.html").read_text(encoding="utf-8")))
    assert "Diverged (loss not finite), and left out of the means: lr = 0.1 in 1 seed." in text
    assert "lr = 0.1: 78.1%" in text  # seeds 0 and 1: 78.0% and 78.2%
