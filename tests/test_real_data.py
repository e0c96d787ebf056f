"""One short run on the real Fashion-MNIST (CPU): the pipeline learns what the assignment learned."""

from __future__ import annotations

import os

import pytest
from conftest import config_text, real_data_dir, write_config

from report_builder.cli import main
from report_builder.results import store


@pytest.mark.slow
def test_one_epoch_on_real_data_reaches_80_percent(tmp_path, capsys):
    data_dir = real_data_dir()
    if data_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must see the real dataset: set REPORT_BUILDER_DATA_DIR")
        pytest.skip("real Fashion-MNIST not found: set REPORT_BUILDER_DATA_DIR to a folder holding it")
    text = config_text(defaults={"epochs": 1, "device": "cpu", "data_dir": str(data_dir)}, experiments={"baseline": {}})
    config = write_config(tmp_path / "e.toml", text)
    assert main(["run", "--config", str(config), "--results-dir", str(tmp_path / "r")]) == 0
    result = store.read_result(tmp_path / "r" / "baseline.json")
    (record,) = result["runs"][0]["epochs"]
    assert record["test_accuracy"] >= 0.80
    assert result["provenance"]["train_examples"] == 60000 and result["provenance"]["test_examples"] == 10000
