"""A result's identity: what decides its numbers. A stored result stands for a declared experiment only
while its identity holds; store.rerun_reasons says what changed when it does not."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

from report_builder.config import TrainConfig

# The training layer's code decides what training computes; a change to any of its modules invalidates cached
# results. It is read as files, not imported: this layer must not import torch.
TRAINING_DIR = Path(__file__).resolve().parent.parent / "training"
# Where a module lives is not what it computes: the package path in report_builder's own import lines is
# left out, so moving a module (and rewriting the imports that name it) keeps every cached result valid.
_OWN_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)report_builder(?:\.\w+)*\.(\w+)", re.M)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A short hash of the training code, part of every result's identity: sha256 over the training layer's
    modules in name order, each as its name and its source with report_builder's package paths
    stripped from import lines."""
    digest = hashlib.sha256()
    for path in sorted(TRAINING_DIR.rglob("*.py"), key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0")
        digest.update(_OWN_IMPORT.sub(r"\1\2", path.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:12]


def identity_of(cfg: TrainConfig, data_fingerprint: str, device_kind: str) -> dict[str, Any]:
    return {"config": cfg.identity(), "code_version": code_version(),
            "data_fingerprint": data_fingerprint, "device_kind": device_kind}
