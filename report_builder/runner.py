"""Config → training runs → results on disk, re-running only what is missing or out of date."""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from report_builder import provenance, store
from report_builder.config import Experiment, Suite, TrainConfig
from report_builder.data import Dataset, RawData, load_raw, prepare, resolve_data_dir
from report_builder.errors import ConfigError, ReportBuilderError, ResultsError
from report_builder.lock import results_lock
from report_builder.progress import Progress
from report_builder.train import train_run


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    """"cached", "done", "diverged" or "failed"."""
    message: str


def resolve_device(wish: str, where: str) -> torch.device:
    """The device an experiment trains on; asking for CUDA where there is none is a config error."""
    if wish == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{where} device = \"cuda\", but torch sees no CUDA GPU on this machine "
                          f"(torch {torch.__version__}); use device = \"auto\" or \"cpu\"")
    if wish == "auto":
        wish = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wish)


class DataCache:
    """Reads each data directory once and prepares each (device, caps) once per process."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self._raw: dict[Path, RawData] = {}
        self._prepared: dict[tuple, Dataset] = {}

    def get(self, cfg: TrainConfig, device: torch.device) -> Dataset:
        data_dir = resolve_data_dir(cfg.data_dir, self.base_dir)
        if data_dir not in self._raw:
            self._raw[data_dir] = load_raw(data_dir)
        key = (data_dir, str(device), cfg.max_train, cfg.max_test)
        if key not in self._prepared:
            self._prepared[key] = prepare(self._raw[data_dir], device, cfg.max_train, cfg.max_test)
        return self._prepared[key]


def _final_accuracy(runs: list[dict]) -> str:
    values = [r["epochs"][-1]["test_accuracy"] for r in runs if r["epochs"] and r["diverged_at"] is None]
    if not values:
        return "no finite result"
    return f"final test accuracy {sum(values) / len(values):.3f}" + (f" (mean of {len(values)})" if len(values) > 1 else "")


def _provenance(data: Dataset, device: torch.device, repo_dir: Path, started_at: str, seconds: float) -> dict:
    return {
        **provenance.collect(device, repo_dir),
        "data_source": data.raw.source,
        "train_examples": int(data.train_x.shape[0]),
        "test_examples": int(data.test_x.shape[0]),
        "started_at": started_at,
        "finished_at": provenance.now(),
        "wall_seconds": seconds,
    }


def run_experiment(exp: Experiment, data: Dataset, device: torch.device, repo_dir: Path, progress: Progress,
                   save: Callable[[dict], None], finished_runs: list[dict]) -> dict:
    """Train the repeats not in `finished_runs`; after each, `save` a document with status "partial"."""
    cfg = exp.config
    started_at, started = provenance.now(), time.perf_counter()
    n_batches = math.ceil(data.train_x.shape[0] / cfg.batch_size)
    runs = list(finished_runs)
    for repeat in range(len(runs), cfg.repeats):
        label = f"{exp.name} [{repeat + 1}/{cfg.repeats}]" if cfg.repeats > 1 else exp.name
        with progress.bar(label, total=n_batches * cfg.epochs) as advance:
            runs.append(dataclasses.asdict(train_run(cfg, data, repeat, device, advance)))
        if len(runs) < cfg.repeats:
            save({"runs": runs, "status": "partial", "error": None,
                  "provenance": _provenance(data, device, repo_dir, started_at, time.perf_counter() - started)})
    return {"runs": runs, "status": "done", "error": None,
            "provenance": _provenance(data, device, repo_dir, started_at, time.perf_counter() - started)}


def _resumable(stored: dict | None, identity: dict) -> list[dict]:
    """The finished repeats of an interrupted run of the same identity, else nothing."""
    if stored is None or stored.get("status") != "partial":
        return []
    if store.rerun_reasons({**stored, "status": "done"}, identity):
        return []
    return stored["runs"]


def _outcome(name: str, body: dict) -> Outcome:
    runs = body["runs"]
    seconds = body["provenance"]["wall_seconds"]
    diverged = [r for r in runs if r["diverged_at"] is not None]
    if diverged:
        return Outcome(name, "diverged", f"{name}: diverged (loss not finite) at epoch "
                       f"{diverged[0]['diverged_at']} of seed {diverged[0]['seed']}, after {seconds:.1f} s")
    return Outcome(name, "done", f"{name}: done in {seconds:.1f} s, {_final_accuracy(runs)}")


def run_suite(suite: Suite, names: list[str], results_dir: Path, force: bool = False,
              progress: Progress | None = None) -> list[Outcome]:
    """Bring the results of the named experiments (all when none) up to date."""
    progress = progress or Progress()
    selected = suite.select(names)
    repo_dir = suite.path.resolve().parent
    # Resolve every device before training anything, so a bad setting stops the run at once.
    devices = {exp.name: resolve_device(exp.config.device, f"{suite.path.name}: [experiments.{exp.name}]")
               for exp in selected}
    with results_lock(results_dir, progress.say):
        store.remove_leftovers(results_dir)
        datasets = DataCache(repo_dir)
        outcomes = [_bring_up_to_date(exp, devices[exp.name], results_dir, repo_dir, force, progress, datasets)
                    for exp in selected]
        store.write_summary(results_dir, list(suite.experiments))
    return outcomes


def _bring_up_to_date(exp: Experiment, device: torch.device, results_dir: Path, repo_dir: Path, force: bool,
                      progress: Progress, datasets: DataCache) -> Outcome:
    data = datasets.get(exp.config, device)
    identity = {"config": exp.config.identity(), "code_version": store.code_version(),
                "data_fingerprint": data.raw.fingerprint, "device_kind": device.type}
    try:
        stored = store.read_result(store.result_path(results_dir, exp.name))
    except FileNotFoundError:
        stored = None
    except ResultsError as e:
        stored = {"status": f"damaged ({e})"}
    reasons = ["--force"] if force else store.rerun_reasons(stored, identity)
    if not reasons:
        progress.say(f"{exp.name}: cached")
        return Outcome(exp.name, "cached", f"{exp.name}: cached")
    finished = [] if force else _resumable(stored, identity)
    if finished:
        progress.say(f"{exp.name}: resuming, {len(finished)} of {exp.config.repeats} repeats already done")
    else:
        progress.say(f"{exp.name}: {'running' if stored is None else 're-run'}, {', '.join(reasons)}")
    header = {"experiment": exp.name, "title": exp.title, "description": exp.description,
              "identity": identity, "config": dataclasses.asdict(exp.config)}

    def save(body: dict) -> None:
        store.write_result(results_dir, {**header, **body})

    try:
        body = run_experiment(exp, data, device, repo_dir, progress, save, finished)
    except (KeyboardInterrupt, MemoryError, ReportBuilderError):
        raise
    except Exception as e:  # one experiment's crash must not stop the others
        error = "".join(traceback.format_exception_only(e)).strip()
        body = {"runs": [], "status": "failed", "error": error, "provenance": provenance.collect(device, repo_dir)}
        outcome = Outcome(exp.name, "failed", f"{exp.name}: FAILED: {error}")
    else:
        outcome = _outcome(exp.name, body)
    save(body)
    progress.say(outcome.message)
    return outcome
