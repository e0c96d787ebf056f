"""What an experiments file may name and how it may be written: one experiment per setting (a sweep that
lists one value twice, in two spellings, is refused), one name per thing (told apart ignoring case), and
a byte-order mark read past."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text

from report_builder.config import load_suite, parse_suite
from report_builder.errors import ConfigError

BASE = config_text("one_experiment")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_suite(BASE + text, Path("experiments.toml"))
    return caught.value.problems


# ---- a sweep declares each experiment once --------------------------------------------------------------

def test_two_spellings_of_one_width_are_refused_naming_the_sweep_key_and_both_values():
    assert problems_of('[sweeps.width]\nvary = { hidden = [16, [16], 32] }\n') == [
        "experiments.toml: [sweeps.width] vary.hidden: 16 and [16] declare the same experiment; list it once"]


def test_two_combinations_of_a_grid_that_mean_one_experiment_name_only_the_differing_key():
    problems = problems_of('[sweeps.grid]\nvary = { hidden = [[8], 8], lr = [0.1] }\n')
    assert problems == ["experiments.toml: [sweeps.grid] vary.hidden: [8] and 8 declare the same experiment; "
                        "list it once"]


def test_distinct_widths_and_depths_are_one_experiment_each():
    suite = parse_suite(BASE + '[sweeps.width]\nvary = { hidden = [16, [16, 16], 32] }\n', Path("e.toml"))
    assert [p.experiment for p in suite.sweeps["width"].points] == [
        "width-hidden-16", "width-hidden-16x16", "width-hidden-32"]


# ---- one namespace, ignoring case -----------------------------------------------------------------------

def test_a_sweep_named_like_a_group_in_another_case_is_a_config_error():
    problems = problems_of('[groups.Opt]\nexperiments = ["baseline"]\n[sweeps.opt]\nvary = { lr = [0.1] }\n')
    assert problems == ["experiments.toml: [groups.Opt]: the name 'Opt' is already taken by [sweeps.opt] (names "
                        "are compared ignoring case; only a group may share an experiment's name); rename one"]


def test_a_sweep_named_like_an_experiment_is_a_config_error():
    problems = problems_of('[sweeps.baseline]\nvary = { lr = [0.1] }\n')
    assert problems == ["experiments.toml: [sweeps.baseline]: the name 'baseline' is already taken by "
                        "[experiments.baseline] (names are compared ignoring case; only a group may share an "
                        "experiment's name); rename one"]


def test_two_experiments_differing_only_in_case_are_a_config_error():
    problems = problems_of('[experiments.Baseline]\n')
    assert problems == ["experiments.toml: [experiments.Baseline]: the name 'Baseline' is already taken by "
                        "[experiments.baseline] (names are compared ignoring case; only a group may share an "
                        "experiment's name); rename one"]


def test_a_group_may_share_its_name_with_an_experiment_as_the_shipped_file_does():
    suite = load_suite(REPO_DIR / "experiments.toml")
    assert "baseline" in suite.groups and "baseline" in suite.experiments


# ---- a byte-order mark --------------------------------------------------------------------------------

def test_a_utf8_byte_order_mark_is_read_past(tmp_path):
    path = tmp_path / "experiments.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert list(load_suite(path).experiments) == ["baseline"]


def test_a_reference_csv_saved_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "ref.csv").write_bytes(b"\xef\xbb\xbfexperiment,epoch,test_accuracy\nbaseline,1,0.8\n")
    path = tmp_path / "experiments.toml"
    path.write_text(BASE + '[reference]\nfile = "ref.csv"\n', encoding="utf-8")
    assert load_suite(path).reference.values == {"baseline": {1: {"test_accuracy": 0.8}}}
