"""[sweeps.NAME]: what a sweep expands into, how its experiments are named and reused, and every way it can
be wrong, each one line with file, table and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text

from report_builder.config import parse_suite
from report_builder.config.schema import MAX_SWEEP
from report_builder.config.sweeps import name_part
from report_builder.errors import ConfigError

BASE = config_text("sweep_base")


def suite_of(text: str):
    return parse_suite(BASE + text, Path("experiments.toml"))


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        suite_of(text)
    return caught.value.problems


def test_one_key_declares_an_experiment_per_value_with_readable_names_and_titles():
    suite = suite_of("""
        [sweeps.lr_sweep]
        base = "baseline"
        vary = { lr = [0.1, 0.01] }
    """)
    sweep = suite.sweeps["lr_sweep"]
    assert [p.experiment for p in sweep.points] == ["lr_sweep-lr-0p1", "lr_sweep-lr-0p01"]
    assert [p.label for p in sweep.points] == ["lr = 0.1", "lr = 0.01"]
    generated = suite.experiments["lr_sweep-lr-0p01"]
    assert (generated.title, generated.config.lr, generated.config.epochs) == ("lr = 0.01", 0.01, 2)


def test_two_keys_make_their_product_in_the_order_of_the_lists():
    suite = suite_of("""
        [sweeps.grid]
        vary = { lr = [0.01, 0.1], batch_size = [16, 64] }
    """)
    assert [p.values for p in suite.sweeps["grid"].points] == [
        (("lr", 0.01), ("batch_size", 16)), (("lr", 0.01), ("batch_size", 64)),
        (("lr", 0.1), ("batch_size", 16)), (("lr", 0.1), ("batch_size", 64))]
    assert "grid-lr-0p1-batch_size-64" in suite.experiments


def test_zip_pairs_the_lists_item_by_item():
    suite = suite_of("""
        [sweeps.scaled]
        vary = { lr = [0.01, 0.02], batch_size = [32, 64] }
        zip = true
    """)
    assert [p.label for p in suite.sweeps["scaled"].points] == ["lr = 0.01, batch_size = 32",
                                                               "lr = 0.02, batch_size = 64"]


def test_a_value_equal_to_a_declared_experiment_is_that_experiment():
    suite = suite_of("""
        [sweeps.lr_sweep]
        base = "baseline"
        vary = { lr = [0.01, 0.001] }
    """)
    assert [p.experiment for p in suite.sweeps["lr_sweep"].points] == ["lr_sweep-lr-0p01", "baseline"]
    assert "lr_sweep-lr-0p001" not in suite.experiments


def test_a_value_differing_from_a_declared_experiment_in_its_seeds_is_a_new_experiment():
    suite = suite_of("""
        [experiments.three_seeds]
        lr = 0.01
        repeats = 3
        [sweeps.lr_sweep]
        base = "baseline"
        vary = { lr = [0.01] }
    """)
    assert [p.experiment for p in suite.sweeps["lr_sweep"].points] == ["lr_sweep-lr-0p01"]


def test_two_sweeps_sharing_a_point_share_its_experiment():
    suite = suite_of("""
        [sweeps.a]
        vary = { lr = [0.01] }
        [sweeps.b]
        vary = { lr = [0.01, 0.02] }
    """)
    assert [p.experiment for p in suite.sweeps["b"].points] == ["a-lr-0p01", "b-lr-0p02"]


def test_groups_may_name_generated_experiments():
    suite = suite_of("""
        [sweeps.s]
        vary = { batch_size = [16] }
        [groups.g]
        experiments = ["baseline", "s-batch_size-16"]
        baseline = "baseline"
    """)
    assert suite.groups["g"].experiments == ("baseline", "s-batch_size-16")


@pytest.mark.parametrize("value, part", [(0.01, "0p01"), (1e-05, "1e-05"), (-0.5, "m0p5"), (1e6, "1e06"),
                                         (64, "64"), (True, "true"), ("sgd", "sgd")])
def test_generated_names_write_values_with_letters_digits_and_dashes(value, part):
    assert name_part(value) == part


def test_an_unknown_key_in_vary_is_named_with_the_nearest():
    assert problems_of("""
        [sweeps.s]
        vary = { lrr = [0.1] }
    """) == ["experiments.toml: [sweeps.s] vary.lrr: unknown training setting (did you mean 'lr'?)"]


def test_a_setting_that_changes_no_number_cannot_be_varied():
    (problem,) = problems_of("""
        [sweeps.s]
        vary = { device = ["cpu", "cuda"] }
    """)
    assert problem.startswith("experiments.toml: [sweeps.s] vary.device: cannot be varied:")


def test_an_empty_list_is_refused():
    assert problems_of("""
        [sweeps.s]
        vary = { lr = [] }
    """) == ["experiments.toml: [sweeps.s] vary.lr: must be a non-empty list of values, got []"]


def test_an_empty_vary_is_refused():
    (problem,) = problems_of("""
        [sweeps.s]
        vary = {}
    """)
    assert problem.startswith("experiments.toml: [sweeps.s] vary: must name at least one training setting")


def test_a_missing_vary_is_named():
    assert problems_of("""
        [sweeps.s]
        base = "baseline"
    """) == ["experiments.toml: [sweeps.s] vary: missing; must be a table of lists"]


def test_a_value_out_of_range_is_checked_as_the_key_is():
    assert problems_of("""
        [sweeps.s]
        vary = { lr = [0.1, -1.0] }
    """) == ["experiments.toml: [sweeps.s] vary.lr: must be > 0, got -1.0"]


def test_a_repeated_value_is_refused():
    assert problems_of("""
        [sweeps.s]
        vary = { lr = [0.1, 0.1] }
    """) == ["experiments.toml: [sweeps.s] vary.lr: lists 0.1 more than once"]


def test_zip_with_unequal_lengths_is_refused():
    assert problems_of("""
        [sweeps.s]
        vary = { lr = [0.1, 0.01], batch_size = [32] }
        zip = true
    """) == ["experiments.toml: [sweeps.s] zip: with zip = true the lists of vary must have equal lengths, "
             "got lr: 2, batch_size: 1"]


def test_a_generated_name_that_an_experiment_holds_with_other_settings_is_refused():
    (problem,) = problems_of("""
        [experiments.s-lr-0p1]
        lr = 0.5
        [sweeps.s]
        vary = { lr = [0.1] }
    """)
    assert problem == ("experiments.toml: [sweeps.s] vary: generates experiment 's-lr-0p1' (lr = 0.1), a name the "
                       "file already uses for other settings; rename the sweep or that experiment")


def test_an_unknown_base_is_named_with_the_nearest():
    assert problems_of("""
        [sweeps.s]
        base = "basline"
        vary = { lr = [0.1] }
    """) == ["experiments.toml: [sweeps.s] base: no experiment named 'basline' (did you mean 'baseline'?)"]


def sizes(count: int) -> str:
    return "[" + ", ".join(str(i) for i in range(1, count + 1)) + "]"


def test_more_experiments_than_the_limit_need_allow_large():
    too_many = f"vary = {{ batch_size = {sizes(MAX_SWEEP // 2 + 1)}, zero_grad = [true, false] }}"
    assert problems_of(f"""
        [sweeps.s]
        {too_many}
    """) == [f"experiments.toml: [sweeps.s] vary: would declare {MAX_SWEEP + 2} experiments, more than "
             f"{MAX_SWEEP}; set allow_large = true if that is meant"]
    assert len(suite_of(f"""
        [sweeps.s]
        {too_many}
        allow_large = true
    """).sweeps["s"].points) == MAX_SWEEP + 2


def test_exactly_the_limit_needs_no_allow_large():
    suite = suite_of(f"""
        [sweeps.s]
        vary = {{ batch_size = {sizes(MAX_SWEEP)} }}
    """)
    assert len(suite.sweeps["s"].points) == MAX_SWEEP


def test_a_bad_sweep_exits_2_and_runs_nothing(tmp_path):
    (tmp_path / "experiments.toml").write_text(BASE + """
        [sweeps.s]
        vary = { lrr = [0.1] }
    """)
    done = subprocess.run([sys.executable, "-m", "report_builder", "run", "--no-progress", "--config",
                           str(tmp_path / "experiments.toml"), "--results-dir", str(tmp_path / "results")],
                          capture_output=True, text=True, cwd=REPO_DIR)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: " + str(tmp_path / "experiments.toml") + ": 1 problem",
                                        "  - experiments.toml: [sweeps.s] vary.lrr: unknown training setting "
                                        "(did you mean 'lr'?)"]
    assert not (tmp_path / "results").exists()


def test_list_shows_each_sweep_with_its_points_and_their_experiments(tmp_path):
    from report_builder.results.status import describe

    suite = suite_of("""
        [sweeps.lr_sweep]
        base = "baseline"
        vary = { lr = [0.1, 0.001] }
    """)
    lines = describe(suite, tmp_path / "results")
    assert lines[1].startswith("lr_sweep-lr-0p1  not run")
    assert lines[-1] == "sweep lr_sweep: lr = 0.1 (lr_sweep-lr-0p1), lr = 0.001 (baseline)"
