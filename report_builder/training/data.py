"""Fashion-MNIST and its family (MNIST, KMNIST): find or download the IDX files, read them, and hold them as
normalized tensors."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from report_builder.errors import DataError
from report_builder.training.datafiles import (  # noqa: F401  (their home before datafiles.py; tests use them here)
    DATA_DIR_ENV,
    DATASETS,
    DEFAULT_DATA_DIR,
    FILES,
    NO_DOWNLOAD_ENV,
    find_files,
    missing_message,
    resolve_data_dir,
)

if TYPE_CHECKING:
    from report_builder.config import TrainConfig

# IDX type codes (third byte of the magic number) → (torch dtype, bytes per item); Fashion-MNIST uses 0x08.
_IDX_TYPES = {0x08: (torch.uint8, 1), 0x09: (torch.int8, 1)}


@dataclass(frozen=True)
class RawData:
    """The dataset as read from disk: uint8 images [N, 28, 28] and int64 labels [N]."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str
    fingerprint: str


@dataclass(frozen=True)
class Dataset:
    """Normalized, flattened tensors on the training device, ready to be indexed by batch."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    raw: RawData
    val_x: torch.Tensor | None = None
    """The held-out training images (`validation`), None without a split; never trained on."""
    val_y: torch.Tensor | None = None


def read_idx(path: Path) -> torch.Tensor:
    """One IDX file (optionally gzip'd) as a tensor; a damaged file is a DataError naming it.

    Not torchvision's read_sn3_pascalvincent_tensor: it reads only unpacked files, where a dataset folder may
    hold only the .gz files, read-only, and it meets a damaged file with a bare AssertionError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip file ({e}); delete it and download it again") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype, itemsize = _IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + itemsize * _product(dims)
    if len(data) != expected:
        raise DataError(f"{path}: truncated or padded: the header promises {expected:,} bytes for shape "
                        f"{tuple(dims)}, the file has {len(data):,}")
    return torch.frombuffer(bytearray(data[header:]), dtype=dtype).reshape(dims)


def _product(dims: list[int]) -> int:
    total = 1
    for d in dims:
        total *= d
    return total


DOWNLOAD_TIMEOUT = 60.0
"""Seconds a download may wait for the server to connect or to send more bytes before it is given up."""


class _DownloadFailed(Exception):
    """Every mirror failed for one file; the message says why, for each, in one line."""


class _ChecksumMismatch(Exception):
    """The bytes received are not the file the checksum names (an error page, a cut-off transfer)."""


def _download(data_dir: Path, dataset: str = "fashion-mnist") -> None:
    """Download into a temporary folder, then move the files into data_dir: a failed download leaves
    nothing behind (no empty FashionMNIST/raw folders to mistake for a dataset)."""
    if os.environ.get(NO_DOWNLOAD_ENV):
        raise DataError(missing_message(data_dir, f"download disabled by ${NO_DOWNLOAD_ENV}", dataset))
    created = [p for p in (data_dir, *data_dir.parents) if not p.exists()]
    staging = data_dir / f".download-{os.getpid()}"
    try:
        staging.mkdir(parents=True, exist_ok=True)
        _fetch_all(staging, dataset)
        raw = data_dir / DATASETS[dataset][1] / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for path in staging.iterdir():
            path.replace(raw / path.name)
    except Exception as e:  # any network or disk failure means the same thing to the user
        for path in created:  # deepest first: only folders this download made, and only if empty
            shutil.rmtree(path, ignore_errors=True) if path == data_dir else _rmdir(path)
        if isinstance(e, _DownloadFailed):  # the reason is in the message; the cause is the library's error
            raise DataError(missing_message(data_dir, f"download failed: {e}", dataset)) from e.__cause__
        first_line = (str(e).strip().splitlines() or [""])[0]
        raise DataError(missing_message(data_dir, f"download failed: {e.__class__.__name__}: {first_line}",
                                         dataset)) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_all(folder: Path, dataset: str = "fashion-mnist") -> None:
    """Each of torchvision's files of the dataset from the first of its mirrors that serves it whole, into
    folder, gzip'd and unpacked as torchvision lays them out."""
    import torchvision.datasets  # their lists of mirrors and checksums

    source = getattr(torchvision.datasets, DATASETS[dataset][1])
    for filename, md5 in source.resources:
        failures, last = [], None
        for mirror in source.mirrors:
            url = f"{mirror}{filename}"
            try:
                _fetch(url, folder / filename, md5)
                break
            except (OSError, _ChecksumMismatch) as e:  # urllib's errors are OSErrors too
                failures.append(_why(url, e))
                last = e
        else:
            raise _DownloadFailed(f"{filename}: " + "; ".join(failures)) from last


def _fetch(url: str, path: Path, md5: str) -> None:
    """One file into path, unpacked beside it: torchvision downloads it (following redirects, with a progress
    bar), checks its MD5 and unpacks it; a server that stops answering is given up after DOWNLOAD_TIMEOUT."""
    from torchvision.datasets.utils import calculate_md5, download_and_extract_archive

    # torchvision's requests set no timeout: the sockets they open meanwhile take this default.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        download_and_extract_archive(url, path.parent, filename=path.name, md5=md5)
    except RuntimeError as e:  # torchvision's "File not found or corrupted.": the bytes are not the file
        if not path.is_file():
            raise
        raise _ChecksumMismatch(f"checksum mismatch: {path.stat().st_size:,} bytes with MD5 "
                                f"{calculate_md5(path)}, expected {md5}") from e
    finally:
        socket.setdefaulttimeout(previous)


def _why(url: str, e: Exception) -> str:
    """What failed, in words: the HTTP status, no network or DNS, a refused connection, a timeout, a checksum."""
    import urllib.error
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason} from {url}"
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve {parts.hostname} (no network or DNS: {reason.strerror or reason})"
    if isinstance(reason, ConnectionRefusedError):
        return f"cannot connect to {where} (connection refused)"
    if isinstance(reason, TimeoutError):
        return f"no answer from {where} within {DOWNLOAD_TIMEOUT:g} s"
    if isinstance(reason, OSError):
        return f"cannot download {url}: {reason.strerror or reason}"
    return str(reason)


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def load_raw(data_dir: Path, dataset: str = "fashion-mnist") -> RawData:
    """Read the dataset from data_dir, downloading it there first if it is not present."""
    files = find_files(data_dir, dataset)
    if files is None:
        _download(data_dir, dataset)
        files = find_files(data_dir, dataset)
        if files is None:
            raise DataError(missing_message(data_dir, "the download left no IDX files", dataset))
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dim() != 3 or images.shape[1:] != (28, 28) or images.dtype != torch.uint8:
            raise DataError(f"{files[f'{split}_images']}: expected uint8 images of 28×28, got shape {tuple(images.shape)}")
        if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{files[f'{split}_labels']}: {labels.shape[0]} labels for {images.shape[0]} images")
        if labels.numel() and int(labels.max()) > 9:
            raise DataError(f"{files[f'{split}_labels']}: label {int(labels.max())} outside 0–9")
    digest = hashlib.blake2b(digest_size=8)
    for key in FILES:
        digest.update(arrays[key].numpy().tobytes())
    return RawData(
        train_images=arrays["train_images"], train_labels=arrays["train_labels"].long(),
        test_images=arrays["test_images"], test_labels=arrays["test_labels"].long(),
        source=str(files["train_images"].parent), fingerprint=digest.hexdigest(),
    )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] → float32 [N, 784], as ToTensor() then Normalize((0.5,), (0.5,))."""
    return images.reshape(images.shape[0], -1).float().div_(255.0).sub_(0.5).div_(0.5)


def prepare(raw: RawData, device: torch.device, max_train: int | None = None,
            max_test: int | None = None, validation: int = 0) -> Dataset:
    """Normalize once and move to the device; training then only indexes tensors.

    The validation split is the last `validation` of the (first max_train) training images: a fixed set,
    the same for every seed, so that each run's best epoch is picked on the same images; training keeps
    the first ones, in the order the dataloader pipeline reads them too."""
    def take(t: torch.Tensor, cap: int | None) -> torch.Tensor:
        return t[:cap] if cap is not None else t

    images, labels = take(raw.train_images, max_train), take(raw.train_labels, max_train)
    if validation >= images.shape[0]:
        raise DataError(f"validation = {validation} would hold out every one of the {images.shape[0]} training "
                        f"images in {raw.source}: choose fewer")
    kept = images.shape[0] - validation
    return Dataset(
        train_x=normalize(images[:kept]).to(device),
        train_y=labels[:kept].to(device),
        test_x=normalize(take(raw.test_images, max_test)).to(device),
        test_y=take(raw.test_labels, max_test).to(device),
        raw=raw,
        val_x=normalize(images[kept:]).to(device) if validation else None,
        val_y=labels[kept:].to(device) if validation else None,
    )


class DataCache:
    """Reads each data directory once and prepares each (device, caps) once per process."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self._raw: dict[tuple[Path, str], RawData] = {}
        self._prepared: dict[tuple, Dataset] = {}

    def raw(self, cfg: TrainConfig) -> RawData:
        key = (resolve_data_dir(cfg.data_dir, self.base_dir), cfg.dataset)
        if key not in self._raw:
            self._raw[key] = load_raw(*key)
        return self._raw[key]

    def get(self, cfg: TrainConfig, device: torch.device) -> Dataset:
        key = (resolve_data_dir(cfg.data_dir, self.base_dir), cfg.dataset, str(device), cfg.max_train, cfg.max_test,
               cfg.validation)
        if key not in self._prepared:
            self._prepared[key] = prepare(self.raw(cfg), device, cfg.max_train, cfg.max_test, cfg.validation)
        return self._prepared[key]


# One per process: a worker or a Slurm job that runs many tasks reads the dataset once, and the driver's
# fingerprints and the local executor's training share one load.
_SHARED: DataCache | None = None


def shared_cache(base_dir: Path) -> DataCache:
    """This process's data cache for experiments files in base_dir."""
    global _SHARED
    if _SHARED is None or _SHARED.base_dir != base_dir:
        _SHARED = DataCache(base_dir)
    return _SHARED
