"""Results on disk: one JSON file per experiment, written atomically, and a summary CSV.

A results file holds everything the report needs, so rendering never touches the model or the data:

    {"format": 1, "experiment": "sgd", "title": ..., "description": ...,
     "status": "done" | "failed", "error": null | "text",
     "identity": {"config": {... the settings that decide the numbers, see identity.py ...},
                  "code_version": "...", "data_fingerprint": "...", "device_kind": "cpu"},
     "config": {... every TrainConfig key, resolved ...},
     "runs": [{"repeat": 0, "seed": 0, "diverged_at": null,
               "epochs": [{"epoch": 1, "train_loss": ..., "test_loss": ..., "test_accuracy": ...,
                           "train_seconds": ..., "eval_seconds": ..., "probes": {"relu_active": ...}}],
               "test_predictions": "base64…"}],
     "provenance": {... see provenance.collect ...},
     "digest": "sha256 of experiment, status, identity, config and runs as written"}

A run's test_predictions (absent in results written before they were kept, null for a diverged run) hold one
byte per test image, in test-set order, after its last epoch: the predicted class in the low seven bits, plus
128 where it is right (PREDICTION_CORRECT). 10,000 images take 10,000 bytes, 13,336 characters of base64.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from report_builder import paths
from report_builder.errors import OutputError, ResultsError
from report_builder.results import history
from report_builder.results.identity import changes, code_version, run_settings, seed_changes

FORMAT = 1
SUMMARY_NAME = "summary.csv"
TMP_SUFFIX = ".tmp"
SUMMARY_COLUMNS = ["experiment", "repeat", "seed", "epoch", "train_loss", "test_loss", "test_accuracy",
                   "train_seconds", "eval_seconds", "relu_grad_sq", "relu_active", "diverged", "device",
                   "timing_disturbed", "val_loss", "val_accuracy"]
_REQUIRED = ("experiment", "status", "identity", "config", "runs", "provenance")
PREDICTION_CORRECT = 0x80
"""The bit of a stored prediction byte that is set where the prediction is right."""


def result_path(results_dir: Path, name: str) -> Path:
    return paths.result_file(results_dir, name)


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the new, never half."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        # mkstemp makes the file private (0600); a new file should get what the user's umask gives any
        # other new file, so that a teammate or a web server can read results and reports.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}; the previous file, if any, is unchanged") from e
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def remove_leftovers(results_dir: Path) -> None:
    """Delete temporary files of writes that a killed process never finished."""
    for leftover in results_dir.glob(f".*{TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


DIGESTED = ("experiment", "status", "identity", "config", "runs")
"""What a results file's digest covers: everything that decides the numbers the report shows."""


def digest_of(result: dict[str, Any]) -> str:
    """sha256 of the measured part of a results document, as written: an edit by hand changes it."""
    measured = {key: result.get(key) for key in DIGESTED}
    return hashlib.sha256(json.dumps(measured, sort_keys=True, allow_nan=False).encode()).hexdigest()


def edited(result: dict[str, Any]) -> bool:
    """Whether the measured part was changed after the run wrote it (or has no digest to check)."""
    return result.get("digest") != digest_of(result)


