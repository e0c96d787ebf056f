"""Every input is checked before the first epoch: every dataset (all missing ones named, with the table
that asks for each, and nothing written to the results folder), the --compare folder and
REPORT_BUILDER_FUSED. `plan` says what `run` would find missing."""

from __future__ import annotations

from pathlib import Path

from conftest import config_text, write_config, write_fixture_results

from report_builder.cli import main

def two_missing(tmp_path: Path, data: Path) -> Path:
    return write_config(tmp_path / "e.toml", config_text("missing_datasets", defaults={"data_dir": str(data)}))


def test_every_missing_dataset_is_named_with_the_table_that_asks_for_it(tmp_path, tiny_data_dir, capsys):
    status = main(["run", "--config", str(two_missing(tmp_path, tiny_data_dir)), "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: 2 datasets cannot be read; nothing was trained\n")
    assert f"  - MNIST not found in {tiny_data_dir}" in err and f"  - KMNIST not found in {tiny_data_dir}" in err
    assert "(dataset = 'mnist' of [sweeps.ds] (ds-dataset-mnist) in e.toml)" in err
    assert "(dataset = 'kmnist' of [sweeps.ds] (ds-dataset-kmnist) in e.toml)" in err
    assert "[experiments.ds-" not in err


def test_a_run_that_cannot_start_leaves_the_results_folder_untouched(tmp_path, tiny_data_dir, capsys):
    results = tmp_path / "r"
    main(["run", "--config", str(two_missing(tmp_path, tiny_data_dir)), "--results-dir", str(results)])
    assert not results.exists()  # no .lock, no empty summary.csv


def test_plan_names_each_dataset_run_would_not_find(tmp_path, tiny_data_dir, capsys):
    status = main(["plan", "--config", str(two_missing(tmp_path, tiny_data_dir)), "--results-dir", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert status == 0
    assert (f"dataset MNIST not found in {tiny_data_dir} (dataset = 'mnist' of [sweeps.ds] (ds-dataset-mnist)): "
            "`run` stops before training (downloads are off: $REPORT_BUILDER_NO_DOWNLOAD is set)") in out
    assert f"dataset KMNIST not found in {tiny_data_dir}" in out
    assert "Fashion-MNIST not found" not in out  # baseline's is there


def test_plan_says_a_missing_dataset_will_be_downloaded_where_downloads_are_on(tmp_path, tiny_data_dir, capsys,
                                                                                monkeypatch):
    monkeypatch.delenv("REPORT_BUILDER_NO_DOWNLOAD")
    main(["plan", "--config", str(two_missing(tmp_path, tiny_data_dir)), "--results-dir", str(tmp_path / "r")])
    assert "(dataset = 'mnist' of [sweeps.ds] (ds-dataset-mnist)): `run` downloads it first" in capsys.readouterr().out


def test_report_refuses_a_compare_folder_without_results_before_training(tiny_config, tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    status = main(["report", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r"),
                   "--build-dir", str(tmp_path / "b"), "--no-pdf", "--compare", str(tmp_path / "notes")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: --compare {tmp_path / 'notes'}: not a results folder")
    assert not (tmp_path / "r").exists()


def test_a_bad_fused_setting_stops_the_run_before_anything_is_written(tiny_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REPORT_BUILDER_FUSED", "yes")
    status = main(["run", "--config", str(tiny_config), "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert err == "error: REPORT_BUILDER_FUSED='yes': must be 0 (the written-out step) or 1 (the fused Triton step)\n"
    assert not (tmp_path / "r").exists()


def test_a_compare_folder_with_results_is_accepted_before_training(tiny_config, tmp_path):
    write_fixture_results(tiny_config, tmp_path / "old", {"baseline": {"accuracies": [0.5, 0.6]}})
    from report_builder.findings.changes import check_snapshot_dir

    assert list(check_snapshot_dir(tmp_path / "old")) == ["baseline"]
