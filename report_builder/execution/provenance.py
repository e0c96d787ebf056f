"""Where and with what a run happened: versions, device, CPU, git state, times."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from report_builder.training import subnormals


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=None)
def git_state(repo_dir: Path) -> dict[str, object]:
    """Commit and dirty flag of the checkout when this process started using it (the code it runs);
    None where it is not a git checkout."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(dirty) if commit else None}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "CPU"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


CODE_DIR = Path(__file__).resolve().parent.parent.parent
"""Where the running code lives: its git state is the code's, wherever the experiments file is."""


def collect(device: torch.device, repo_dir: Path | None = None) -> dict[str, object]:
    """Everything about the environment that a reader of the report may want to check. The git commit is
    the code's (CODE_DIR), not the experiments file's folder's (`repo_dir` is kept for callers)."""
    return {
        "device_kind": device.type,
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_threads": torch.get_num_threads(),
        # Every engine flushes subnormal floats on the CPU (training/subnormals.py); whether it held.
        "flush_denormal": subnormals.flushed(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda if device.type == "cuda" else None,
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        **git_state(CODE_DIR),
    }
