"""The timing phase's samples on disk: results/timing/rounds.json, written once by the phase
(execution/timing_rounds.py), read by rendering, which never times anything itself.

    {"format": 1,
     "settings": {"rounds": 5, "wait_seconds": 60.0, "sample_seconds": 0.5, "order_seed": 0},
     "experiments": {NAME: {"identity": {... as a results file's, identity.py ...}, "batch_size": 32,
                            "steps": 1000, "steps_per_epoch": 1875, "warmup_steps": 100}},
     "reference": NAME,                 # the step timed at the start and at the end (the drift check)
     "calibration": {NAME: SAMPLE or {"source": "results", "seconds_per_step": 0.0003}},
                                        # how `steps` was chosen: one sample, or the stored runs; never in a ratio
     "drift": {"start": [SAMPLE, …], "end": [SAMPLE, …]},
     "rounds": [{"round": 1, "order": [NAME, …], "waited_seconds": 2.1, "before": READING, "after": READING,
                 "samples": {NAME: SAMPLE}}],
     "failed": {NAME: "error text"},    # experiments whose step could not be timed
     "retried": [{"started_seconds": 3.2, "seconds": 25.1, "drift": 0.086, "drift_samples": {...}}],
                                        # earlier attempts whose reference step drifted (absent before it existed)
     "waited_seconds": 12.0, "phase_seconds": 31.4,   # waited: for a quiet machine, retries not included
     "provenance": {... provenance.collect ..., "started_at": ..., "finished_at": ...}}

SAMPLE: {"wall_seconds", "cpu_seconds" (this process tree's, DataLoader workers included), "steps",
"threads" (torch's), "others_share" (other processes' share of the CPUs meanwhile; None where too short to
tell)}. READING: machine_load.MachineReading.as_dict() with "own_threads" (the threads the timing runs with)
and "at" (seconds since the phase started).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from report_builder import paths
from report_builder.config import TrainConfig
from report_builder.errors import ResultsError
from report_builder.results.identity import changes, code_version, run_settings
from report_builder.results.store import write_atomic

FORMAT = 1
_REQUIRED = ("settings", "experiments", "reference", "drift", "rounds", "provenance")


def rounds_path(results_dir: Path) -> Path:
    return paths.timing_rounds_file(results_dir)


def write_rounds(results_dir: Path, document: dict[str, Any]) -> Path:
    """Write the phase's document atomically (a reader sees the previous timing or this one, never half)."""
    path = rounds_path(results_dir)
    write_atomic(path, json.dumps({"format": FORMAT, **document}, indent=1, allow_nan=False) + "\n")
    return path


def read_rounds(results_dir: Path) -> dict[str, Any] | None:
    """The stored timing rounds; None when the phase has not run; a damaged file is a ResultsError naming it."""
    path = rounds_path(results_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: damaged timing file ({e}); `python -m report_builder time` times again") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT or any(k not in data for k in _REQUIRED):
        raise ResultsError(f"{path}: damaged timing file (not a format-{FORMAT} timing file); "
                           f"`python -m report_builder time` times again")
    return data


def stale_reasons(document: dict[str, Any], name: str, config: TrainConfig) -> list[str]:
    """Why the stored timing of experiment `name` cannot stand for its settings now (empty when it can): not
    timed, or timed with other settings or other training code. The dataset is not looked at, as
    store.stale_reasons does not."""
    timed = document["experiments"].get(name)
    if timed is None or name in document.get("failed", {}):
        return ["not timed"]
    stored = timed["identity"]
    wanted = {**stored, "config": run_settings(config.identity(), stored.get("device_kind", "cpu")),
              "code_version": code_version()}
    return changes(stored, wanted)
