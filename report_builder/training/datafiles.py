"""Where a dataset's files are and what to say when they are not there: no torch, so that `plan` can check
every dataset without importing it (data.py reads, downloads and prepares them)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "REPORT_BUILDER_DATA_DIR"
NO_DOWNLOAD_ENV = "REPORT_BUILDER_NO_DOWNLOAD"
DEFAULT_DATA_DIR = "data"

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS = {"fashion-mnist": ("Fashion-MNIST", "FashionMNIST"), "mnist": ("MNIST", "MNIST"),
            "kmnist": ("KMNIST", "KMNIST")}
"""config's dataset → (its name for people, its torchvision class and folder). All three use the file names
of FILES."""


def resolve_data_dir(configured: str | None, base_dir: Path | None = None) -> Path:
    """Where the dataset lives.

    `data_dir` from the experiments file (relative to that file's directory, `base_dir`), else
    $REPORT_BUILDER_DATA_DIR (relative to the working directory, as a shell user means it), else
    ./data beside the experiments file.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if configured:
        path, relative_to = Path(configured).expanduser(), base_dir
    elif env:
        path, relative_to = Path(env).expanduser(), Path.cwd()
    else:
        path, relative_to = Path(DEFAULT_DATA_DIR), base_dir
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    return path


def _candidate_dirs(data_dir: Path, dataset: str) -> list[Path]:
    folder = data_dir / DATASETS[dataset][1]
    if dataset != "fashion-mnist":
        # The family shares file names, so only a folder named for the dataset can say which one it holds.
        return [folder / "raw", folder]
    return [data_dir, folder / "raw", data_dir / "raw"]


def find_files(data_dir: Path, dataset: str = "fashion-mnist") -> dict[str, Path] | None:
    """The four IDX files (raw or .gz) in data_dir's torchvision layout (FashionMNIST/raw, MNIST/raw,
    KMNIST/raw; Fashion-MNIST also directly in data_dir), or None."""
    for folder in _candidate_dirs(data_dir, dataset):
        found = {}
        for key, name in FILES.items():
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(FILES):
            return found
    return None


def missing_message(data_dir: Path, reason: str, dataset: str = "fashion-mnist") -> str:
    """The error for a dataset that is not in data_dir: where it was looked for, why it is not there
    (`reason`), and the ways to get it."""
    names = ", ".join(f"{n}[.gz]" for n in FILES.values())
    title, folder = DATASETS[dataset]
    places = (f"{data_dir} or {data_dir / folder / 'raw'}" if dataset == "fashion-mnist"
              else f"{data_dir / folder / 'raw'}")
    return (f"{title} not found in {data_dir} ({reason}). Expected the four IDX files {names} in "
            f"{places}. Set data_dir in [defaults] or "
            f"${DATA_DIR_ENV} to a directory holding them, or run once with internet access to download them.")
