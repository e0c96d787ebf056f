"""A [reference] CSV is checked like the experiments file: every problem named by file, line and column,
with the nearest valid name, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import config_text, write_config

from report_builder.cli import main
from report_builder.config import load_suite
from report_builder.errors import ConfigError

CONFIG = config_text("reference")


def problems_with(folder: Path, csv: str) -> list[str]:
    (folder / "ref.csv").write_text(csv, encoding="utf-8")
    write_config(folder / "experiments.toml", CONFIG)
    with pytest.raises(ConfigError) as caught:
        load_suite(folder / "experiments.toml")
    return caught.value.problems


def test_a_well_formed_reference_loads(tmp_path):
    (tmp_path / "ref.csv").write_text("experiment,epoch,test_accuracy,train_seconds\nbaseline,1,0.8,3\n"
                                      "baseline,2,0.85,\nsgd,1,1,2.5\n")
    suite = load_suite(write_config(tmp_path / "experiments.toml", CONFIG))
    assert suite.reference.values == {"baseline": {1: {"test_accuracy": 0.8, "train_seconds": 3.0},
                                                   2: {"test_accuracy": 0.85}},
                                      "sgd": {1: {"test_accuracy": 1.0, "train_seconds": 2.5}}}


def test_a_misspelt_experiment_names_the_nearest(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_accuracy\nbasline,1,0.8\n") == [
        "experiments.toml: [reference] ref.csv line 2 experiment: no experiment named 'basline' "
        "(did you mean 'baseline'?)"]


def test_an_accuracy_written_as_a_percentage_says_so(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_accuracy\nbaseline,1,75\n") == [
        "experiments.toml: [reference] ref.csv line 2 test_accuracy: must be ≤ 1, got 75.0 "
        "(looks like a percentage: write 0.75)"]


def test_an_accuracy_beyond_any_percentage_states_the_bound(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_accuracy\nbaseline,1,750\n") == [
        "experiments.toml: [reference] ref.csv line 2 test_accuracy: must be ≤ 1, got 750.0"]


def test_a_negative_loss_or_time_is_refused(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_loss,train_seconds\nbaseline,1,-0.1,-2\n") == [
        "experiments.toml: [reference] ref.csv line 2 test_loss: must be ≥ 0, got -0.1",
        "experiments.toml: [reference] ref.csv line 2 train_seconds: must be ≥ 0, got -2.0"]


def test_a_row_given_twice_names_both_lines(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_accuracy\nbaseline,1,0.8\nsgd,1,0.7\nbaseline,1,0.81\n") == [
        "experiments.toml: [reference] ref.csv line 4: a second row for baseline epoch 1 (the first is line 2)"]


def test_an_unknown_column_suggests_the_nearest(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_acc\nbaseline,1,0.8\n") == [
        "experiments.toml: [reference] ref.csv unknown column 'test_acc' (did you mean 'test_accuracy'?); valid: "
        "experiment, epoch, train_loss, test_loss, test_accuracy, train_seconds"]


def test_a_cell_that_is_not_a_number_names_its_column(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_accuracy\nbaseline,first,0.8\nsgd,1,high\n") == [
        "experiments.toml: [reference] ref.csv line 2 epoch: must be an integer, got 'first'",
        "experiments.toml: [reference] ref.csv line 3 test_accuracy: must be a number, got 'high'"]


def test_a_row_without_its_experiment_says_it_is_missing(tmp_path):
    assert problems_with(tmp_path, "experiment,epoch,test_accuracy\n,1,0.8\n") == [
        "experiments.toml: [reference] ref.csv line 2 experiment: missing; must be a string"]


def test_a_bad_reference_stops_the_command_with_status_2(tmp_path, capsys):
    (tmp_path / "ref.csv").write_text("experiment,epoch,test_accuracy\nbasline,1,75\n")
    config = write_config(tmp_path / "experiments.toml", CONFIG)
    status = main(["list", "--config", str(config), "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err.splitlines()
    assert status == 2
    assert err == [f"error: {config}: 2 problems",
                   "  - experiments.toml: [reference] ref.csv line 2 experiment: no experiment named 'basline' "
                   "(did you mean 'baseline'?)",
                   "  - experiments.toml: [reference] ref.csv line 2 test_accuracy: must be ≤ 1, got 75.0 "
                   "(looks like a percentage: write 0.75)"]
