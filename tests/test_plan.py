"""`plan`: what would run and why, the time it would take from earlier runs, and what the planned seeds can
detect; without training, and without importing torch when nothing would run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results
from scipy import stats

from report_builder.config import ExecutorConfig, load_suite
from report_builder.execution.forecast import describe, forecast
from report_builder.analysis.power import POWER, detectable_difference, seeds_needed
from report_builder.analysis.statistics import LEVEL

def plan_of(tmp_path, results: dict, stack: bool = True, **tables: dict):
    """`plan` of tests/fixtures/plan_forecast.toml with `tables` merged over it (see conftest.config_text)."""
    config = write_config(tmp_path / "experiments.toml", config_text("plan_forecast", **tables))
    write_fixture_results(config, tmp_path / "results", results)
    (tmp_path / "bench").mkdir(exist_ok=True)
    return forecast(load_suite(config), [], tmp_path / "results", ExecutorConfig(), stack=stack,
                    benchmarks_dir=tmp_path / "bench")


def by_name(plan, name):
    return next(p for p in plan.experiments if p.name == name)


def test_missing_results_are_planned_with_every_declared_seed(tmp_path):
    plan = plan_of(tmp_path, {})
    assert (by_name(plan, "other").reasons, by_name(plan, "other").seeds) == (["no results yet"], [0, 1, 2])
    # round-robin (tasks.round_robin): the first seed of every experiment, then the second
    assert plan.tasks[:4] == ["base[0]", "other[0]", "wide[0]", "base[1]"]


def test_current_results_are_cached_and_a_changed_setting_is_named(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8, 0.8, 0.8], "repeats": 3}})
    assert by_name(plan, "base").cached
    config = tmp_path / "experiments.toml"
    write_config(config, config_text(config, experiments={"base": {"lr": 0.002}}))
    plan = forecast(load_suite(config), [], tmp_path / "results", ExecutorConfig(), benchmarks_dir=tmp_path / "bench")
    assert by_name(plan, "base").reasons == ["lr changed 0.001 → 0.002"]
    assert "base   stale (lr changed 0.001 → 0.002): trains seeds 0, 1, 2 on cpu;" in "\n".join(describe(plan))


def test_results_from_another_device_kind_are_stale(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3, "device_name": "NVIDIA H200"}})
    assert by_name(plan, "base").reasons == ["device changed cuda → cpu"]


def test_a_raised_repeat_count_trains_only_the_new_seed(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 2}})
    assert by_name(plan, "base").seeds == [2]


def test_the_estimate_is_the_median_undisturbed_epoch_of_earlier_runs_with_that_batch_size(tmp_path):
    # base: epochs of 5 s (disturbed), 2 s and 2 s training + 0.01 s evaluation each
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3, "seconds": [5.0, 2.0, 2.0],
                                       "disturbed": (1,)}})
    other = by_name(plan, "other")
    assert other.epoch_seconds == pytest.approx(2.01)
    assert other.seconds == pytest.approx(3 * 3 * 2.01)
    assert "other  missing: trains seeds 0, 1, 2 on cpu; about 18 s (3 seeds × 3 epochs × 2.01 s, median of 6 earlier " \
           "epochs, trained alone)" in describe(plan)
    assert "estimate: about 18 s of training" in "\n".join(describe(plan))


def test_no_earlier_run_with_that_batch_size_gives_no_estimate(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3}})
    wide = by_name(plan, "wide")
    assert wide.seconds is None
    assert wide.source == ("no estimate: no earlier run on this device kind (cpu) with batch size 64, the tensor "
                           "pipeline, the explicit engine and hidden 128")


def test_without_results_the_benchmark_files_of_this_device_kind_give_the_estimate(tmp_path):
    plan_of(tmp_path, {})
    (tmp_path / "bench" / "cpu-test.json").write_text(json.dumps({
        "device": "CPU", "date": "2026-01-01",
        "pipelines": [{"batch_size": 64, "variants": {"explicit": {"seconds_per_epoch": 0.5, "engine": "explicit"}}}]}))
    plan = forecast(load_suite(tmp_path / "experiments.toml"), [], tmp_path / "results", ExecutorConfig(),
                    benchmarks_dir=tmp_path / "bench")
    wide = by_name(plan, "wide")
    assert (wide.epoch_seconds, wide.source) == (0.5, "benchmarks/results/cpu-test.json, training only")
    assert by_name(plan, "base").seconds is None


def test_what_the_seeds_can_detect_comes_from_the_familys_pooled_sd(tmp_path):
    # per seed r: base 0.80 + 0.002 r, other 0.78 + 0.005 r: SDs 0.002 and 0.005 over 3 seeds each, pooled
    # √((0.002² + 0.005²) / 2) with 4 df; a difference's planning SD is √2 times that
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3, "spread": 0.002},
                              "other": {"accuracies": [0.78] * 3, "repeats": 3, "spread": 0.005}},
                   report={"detect_points": 0.5})
    (d,) = plan.detections
    assert (d.experiment, d.baseline, d.seeds, d.family, d.family_size) == ("other", "base", 3, "group:g", 1)
    sd = (0.002 ** 2 + 0.005 ** 2) ** 0.5
    assert (d.planning.difference, d.planning.df) == (pytest.approx(sd), 4)
    assert d.detectable == pytest.approx(detectable_difference(sd, 3))
    assert d.needed == seeds_needed(sd, 0.005)
    # at the detectable difference a paired two-sided t-test over 3 seeds rejects with probability POWER
    critical = stats.t.ppf(1 - LEVEL / 2, 2)
    nc = d.detectable * 3 ** 0.5 / sd
    assert stats.nct.sf(critical, 2, nc) + stats.nct.cdf(-critical, 2, nc) == pytest.approx(POWER, abs=1e-6)
    text = "\n".join(describe(plan))
    assert f"g: other vs base, 3 shared seeds (group:g, 1 comparison, level 0.05): a difference of {100 * d.detectable:.2f} " \
           f"points (planning SD of a difference {100 * sd:.2f} points: √2 × {100 * sd / 2 ** 0.5:.2f} pooled over 2 " \
           "experiments, 4 df)" in text
    assert f"detect_points = 0.5: needs {d.needed} seeds" in text


def test_plan_and_report_state_the_same_detectable_difference(tmp_path):
    # two groups sharing the baseline, judged over the whole report: both at 5% / 2, from one pooled SD
    results = {"base": {"accuracies": [0.8] * 3, "repeats": 3, "spread": 0.002},
               "other": {"accuracies": [0.78] * 3, "repeats": 3, "spread": 0.005},
               "wide": {"accuracies": [0.79] * 3, "repeats": 3, "spread": 0.001}}
    plan = plan_of(tmp_path, results, report={"family": "report"},
                   groups={"w": {"experiments": ["base", "wide"], "baseline": "base"}})
    from report_builder.findings.conclusions import suite_claims
    from report_builder.analysis.load import load_views

    views, _ = load_views(load_suite(tmp_path / "experiments.toml"), tmp_path / "results")
    reported = {c.experiments[0]: c.detectable for c in suite_claims(load_suite(tmp_path / "experiments.toml"), views)}
    assert {d.experiment: (d.family, d.family_size) for d in plan.detections} == {"wide": ("report", 2),
                                                                                 "other": ("report", 2)}
    assert {d.experiment: d.detectable for d in plan.detections} == pytest.approx(reported)
    assert len({round(d.detectable, 12) for d in plan.detections}) == 1


def test_without_earlier_results_it_says_it_cannot_tell(tmp_path):
    plan = plan_of(tmp_path, {})
    (d,) = plan.detections
    assert d.planning is None and d.detectable is None
    assert "  g: other vs base, 3 shared seeds (group:g, 1 comparison, level 0.05): cannot tell: no earlier results with " \
           "two seeds of one experiment in the family" in describe(plan)


def test_two_planned_seeds_are_no_test_and_say_so(tmp_path):
    plan = plan_of(tmp_path, {}, defaults={"repeats": 2})
    (d,) = plan.detections
    assert d.family_size == 1 and d.detectable is None
    assert "  g: other vs base, 2 shared seeds (group:g, 1 comparison, level 0.05): no test: 3 or more seeds needed" \
        in describe(plan)


def test_more_than_a_hundred_seeds_is_said_so(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3, "spread": 0.05},
                              "other": {"accuracies": [0.78] * 3, "repeats": 3, "spread": 0.05}},
                   report={"detect_points": 0.1})
    assert plan.detections[0].needed is None
    assert "detect_points = 0.1: needs more than 100 seeds" in "\n".join(describe(plan))


def test_stackable_runs_are_shown_as_the_stacks_run_would_train(tmp_path):
    plan = plan_of(tmp_path, {}, defaults={"stack": True})
    assert "stack of 6 (base[0], base[1], base[2], other[0], other[1], other[2])" in plan.tasks


def test_plan_of_current_results_imports_no_torch(tmp_path):
    config = write_config(tmp_path / "experiments.toml", config_text("plan_forecast"))
    write_fixture_results(config, tmp_path / "results", {name: {"accuracies": [0.8] * 3, "repeats": 3}
                                                         for name in ("base", "other", "wide")})
    code = ("import sys; from report_builder.cli import main; status = main(['plan', '--config', sys.argv[1], "
            "'--results-dir', sys.argv[2]]); print('torch' in sys.modules); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, str(config), str(tmp_path / "results")],
                          capture_output=True, text=True, cwd=REPO_DIR)
    assert done.returncode == 0, done.stderr
    assert "nothing to train: every selected experiment has current results" in done.stdout
    assert done.stdout.splitlines()[-1] == "False"


def test_plan_on_a_python_without_torch_says_so_instead_of_the_order(tmp_path):
    config = write_config(tmp_path / "experiments.toml", config_text("plan_forecast"))
    # torch hidden from this interpreter (find_spec finds none), and never imported behind its back
    code = ("import sys, importlib.util as u; real = u.find_spec; "
            "u.find_spec = lambda name, *a: None if name.split('.')[0] == 'torch' else real(name, *a); "
            "from report_builder.cli import main; "
            "status = main(['plan', '--config', sys.argv[1], '--results-dir', sys.argv[2]]); "
            "print('torch' in sys.modules); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, str(config), str(tmp_path / "results")],
                          capture_output=True, text=True, cwd=REPO_DIR)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "order: not shown: this Python lacks torch" in done.stdout
    assert "base" in done.stdout and "trains seeds 0, 1, 2" in done.stdout
    assert done.stdout.splitlines()[-1] == "False"


def test_a_timing_group_member_trained_in_a_stack_is_planned_alone(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3, "stacked_with": 3}},
                   groups={"t": {"experiments": ["base"], "timing": True}})
    base = by_name(plan, "base")
    assert (base.reasons, base.seeds) == (["trained in a stack, a timing group needs it alone"], [0, 1, 2])


def test_a_damaged_results_file_is_planned_again(tmp_path):
    plan_of(tmp_path, {})
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "base.json").write_text("{")
    plan = forecast(load_suite(tmp_path / "experiments.toml"), ["base"], tmp_path / "results", ExecutorConfig(),
                    benchmarks_dir=tmp_path / "bench")
    (base,) = plan.experiments
    assert base.reasons[0].startswith("previous run damaged (") and base.seeds == [0, 1, 2]


def test_with_only_disturbed_epochs_the_estimate_uses_them_and_says_so(tmp_path):
    plan = plan_of(tmp_path, {"base": {"accuracies": [0.8] * 3, "repeats": 3, "seconds": [4.0, 4.0, 4.0],
                                       "disturbed": (1, 2, 3)}})
    other = by_name(plan, "other")
    assert other.epoch_seconds == pytest.approx(4.01)
    assert other.source == "median of 9 earlier epochs, trained alone, timed while other work loaded the machine"
