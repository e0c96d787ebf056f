"""The variation keys (activation, hidden as a list, dropout, weight_decay, dataset): what loads, every way each
can be wrong, what counts for the cache, and where each dataset is looked for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import write_config, write_dataset

from report_builder.cli import main
from report_builder.config import TrainConfig, parse_suite
from report_builder.errors import ConfigError, DataError
from report_builder.results.identity import changes, identity_of, run_settings
from report_builder.training.data import find_files, load_raw


def problems_of(table: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_suite(f"[experiments.a]\n{table}\n", Path("experiments.toml"))
    return caught.value.problems


def settings_of(table: str) -> TrainConfig:
    return parse_suite(f"[experiments.a]\n{table}\n", Path("experiments.toml")).experiments["a"].config


def test_the_defaults_are_the_assignment():
    cfg = TrainConfig()
    assert (cfg.activation, cfg.layers, cfg.dropout, cfg.weight_decay, cfg.dataset) == \
        ("relu", (128,), 0.0, 0.0, "fashion-mnist")


def test_a_list_of_widths_is_one_hidden_layer_each_and_may_repeat_a_width():
    assert settings_of("hidden = [256, 128]").layers == (256, 128)
    assert settings_of("hidden = [64, 64, 64]").layers == (64, 64, 64)


@pytest.mark.parametrize("table, problem", [
    ('activation = "tahn"', "activation: unknown value 'tahn' (did you mean 'tanh'?); valid: relu, leaky_relu, "
                            "tanh, sigmoid, gelu"),
    ('dataset = "mnsit"', "dataset: unknown value 'mnsit' (did you mean 'mnist'?); valid: fashion-mnist, mnist, "
                          "kmnist"),
    ("hidden = []", "hidden: must list at least 1 item, got []"),
    ("hidden = [128, 0]", "hidden: must be ≥ 1, got 0"),
    ("hidden = [128, -3]", "hidden: must be ≥ 1, got -3"),
    ('hidden = ["wide"]', "hidden: must be an integer or a list of integers, got ['wide']"),
    ("dropout = 1.0", "dropout: must be < 1, got 1.0"),
    ("dropout = -0.1", "dropout: must be ≥ 0, got -0.1"),
    ("weight_decay = -0.001", "weight_decay: must be ≥ 0, got -0.001"),
    ('activation = "tanh"\nprobes = ["relu_active"]',
     "probes: 'relu_active' measures a ReLU, but activation is 'tanh'; use 'derivative_sq'"),
])
def test_each_bad_value_is_one_problem_naming_file_table_and_key(table, problem):
    assert problems_of(table) == [f"experiments.toml: [experiments.a] {problem}"]


@pytest.mark.parametrize("table", ["dropout = 0.0", "dropout = 0.999", "weight_decay = 0.0", "hidden = [1]"])
def test_the_ends_of_each_range_that_are_inside_it_load(table):
    settings_of(table)


def test_a_bad_value_exits_2_with_one_line_per_problem(tmp_path, capsys):
    config = write_config(tmp_path / "bad.toml", '[experiments.a]\nactivation = "sigmod"\n')
    status = main(["run", "--config", str(config)])
    err = capsys.readouterr().err.splitlines()
    assert status == 2
    assert err == [f"error: {config}: 1 problem",
                   "  - bad.toml: [experiments.a] activation: unknown value 'sigmod' (did you mean 'sigmoid'?); "
                   "valid: relu, leaky_relu, tanh, sigmoid, gelu"]


# ---- the cache identity ----------------------------------------------------------------------------------

ASSIGNMENT_IDENTITY = {"hidden": 128, "epochs": 5, "batch_size": 32, "optimizer": "adam", "lr": 0.001,
                       "zero_grad": True, "probes": [], "max_train": None, "max_test": None, "pipeline": "tensor",
                       "engine": "explicit"}
"""The settings part of the default config's identity as it was before the variation keys existed."""


def test_the_default_config_keeps_the_identity_it_had_before_the_new_keys():
    assert run_settings(TrainConfig().identity(), "cpu") == ASSIGNMENT_IDENTITY


def test_results_stored_before_the_new_keys_stay_valid_for_the_defaults():
    stored = {"config": ASSIGNMENT_IDENTITY, "code_version": "c", "data_fingerprint": "f", "device_kind": "cpu"}
    wanted = {**identity_of(TrainConfig(), "f", "cpu"), "code_version": "c"}
    assert changes(stored, wanted) == []