def write_result(results_dir: Path, result: dict[str, Any]) -> Path:
    path = result_path(results_dir, result["experiment"])
    document = {"format": FORMAT, **{k: v for k, v in result.items() if k != "digest"}}
    document["digest"] = digest_of(document)
    _keep_replaced(results_dir, path, document)
    write_atomic(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
    return path


def _keep_replaced(results_dir: Path, path: Path, new: dict[str, Any]) -> None:
    """The finished result about to be replaced by one with other numbers, into results/.history/ (history.py)."""
    try:
        old = read_result(path)
    except (FileNotFoundError, ResultsError):
        return
    if history.worth_keeping(old, new, edited(old)):
        entry = history.slim(old)
        write_atomic(history.entry_path(results_dir, entry), json.dumps(entry, allow_nan=False) + "\n")
        history.prune(results_dir, old["experiment"])


def stored_result(results_dir: Path, name: str) -> dict[str, Any] | None:
    """An experiment's results file as `run` and `plan` judge it: None when there is none, and a damaged one as
    {"status": "damaged (why)"}, which neither reuses."""
    try:
        return read_result(result_path(results_dir, name))
    except FileNotFoundError:
        return None
    except ResultsError as e:
        return {"status": f"damaged ({e})"}


def read_result(path: Path) -> dict[str, Any]:
    """A results file, checked for shape; a damaged one is a ResultsError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: damaged results file ({e})") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT or any(k not in data for k in _REQUIRED):
        raise ResultsError(f"{path}: damaged results file (not a format-{FORMAT} results file)")
    if data["experiment"] != path.stem:
        raise ResultsError(f"{path}: damaged results file (it holds experiment {data['experiment']!r})")
    try:
        for run in data["runs"]:
            for record in run["epochs"]:
                for key in ("epoch", "train_loss", "test_loss", "test_accuracy", "train_seconds", "eval_seconds"):
                    record[key]
    except (KeyError, TypeError) as e:
        raise ResultsError(f"{path}: damaged results file (missing {e})") from e
    return data


def rerun_reasons(stored: dict[str, Any] | None, identity: dict[str, Any]) -> list[str]:
    """Why a stored result cannot stand for `identity` (see identity.py); empty when it can be reused."""
    if stored is None:
        return ["no results yet"]
    if stored.get("status") != "done":
        return [f"previous run {stored.get('status', 'did not finish')}"]
    if edited(stored):
        return ["its numbers were edited after the run (the digest written with them does not match)"]
    return changes(stored["identity"], identity)


def rerun_command(config: Path, results_dir: Path, name: str | None = None) -> str:
    """The command that brings one experiment (or, without a name, every one) up to date, for this user's
    experiments file and results folder: the make target where both are the defaults and this folder has
    report_builder's Makefile, else the CLI."""
    if (Path(config) == Path("experiments.toml") and Path(results_dir) == Path("results")
            and _our_makefile_here()):
        return f"make experiment NAME={name}" if name else "make report"
    where = f"--config {shlex.quote(str(config))} --results-dir {shlex.quote(str(results_dir))}"
    return f"python -m report_builder run {name} {where}" if name else f"python -m report_builder report {where}"


def _our_makefile_here() -> bool:
    """Whether `make experiment` works in the working folder (a study's own folder has no Makefile)."""
    try:
        return "report_builder" in Path("Makefile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def stale_reasons(result: dict[str, Any], config_identity: dict[str, Any]) -> list[str]:
    """Why a finished result no longer matches its experiment's settings (`TrainConfig.identity()`), its
    declared seeds or the training code; judged from the file alone (the dataset and the device are not
    looked at)."""
    stored = result["identity"]
    wanted = {**stored, "config": run_settings(config_identity, stored.get("device_kind", "cpu")),
              "code_version": code_version()}
    reasons = rerun_reasons(result, wanted)
    if reasons or result["status"] != "done":
        return reasons
    return seed_changes(result["config"], config_identity)


def _flag(value: bool | None) -> str:
    """Booleans in summary.csv: "true" / "false", empty where unknown (pandas reads them as booleans)."""
    return "" if value is None else "true" if value else "false"


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per repeat × epoch of one experiment, with the columns of SUMMARY_COLUMNS."""
    rows = []
    device = result["provenance"].get("device_name", "")
    for run in result["runs"]:
        for record in run["epochs"]:
            probes = record.get("probes", {})
            rows.append({
                "experiment": result["experiment"], "repeat": run["repeat"], "seed": run["seed"],
                "epoch": record["epoch"], "train_loss": record["train_loss"], "test_loss": record["test_loss"],
                "test_accuracy": record["test_accuracy"], "train_seconds": record["train_seconds"],
                "eval_seconds": record["eval_seconds"], "relu_grad_sq": probes.get("relu_grad_sq"),
                "relu_active": probes.get("relu_active"),
                "diverged": _flag(run.get("diverged_at") == record["epoch"]), "device": device,
                "timing_disturbed": _flag(record.get("timing_disturbed")),
                "val_loss": record.get("val_loss"), "val_accuracy": record.get("val_accuracy"),
            })
    return rows


def write_summary(results_dir: Path, names: list[str]) -> Path:
    """Rebuild summary.csv from the finished results of `names` (in that order)."""
    import pandas as pd

    rows = []
    for name in names:
        try:
            result = read_result(result_path(results_dir, name))
        except (FileNotFoundError, ResultsError):
            continue
        if result["status"] == "done":
            rows.extend(summary_rows(result))
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    path = results_dir / SUMMARY_NAME
    write_atomic(path, frame.to_csv(index=False))
    return path
