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


# ---- downloads, from a mirror of our own on the loopback address ----------------------------------

class Mirror:
    """An HTTP server on 127.0.0.1 that torchvision's Fashion-MNIST mirror list points at: it answers every
    request with `status` and `files[name]` (or nothing)."""

    def __init__(self):
        import http.server
        import threading

        mirror = self
        self.status, self.files = 404, {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = mirror.files.get(self.path.lstrip("/"), b"") if mirror.status == 200 else b""
                self.send_response(mirror.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def mirror(monkeypatch):
    """Downloads allowed, from a local mirror only (no proxy between: loopback addresses only)."""
    import torchvision

    server = Mirror()
    monkeypatch.delenv("REPORT_BUILDER_NO_DOWNLOAD", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [server.url])
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_a_download_answered_404_says_so_chains_it_and_leaves_nothing_behind(tmp_path, mirror):
    import urllib.error

    target = tmp_path / "data"
    with pytest.raises(DataError) as caught:
        load_raw(target)
    message = str(caught.value)
    assert (f"download failed: train-images-idx3-ubyte.gz: HTTP 404 Not Found from "
            f"{mirror.url}train-images-idx3-ubyte.gz") in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, urllib.error.HTTPError) and caught.value.__cause__.code == 404
    assert not target.exists()


def test_a_download_from_a_closed_port_says_the_connection_was_refused(tmp_path, mirror, monkeypatch):
    import torchvision

    port = closed_port()
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [f"http://127.0.0.1:{port}/"])
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "data")
    assert (f"download failed: train-images-idx3-ubyte.gz: cannot connect to 127.0.0.1:{port} "
            f"(connection refused)") in str(caught.value)
    assert isinstance(caught.value.__cause__.reason, ConnectionRefusedError)


def test_a_download_with_the_wrong_bytes_says_the_checksum_does_not_match(tmp_path, mirror):
    mirror.status, mirror.files = 200, {"train-images-idx3-ubyte.gz": b"<html>rate limited</html>"}
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "data")
    assert ("download failed: train-images-idx3-ubyte.gz: checksum mismatch: 25 bytes with MD5 "
            "5143fa1e2eecddd66c8a3c0b7f629c9a, expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d") in str(caught.value)


def test_no_network_or_dns_is_named(tmp_path, mirror, monkeypatch):
    import socket
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "data")
    assert ("download failed: train-images-idx3-ubyte.gz: cannot resolve 127.0.0.1 (no network or DNS: "
            "Temporary failure in name resolution)") in str(caught.value)
    assert isinstance(caught.value.__cause__.reason, socket.gaierror)


def test_every_mirror_tried_is_named_with_its_reason(tmp_path, mirror, monkeypatch):
    import torchvision

    port = closed_port()
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [f"http://127.0.0.1:{port}/", mirror.url])
    with pytest.raises(DataError) as caught:
        load_raw(tmp_path / "data")
    assert (f"download failed: train-images-idx3-ubyte.gz: cannot connect to 127.0.0.1:{port} (connection "
            f"refused); HTTP 404 Not Found from {mirror.url}train-images-idx3-ubyte.gz") in str(caught.value)


def test_a_download_that_succeeds_lands_in_the_torchvision_layout(tmp_path, mirror, monkeypatch):
    import hashlib

    import torchvision

    source = write_dataset(tmp_path / "source", n_train=12, n_test=6, gz=True)
    mirror.status = 200
    mirror.files = {p.name: p.read_bytes() for p in source.iterdir()}
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "resources",
                        [(name, hashlib.md5(data).hexdigest()) for name, data in mirror.files.items()])
    raw = load_raw(tmp_path / "data")
    assert raw.train_images.shape == (12, 28, 28) and raw.fingerprint == load_raw(source).fingerprint
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["FashionMNIST"]
    assert find_files(tmp_path / "data")["test_labels"].parent == tmp_path / "data" / "FashionMNIST" / "raw"


def test_a_server_that_never_answers_is_given_up_with_a_reason(tmp_path, mirror, monkeypatch):
    import socket

    import torchvision

    from report_builder.training import data

    with socket.socket() as silent:  # accepts connections (the kernel does), never answers a request
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [f"http://127.0.0.1:{port}/"])
        monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.5)
        with pytest.raises(DataError) as caught:
            load_raw(tmp_path / "data")
    assert f"download failed: train-images-idx3-ubyte.gz: no answer from 127.0.0.1:{port} within 0.5 s" \
        in str(caught.value)
