"""What decides a run's numbers, and so when a stored result may stand for a declared experiment.

The rule, in one place: a stored run is reused exactly when everything that decides its numbers is
unchanged, and nothing else counts. That is
- its training settings, as TrainConfig.identity() lists them (neither where the data lives, nor the
  device wished for, nor stacking), less the settings this run ignores: `momentum` under Adam,
  `loader_workers` under the tensor pipeline, `cuda_graphs` on a CPU or under the dataloader pipeline,
  `validation` when it is 0 (no split);
- the training code (code_version), the dataset (its fingerprint) and the device kind (cpu or cuda).
`seed` and `repeats` are not part of it: they only declare the seeds seed, seed + 1, …, seed + repeats − 1,
and each seed is one run. A result is therefore reused seed by seed: more repeats train only the new
seeds, fewer train none (the result then keeps only the declared seeds).
One more thing decides reuse without changing a number: a run that a timing group compares must have
trained alone, since a stack's seconds are shares of a shared step (trained_alone).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

from report_builder.config import Suite, TrainConfig

# The training layer's code decides what training computes; a change to any of its modules invalidates cached
# results. It is read as files, not imported: this layer must not import torch.
TRAINING_DIR = Path(__file__).resolve().parent.parent / "training"
# Where a module lives is not what it computes: the package path in report_builder's own import lines is
# left out, so moving a module (and rewriting the imports that name it) keeps every cached result valid.
_OWN_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)report_builder(?:\.\w+)*\.(\w+)", re.M)

LATER_KEYS = {"activation": "relu", "dropout": 0.0, "weight_decay": 0.0, "dataset": "fashion-mnist"}
"""Settings added after results were first cached, with the value every run had before: at that value a
setting is left out of the identity, so results stored before it existed stay valid."""

SEED_KEYS = ("seed", "repeats")
"""Settings that name which runs an experiment has, not what any one of them computes."""


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


def ignored_settings(settings: dict[str, Any], device_kind: str) -> set[str]:
    """The settings a run with these settings on this kind of device never reads."""
    ignored = set()
    if settings.get("optimizer") == "adam":
        ignored.add("momentum")
    if settings.get("pipeline") == "tensor":
        ignored.add("loader_workers")
    # The autograd engine captures graphs for the tensor pipeline only; neither engine does on a CPU.
    if device_kind != "cuda" or settings.get("pipeline") == "dataloader":
        ignored.add("cuda_graphs")
    # No validation split trains on every image, as results stored before the key existed did.
    if not settings.get("validation"):
        ignored.add("validation")
    return ignored


def run_settings(settings: dict[str, Any], device_kind: str) -> dict[str, Any]:
    """The part of TrainConfig.identity() that decides one run's numbers on this kind of device."""
    leave_out = ignored_settings(settings, device_kind) | set(SEED_KEYS)
    leave_out |= {key for key, before in LATER_KEYS.items() if settings.get(key) == before}
    return {key: value for key, value in settings.items() if key not in leave_out}


def identity_of(cfg: TrainConfig, data_fingerprint: str, device_kind: str) -> dict[str, Any]:
    """Everything that decides the numbers of each of cfg's runs: the identity a result is cached under."""
    return {"config": run_settings(cfg.identity(), device_kind), "code_version": code_version(),
            "data_fingerprint": data_fingerprint, "device_kind": device_kind}


def declared_seeds(settings: dict[str, Any]) -> list[int]:
    """The seeds an experiment declares, from its settings (a TrainConfig.identity() or a result's config)."""
    return list(range(settings["seed"], settings["seed"] + settings["repeats"]))


def trained_alone(run: dict[str, Any]) -> bool:
    """Whether a stored run may serve a timing comparison: it trained alone, not as one model of a stack."""
    return run.get("stacked_with", 1) == 1


def timed_experiments(suite: Suite) -> set[str]:
    """The experiments of `timing = true` groups: they train alone, so that their seconds compare."""
    return {name for group in suite.groups.values() if group.timing for name in group.experiments}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between a stored identity and a wanted one, in words; empty when the stored one holds.

    Settings the stored identity holds and the wanted one does not (an identity written before a setting
    was known not to count, or one the run now ignores) are no change.
    """
    reasons, added = [], []
    old_cfg, new_cfg = old.get("config", {}), new["config"]
    # A later setting absent from a stored identity had the value every run had before it existed.
    old_cfg = {**{k: v for k, v in LATER_KEYS.items() if k not in old_cfg}, **old_cfg}
    for key in new_cfg:
        if key not in old_cfg:
            added.append(f"{key} is new")
        elif old_cfg[key] != new_cfg[key]:
            reasons.append(f"{key} changed {_fmt(old_cfg[key])} → {_fmt(new_cfg[key])}")
    for key, before in LATER_KEYS.items():  # back to the old value: left out of the new identity
        if key not in new_cfg and old_cfg.get(key, before) != before:
            reasons.append(f"{key} changed {_fmt(old_cfg[key])} → {_fmt(before)}")
    if old.get("code_version") != new["code_version"]:
        reasons.append("training code changed")
    if old.get("data_fingerprint") != new["data_fingerprint"]:
        reasons.append("dataset changed")
    if old.get("device_kind") != new["device_kind"]:
        reasons.append(f"device changed {old.get('device_kind')} → {new['device_kind']}")
    # A setting that starts to count (momentum once the optimizer is SGD) is new because of another change,
    # which is the reason worth reading.
    return reasons or added


def seed_list(seeds: list[int]) -> str:
    """"seed 2" or "seeds 0, 1", as progress lines and reasons name them."""
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def seed_changes(stored_config: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Why a result run with `stored_config` does not hold the seeds `settings` declare (empty if it does)."""
    held, declared = declared_seeds(stored_config), declared_seeds(settings)
    if held == declared:
        return []
    missing = [s for s in declared if s not in held]
    extra = [s for s in held if s not in declared]
    return ([f"{key} changed {stored_config[key]} → {settings[key]}" for key in SEED_KEYS
             if stored_config[key] != settings[key]]
            + ([f"{seed_list(missing)} not run yet"] if missing else [])
            + ([f"{seed_list(extra)} no longer declared"] if extra else []))
