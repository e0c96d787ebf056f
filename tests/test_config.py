"""experiments.toml: what loads, and every way it can be wrong, each named precisely."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text

from report_builder.config import TrainConfig, load_suite, parse_suite
from report_builder.errors import ConfigError


# The invalid inputs below stay inline TOML: each test is about what the parser says of the exact text it shows.
def problems_of(text: str, folder: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, (folder or Path(".")) / "experiments.toml")
    return caught.value.problems


def test_shipped_file_declares_the_whole_assignment():
    suite = load_suite(REPO_DIR / "experiments.toml")
    assert list(suite.experiments) == ["baseline", "batch16", "batch64", "lr_high", "lr_low", "sgd",
                                       "relu_grad", "no_zero_grad", "dataloader"]
    assert set(suite.groups) >= {"batch_size", "learning_rate", "optimizer", "zero_grad"}
    baseline = suite.experiments["baseline"].config
    assert (baseline.batch_size, baseline.optimizer, baseline.lr, baseline.epochs) == (32, "adam", 0.001, 5)
    assert suite.experiments["batch16"].config.batch_size == 16
    assert suite.experiments["lr_low"].config.lr == 0.0001
    assert suite.experiments["sgd"].config.optimizer == "sgd"
    assert suite.experiments["relu_grad"].config.probes == ("relu_active", "relu_grad_sq")
    assert suite.experiments["no_zero_grad"].config.zero_grad is False


def test_experiment_overrides_only_what_it_names():
    suite = parse_suite(config_text(defaults={"epochs": 3, "lr": 0.01}, experiments={"a": {"lr": 0.5}}), Path("x.toml"))
    cfg = suite.experiments["a"].config
    assert (cfg.epochs, cfg.lr, cfg.batch_size) == (3, 0.5, TrainConfig().batch_size)


def test_integer_learning_rate_is_accepted_as_a_number():
    suite = parse_suite("[experiments.a]\nlr = 1\n", Path("x.toml"))
    assert suite.experiments["a"].config.lr == 1.0


def test_malformed_toml_gives_line_and_column():
    with pytest.raises(ConfigError) as caught:
        parse_suite("[defaults]\nepochs = = 3\n", Path("experiments.toml"))
    assert "malformed TOML" in str(caught.value)
    assert "line 2, column" in str(caught.value)


def test_unknown_key_names_table_and_suggestion():
    assert problems_of("[experiments.a]\nbatchsize = 3\n") == [
        "experiments.toml: [experiments.a] unknown key 'batchsize' (did you mean 'batch_size'?)"]


def test_unknown_key_in_defaults_is_named():
    assert problems_of("[defaults]\nhiden = 3\n[experiments.a]\n") == [
        "experiments.toml: [defaults] unknown key 'hiden' (did you mean 'hidden'?)"]


def test_wrong_type_names_expected_type():
    assert problems_of('[experiments.a]\nepochs = "five"\n') == [
        "experiments.toml: [experiments.a] epochs: must be an integer, got 'five'"]


def test_boolean_is_not_an_integer():
    assert problems_of("[experiments.a]\nhidden = true\n") == [
        "experiments.toml: [experiments.a] hidden: must be an integer or a list of integers, got True"]


@pytest.mark.parametrize("key, value, bound", [
    ("batch_size", "0", "≥ 1"), ("epochs", "0", "≥ 1"), ("hidden", "-4", "≥ 1"), ("lr", "0", "> 0"),
    ("lr", "-0.1", "> 0"), ("repeats", "0", "≥ 1")])
def test_out_of_range_value_is_rejected(key, value, bound):
    assert problems_of(f"[experiments.a]\n{key} = {value}\n") == [
        f"experiments.toml: [experiments.a] {key}: must be {bound}, got {float(value) if key == 'lr' else int(value)!r}"]


def test_unknown_optimizer_suggests_the_nearest():
    assert problems_of('[experiments.a]\noptimizer = "adma"\n') == [
        "experiments.toml: [experiments.a] optimizer: unknown value 'adma' (did you mean 'adam'?); valid: adam, sgd"]


def test_unknown_probe_is_rejected():
    (problem,) = problems_of('[experiments.a]\nprobes = ["relu_grad"]\n')
    assert "probes: unknown value 'relu_grad'" in problem and "relu_grad_sq" in problem


def test_unknown_device_is_rejected():
    (problem,) = problems_of('[experiments.a]\ndevice = "gpu"\n')
    assert problem.startswith("experiments.toml: [experiments.a] device: unknown value 'gpu'")


def test_group_naming_a_missing_experiment():
    assert problems_of('[experiments.sgd]\n[groups.g]\nexperiments = ["sgd", "sdg"]\n') == [
        "experiments.toml: [groups.g] experiments: no experiment named 'sdg' (did you mean 'sgd'?)"]


def test_group_listing_an_experiment_twice():
    assert problems_of('[experiments.a]\n[groups.g]\nexperiments = ["a", "a"]\n') == [
        "experiments.toml: [groups.g] experiments: lists 'a' more than once"]


def test_every_problem_is_reported_at_once():
    found = problems_of('[defaults]\nepochs = 0\n[experiments.a]\nlr = "x"\nfoo = 1\n[groups.g]\nexperiments = ["b"]\n')
    assert len(found) == 4


def test_unknown_top_level_table_suggests_nearest():
    assert problems_of("[experiment.a]\n") == [
        "experiments.toml: [experiment]: unknown table (did you mean 'experiments'?); valid: report, defaults, "
        "experiments, sweeps, groups, executor, reference, timing"]


def test_the_timing_table_is_checked_like_any_other():
    found = problems_of("[timing]\nrounds = 3\nwait_second = 10\n[experiments.a]\n")
    assert found[0] == "experiments.toml: [timing] rounds: must be ≥ 5, got 3"
    assert found[1].startswith("experiments.toml: [timing] unknown key 'wait_second' (did you mean 'wait_seconds'?)")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_suite(tmp_path / "nope.toml")
    assert "no such experiments file" in str(caught.value)


def test_unknown_name_on_selection_lists_experiments():
    suite = parse_suite("[experiments.baseline]\n[experiments.sgd]\n", Path("experiments.toml"))
    with pytest.raises(ConfigError) as caught:
        suite.select(["sdg"])
    assert str(caught.value) == ("unknown experiment 'sdg' (did you mean 'sgd'?); "
                                 "experiments.toml declares: baseline, sgd")


def test_reference_file_is_read_and_checked_at_load_time(tmp_path):
    (tmp_path / "ref.csv").write_text("experiment,epoch,test_accuracy,speed\na,1,0.8,3\na,x,0.9,3\n")
    problems = problems_of('[experiments.a]\n[reference]\nfile = "ref.csv"\nlabl = "x"\n', tmp_path)
    assert "experiments.toml: [reference] unknown key 'labl' (did you mean 'label'?)" in problems
    assert any("ref.csv unknown column 'speed'" in p for p in problems)
    assert "experiments.toml: [reference] ref.csv line 3 epoch: must be an integer, got 'x'" in problems


def test_a_missing_reference_file_is_named(tmp_path):
    problems = problems_of('[experiments.a]\n[reference]\nfile = "nowhere.csv"\n', tmp_path)
    assert problems == [f"experiments.toml: [reference] file: no such file {tmp_path / 'nowhere.csv'}"]


def test_the_shipped_reference_maps_the_2021_numbers_to_our_experiments():
    suite = load_suite(REPO_DIR / "experiments.toml")
    assert suite.reference.label == "2021 writeup"
    assert set(suite.reference.values) <= set(suite.experiments)
    assert suite.reference.final("sgd") == (5, {"train_loss": 0.572, "test_loss": 0.58, "test_accuracy": 0.795,
                                                "train_seconds": 19.402})


# ---- one schema for every table ---------------------------------------------------------------------

def test_every_key_of_every_table_is_declared_with_a_doc():
    from report_builder.config.schema import (ExecutorConfig, ExperimentText, GroupConfig, ReferenceConfig,
                                              ReportConfig, SweepConfig)

    tables = (ReportConfig, TrainConfig, ExperimentText, GroupConfig, ExecutorConfig, ReferenceConfig, SweepConfig)
    undocumented = [f"{cls.__name__}.{f.name}" for cls in tables for f in dataclasses.fields(cls)
                    if not f.metadata.get("doc")]
    assert undocumented == []


def test_a_group_without_experiments_says_they_are_missing():
    assert problems_of('[experiments.a]\n[groups.g]\ntitle = "G"\n') == [
        "experiments.toml: [groups.g] experiments: missing; must be a non-empty list of strings"]


def test_a_group_with_an_empty_experiment_list_is_refused():
    assert problems_of('[experiments.a]\n[groups.g]\nexperiments = []\n') == [
        "experiments.toml: [groups.g] experiments: must be a non-empty list of strings, got []"]


def test_unknown_report_key_suggests_the_nearest():
    assert problems_of('[report]\ntitel = "x"\n[experiments.a]\n') == [
        "experiments.toml: [report] unknown key 'titel' (did you mean 'title'?)"]


def test_group_and_experiment_titles_default_to_their_names():
    suite = parse_suite('[experiments.a]\n[groups.g]\nexperiments = ["a"]\n', Path("x.toml"))
    assert (suite.experiments["a"].title, suite.groups["g"].title, suite.groups["g"].baseline) == ("a", "g", None)


def test_a_group_baseline_outside_the_group_is_named():
    assert problems_of('[experiments.a]\n[experiments.b]\n[groups.g]\nexperiments = ["a"]\nbaseline = "b"\n') == [
        "experiments.toml: [groups.g] baseline: 'b' is not one of this group's experiments ['a']"]


def test_momentum_just_below_one_is_accepted():
    suite = parse_suite("[experiments.a]\nmomentum = 0.9999999\n", Path("x.toml"))
    assert suite.experiments["a"].config.momentum == 0.9999999


def test_momentum_of_one_states_the_exclusive_bound():
    assert problems_of("[experiments.a]\nmomentum = 1\n") == [
        "experiments.toml: [experiments.a] momentum: must be < 1, got 1.0"]


def test_an_inclusive_maximum_is_stated_as_such():
    from dataclasses import dataclass

    from report_builder.config.keys import check_table, key

    @dataclass(frozen=True)
    class Table:
        share: float = key(0.5, "A share.", minimum=0.0, maximum=1.0)
        count: int = key(1, "A count.", maximum=5)

    problems: list[str] = []
    check_table({"share": 1.0, "count": 6}, "[t]", problems, Table)
    assert problems == ["[t] count: must be ≤ 5, got 6"]


def test_a_non_finite_number_is_refused():
    assert problems_of("[experiments.a]\nlr = nan\n") == [
        "experiments.toml: [experiments.a] lr: must be a finite number, got nan"]
