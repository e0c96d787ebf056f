"""Reading Fashion-MNIST from IDX files: raw or gzip'd, either layout; damaged or missing files named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
from conftest import idx_bytes, write_dataset

from report_builder.errors import DataError
from report_builder.training.data import (
    find_files,
    load_raw,
    normalize,
    prepare,
    read_idx,
    resolve_data_dir,
)


def test_reads_raw_idx_files(tmp_path):
    raw = load_raw(write_dataset(tmp_path / "d", n_train=20, n_test=10))
    assert raw.train_images.shape == (20, 28, 28) and raw.train_images.dtype == torch.uint8
    assert raw.test_labels.shape == (10,) and raw.test_labels.dtype == torch.int64


def test_reads_gzipped_files_to_the_same_tensors(tmp_path):
    plain = load_raw(write_dataset(tmp_path / "plain", n_train=20, n_test=10))
    zipped = load_raw(write_dataset(tmp_path / "gz", n_train=20, n_test=10, gz=True))
    assert torch.equal(plain.train_images, zipped.train_images)
    assert torch.equal(plain.test_labels, zipped.test_labels)
    assert plain.fingerprint == zipped.fingerprint


def test_finds_torchvision_layout(tmp_path):
    write_dataset(tmp_path / "root" / "FashionMNIST" / "raw", n_train=8, n_test=8, gz=True)
    assert find_files(tmp_path / "root") is not None


def test_idx_values_round_trip(tmp_path):
    array = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(array))
    assert torch.equal(read_idx(path), array)


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(torch.zeros(4, 28, 28, dtype=torch.uint8))[:-100])
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(path) in str(caught.value) and "truncated" in str(caught.value)


def test_corrupt_gzip_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(torch.zeros(4, 28, 28, dtype=torch.uint8)))[:40])
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(path) in str(caught.value) and "corrupt or truncated gzip" in str(caught.value)


def test_not_an_idx_file_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_text("<html>rate limited</html>")
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert "not an IDX file" in str(caught.value)


def test_missing_data_offline_says_which_files_where(tmp_path):
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "empty")
    message = str(caught.value)
    assert "t10k-labels-idx1-ubyte" in message and str(tmp_path / "empty") in message
    assert "REPORT_BUILDER_DATA_DIR" in message


def test_labels_must_match_images(tmp_path):
    folder = write_dataset(tmp_path / "d", n_train=8, n_test=8)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.zeros(5, dtype=torch.uint8)))
    with pytest.raises(DataError) as caught:
        load_raw(folder)
    assert "5 labels for 8 images" in str(caught.value)


def test_normalize_maps_pixels_to_minus_one_one():
    images = torch.tensor([[[0, 255] + [51] * 782]], dtype=torch.uint8).reshape(1, 28, 28)
    x = normalize(images)
    assert x.shape == (1, 784)
    assert x[0, 0].item() == -1.0 and x[0, 1].item() == 1.0
    assert x[0, 2].item() == pytest.approx((51 / 255 - 0.5) / 0.5)


def test_caps_take_the_first_examples(tmp_path):
    raw = load_raw(write_dataset(tmp_path / "d", n_train=30, n_test=20))
    data = prepare(raw, torch.device("cpu"), max_train=7, max_test=5)
    assert data.train_x.shape == (7, 784) and data.test_y.shape == (5,)
    assert torch.equal(data.train_y, raw.train_labels[:7])


def test_configured_dir_wins_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REPORT_BUILDER_DATA_DIR", "/from/env")
    assert resolve_data_dir("/from/config") == resolve_data_dir("/from/config", tmp_path)
    assert str(resolve_data_dir("/from/config")) == "/from/config"
    assert str(resolve_data_dir(None)) == "/from/env"


def test_relative_environment_dir_is_relative_to_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("REPORT_BUILDER_DATA_DIR", "../datasets")
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(None, tmp_path / "project") == tmp_path / "../datasets"


def test_relative_configured_dir_is_relative_to_the_experiments_file(tmp_path):
    assert resolve_data_dir("data", tmp_path / "project") == tmp_path / "project" / "data"


def test_default_dir_is_data_beside_the_config(monkeypatch, tmp_path):
    monkeypatch.delenv("REPORT_BUILDER_DATA_DIR", raising=False)
    assert resolve_data_dir(None, tmp_path) == tmp_path / "data"


def test_a_failed_download_leaves_nothing_behind_and_says_so_in_one_line(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.delenv("REPORT_BUILDER_NO_DOWNLOAD", raising=False)

    def offline(root, train, download):
        (Path(root) / "FashionMNIST" / "raw").mkdir(parents=True, exist_ok=True)  # as torchvision does first
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://a, got:\n<urlopen error>")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    target = tmp_path / "data"
    with pytest.raises(DataError) as caught:
        load_raw(target)
    assert "download failed: RuntimeError: Error downloading train-images-idx3-ubyte.gz:" in str(caught.value)
    assert "\n" not in str(caught.value) and "Tried http" not in str(caught.value)
    assert not target.exists()