@pytest.mark.parametrize("setting, value, reason", [
    ("activation", "tanh", "activation changed 'relu' → 'tanh'"),
    ("dropout", 0.2, "dropout changed 0 → 0.2"),
    ("weight_decay", 1e-4, "weight_decay changed 0 → 0.0001"),
    ("dataset", "mnist", "dataset changed 'fashion-mnist' → 'mnist'"),
    ("hidden", (128, 64), "hidden changed 128 → [128, 64]"),
])
def test_each_new_setting_is_part_of_the_identity_and_named_when_it_changes(setting, value, reason):
    stored = {"config": ASSIGNMENT_IDENTITY, "code_version": "c", "data_fingerprint": "f", "device_kind": "cpu"}
    wanted = {**identity_of(dataclasses.replace(TrainConfig(), **{setting: value}), "f", "cpu"), "code_version": "c"}
    assert changes(stored, wanted) == [reason]


def test_a_setting_set_back_to_its_old_default_is_named_too():
    stored = {"config": {**ASSIGNMENT_IDENTITY, "dropout": 0.2}, "code_version": "c", "data_fingerprint": "f",
              "device_kind": "cpu"}
    assert changes(stored, {**identity_of(TrainConfig(), "f", "cpu"), "code_version": "c"}) == ["dropout changed 0.2 → 0"]


def test_one_width_in_a_list_is_the_same_network_as_the_integer():
    assert TrainConfig(hidden=(128,)).identity() == TrainConfig(hidden=128).identity()


# ---- the datasets ------------------------------------------------------------------------------------------

def test_mnist_is_read_from_its_torchvision_folder(tmp_path):
    write_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=20, n_test=10)
    raw = load_raw(tmp_path / "data", "mnist")
    assert raw.train_images.shape == (20, 28, 28)
    assert raw.source == str(tmp_path / "data" / "MNIST" / "raw")


def test_fashion_mnist_files_are_never_taken_for_another_dataset(tmp_path):
    """The family shares file names: files lying directly in the folder are Fashion-MNIST's (as always)."""
    write_dataset(tmp_path / "data", n_train=20, n_test=10)
    write_dataset(tmp_path / "data" / "FashionMNIST" / "raw", n_train=20, n_test=10)
    assert find_files(tmp_path / "data", "fashion-mnist") is not None
    assert find_files(tmp_path / "data", "kmnist") is None


def test_a_missing_dataset_with_downloads_off_names_it_and_where_it_was_looked_for(tmp_path):
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "data", "kmnist")
    message = str(caught.value)
    assert message.startswith(f"KMNIST not found in {tmp_path / 'data'} (download disabled by "
                              f"$REPORT_BUILDER_NO_DOWNLOAD)")
    assert str(tmp_path / "data" / "KMNIST" / "raw") in message and "\n" not in message


def test_a_download_uses_the_datasets_own_torchvision_mirrors(tmp_path, monkeypatch):
    import torchvision

    from report_builder.training import data

    monkeypatch.delenv("REPORT_BUILDER_NO_DOWNLOAD")
    asked = []

    def refuse(url, path, md5):
        asked.append(url)
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(data, "_fetch", refuse)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/mnist/"])
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "data", "mnist")
    assert asked == ["http://127.0.0.1:9/mnist/train-images-idx3-ubyte.gz"]
    assert str(caught.value).startswith("MNIST not found") and not (tmp_path / "data").exists()


def test_a_run_on_a_missing_dataset_exits_2_naming_it(tmp_path, capsys):
    config = write_config(tmp_path / "e.toml", f'[defaults]\ndata_dir = "{tmp_path / "nothing"}"\ndevice = "cpu"\n'
                                               'dataset = "mnist"\n[experiments.a]\n')
    status = main(["run", "--config", str(config), "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: MNIST not found in {tmp_path / 'nothing'}")
    assert err.endswith("(dataset = 'mnist' of [experiments.a] in e.toml)\n") and err.count("\n") == 1


# ---- sweeps over the new keys ------------------------------------------------------------------------------

def test_a_sweep_over_depths_names_its_points_with_file_safe_names():
    suite = parse_suite('[experiments.a]\n[sweeps.s]\nvary = { hidden = [[128], [64, 32]], activation = ["relu", "tanh"] }\n',
                       Path("experiments.toml"))
    # [128] with relu is experiment a itself (one layer is one width however it is written)
    assert list(suite.experiments) == ["a", "s-hidden-128-activation-tanh", "s-hidden-64x32-activation-relu",
                                       "s-hidden-64x32-activation-tanh"]
    assert suite.experiments["s-hidden-64x32-activation-tanh"].config.layers == (64, 32)


def test_a_sweep_point_with_a_relu_probe_under_another_activation_is_named():
    with pytest.raises(ConfigError) as caught:
        parse_suite('[defaults]\nprobes = ["relu_grad_sq"]\n[experiments.a]\n'
                    '[sweeps.s]\nvary = { activation = ["relu", "gelu"] }\n', Path("experiments.toml"))
    assert caught.value.problems == [
        "experiments.toml: [sweeps.s] (s-activation-gelu) probes: 'relu_grad_sq' measures a ReLU, but activation is "
        "'gelu'; use 'grad_sq'"]
