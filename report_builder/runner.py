"""Config → training runs → results on disk, re-running only what is missing or out of date."""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from report_builder import provenance, store
from report_builder.config import Experiment, Suite, TrainConfig
from report_builder.data import Dataset, RawData, load_raw, prepare, resolve_data_dir
from report_builder.errors import ConfigError, ResultsError
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


def run_experiment(exp: Experiment, data: Dataset, device: torch.device, repo_dir: Path,
                   progress: Progress) -> dict:
    """Train every repeat of one experiment and return its results document."""
    cfg = exp.config
    started_at, started = provenance.now(), time.perf_counter()
    n_batches = math.ceil(data.train_x.shape[0] / cfg.batch_size)
    runs = []
    for repeat in range(cfg.repeats):
        label = f"{exp.name} [{repeat + 1}/{cfg.repeats}]" if cfg.repeats > 1 else exp.name
        with progress.bar(label, total=n_batches * cfg.epochs) as advance:
            runs.append(train_run(cfg, data, repeat, device, advance))
    return {
        "runs": [dataclasses.asdict(r) for r in runs],
        "status": "done",
        "error": None,
        "provenance": {
            **provenance.collect(device, repo_dir),
            "data_source": data.raw.source,
            "train_examples": int(data.train_x.shape[0]),
            "test_examples": int(data.test_x.shape[0]),
            "started_at": started_at,
            "finished_at": provenance.now(),
            "wall_seconds": time.perf_counter() - started,
        },
    }


def run_suite(suite: Suite, names: list[str], results_dir: Path, force: bool = False,
              progress: Progress | None = None) -> list[Outcome]:
    """Bring the results of the named experiments (all when none) up to date."""
    progress = progress or Progress()
    selected = suite.select(names)
    repo_dir = suite.path.resolve().parent
    # Resolve every device before training anything, so a bad setting stops the run at once.
    devices = {exp.name: resolve_device(exp.config.device, f"{suite.path.name}: [experiments.{exp.name}]")
               for exp in selected}
    datasets = DataCache(repo_dir)
    code_version = store.code_version()
    outcomes = []
    for exp in selected:
        device = devices[exp.name]
        data = datasets.get(exp.config, device)
        identity = {"config": exp.config.identity(), "code_version": code_version,
                    "data_fingerprint": data.raw.fingerprint, "device_kind": device.type}
        path = store.result_path(results_dir, exp.name)
        try:
            stored = store.read_result(path)
        except FileNotFoundError:
            stored = None
        except ResultsError as e:
            stored = {"status": f"damaged ({e})"}
        reasons = ["--force"] if force else store.rerun_reasons(stored, identity)
        if not reasons:
            outcomes.append(Outcome(exp.name, "cached", f"{exp.name}: cached"))
            progress.say(outcomes[-1].message)
            continue
        verb = "running" if stored is None else "re-run"
        progress.say(f"{exp.name}: {verb}, {', '.join(reasons)}")
        header = {"experiment": exp.name, "title": exp.title, "description": exp.description,
                  "identity": identity, "config": dataclasses.asdict(exp.config)}
        try:
            body = run_experiment(exp, data, device, repo_dir, progress)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as e:  # one experiment's crash must not stop the others
            body = {"runs": [], "status": "failed", "error": "".join(traceback.format_exception_only(e)).strip(),
                    "provenance": provenance.collect(device, repo_dir)}
            outcome = Outcome(exp.name, "failed", f"{exp.name}: FAILED: {body['error']}")
        else:
            runs = body["runs"]
            seconds = body["provenance"]["wall_seconds"]
            diverged = [r for r in runs if r["diverged_at"] is not None]
            if diverged:
                outcome = Outcome(exp.name, "diverged", f"{exp.name}: diverged (loss not finite) at epoch "
                                  f"{diverged[0]['diverged_at']} of seed {diverged[0]['seed']}, after {seconds:.1f} s")
            else:
                accuracy = _final_accuracy(runs)
                outcome = Outcome(exp.name, "done", f"{exp.name}: done in {seconds:.1f} s, {accuracy}")
        store.write_result(results_dir, {**header, **body})
        outcomes.append(outcome)
        progress.say(outcome.message)
    store.write_summary(results_dir, list(suite.experiments))
    return outcomes
