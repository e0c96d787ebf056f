"""Every file the tool writes is named here, and each path is checked to stay inside its directory.

Experiment and group names come from an experiments file that may be someone else's. config refuses
names outside one pattern; independently of that check, the paths built here take each name as one
path component and refuse anything that could leave the directory (an absolute path, "..", a separator,
a NUL): defence in depth.
"""

from __future__ import annotations

import os
from pathlib import Path

from report_builder.errors import OutputError

REPEATS_DIR = ".repeats"
SLURM_DIR = ".slurm"
HISTORY_DIR = ".history"
TIMING_ROUNDS = ("timing", "rounds.json")
"""The timing phase's samples: in a folder of their own, so that no experiment's NAME.json can be them."""


def _component(part: str) -> str:
    bad = (not part or part in (".", "..") or "\0" in part or os.sep in part
           or (os.altsep is not None and os.altsep in part))
    if bad:
        raise OutputError(f"refusing to write a file named {part!r}: a name must be one plain path component")
    return part


def inside(base: Path | str, *parts: str) -> Path:
    """base/part/…, each part one path component; an OutputError if the result would leave base."""
    root = Path(os.path.abspath(base))
    target = Path(os.path.abspath(os.path.join(root, *(_component(p) for p in parts))))
    if os.path.commonpath([root, target]) != str(root) or target == root:
        raise OutputError(f"refusing to write {target}: it is outside {root}")
    return target


def result_file(results_dir: Path | str, name: str) -> Path:
    return inside(results_dir, f"{name}.json")


def repeats_dir(results_dir: Path | str, name: str) -> Path:
    return inside(results_dir, REPEATS_DIR, name)


def repeat_file(results_dir: Path | str, name: str, repeat: int) -> Path:
    return inside(results_dir, REPEATS_DIR, name, f"repeat-{int(repeat)}.json")


def history_dir(results_dir: Path | str, name: str) -> Path:
    return inside(results_dir, HISTORY_DIR, name)


def history_file(results_dir: Path | str, name: str, entry: str) -> Path:
    return inside(results_dir, HISTORY_DIR, name, entry)


def slurm_dir(results_dir: Path | str) -> Path:
    return inside(results_dir, SLURM_DIR)


def timing_rounds_file(results_dir: Path | str) -> Path:
    return inside(results_dir, *TIMING_ROUNDS)


def figure_file(figures_dir: Path | str, key: str, suffix: str) -> Path:
    return inside(figures_dir, f"{key}.{suffix}")


def build_file(build_dir: Path | str, name: str) -> Path:
    return inside(build_dir, name)
