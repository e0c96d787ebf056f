"""Shared fixtures: tiny Fashion-MNIST-shaped IDX files and experiments files written per test (from
tests/fixtures/*.toml and overrides, by config_text), and the tiny suite trained once per session; processes
that tests start, and waits for events instead of for a time; one torch thread per test process; the tests
that `make test-fast` leaves out (marked slow)."""

from __future__ import annotations

import gzip
import json
import os
import queue
import signal
import struct
import subprocess
import textwrap
import threading
import time
import tomllib
from pathlib import Path
from typing import Callable

import pytest
import tomli_w

# One torch thread in each test process and in the processes tests start (they inherit the variable; set it
# to choose another count). The tests' models are tiny: a second thread gains nothing, and when it waits for
# a core that another process holds, every step waits with it — a 3-epoch run of tests/fixtures/slow.toml
# took 7 CPU s and 22 s with two threads on a busy 2-core machine, 2 CPU s and 6 s with one (mostly
# start-up). With pytest-xdist (make test), each worker then keeps to its core.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = REPO_DIR.parent / "shared" / "datasets"
FIXTURES_DIR = REPO_DIR / "tests" / "fixtures"

pytest_plugins = ["cpu_durations"]  # pytest --cpu-durations=N: the tests that cost the most CPU seconds


def idx_bytes(array: torch.Tensor) -> bytes:
    """An IDX file of uint8 data: magic 0x0000 08 ndim, big-endian dims, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.dim()) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.to(torch.uint8).contiguous().numpy().tobytes()


def synthetic_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose class is written as a bright 4×4 block at one of ten places, plus noise: learnable fast."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 60, (n, 28, 28), generator=g)
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 5)
        images[i, 4 + row * 10: 8 + row * 10, 2 + col * 5: 6 + col * 5] = 250
    return images.to(torch.uint8), labels.to(torch.uint8)


def write_dataset(folder: Path, n_train: int = 256, n_test: int = 128, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = synthetic_split(n_train, 1)
    test_x, test_y = synthetic_split(n_test, 2)
    arrays = {"train-images-idx3-ubyte": train_x, "train-labels-idx1-ubyte": train_y,
              "t10k-images-idx3-ubyte": test_x, "t10k-labels-idx1-ubyte": test_y}
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


SLOW_MODULES = {"test_claims", "test_exports", "test_findings", "test_gradient_report", "test_render",
                "test_sweep_report", "test_timing_report"}
"""Modules whose tests (nearly) all render a whole report, 1 to 6 CPU s each."""
SLOW_TESTS = {("test_docs", "test_every_example_of_the_page_runs")}
"""(module, test): runs every command of the README and the documentation pages to its end."""
# These are marked slow here, not in their files, only because others are editing those files as this is
# written: once merged, a module marks its own (pytestmark, or @pytest.mark.slow on each test) and leaves here.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of SLOW_MODULES and SLOW_TESTS are slow: `make test-fast` leaves them out."""
    for item in items:
        module = item.path.stem
        if module in SLOW_MODULES or (module, getattr(item, "originalname", item.name)) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never download; the data directory comes from each test."""
    monkeypatch.setenv("REPORT_BUILDER_NO_DOWNLOAD", "1")


# ---- processes and waits that hold on a busy machine ---------------------------------------------------
# A test waits for an event (a line, a file, a page), with a timeout generous enough for a machine whose
# every core is taken by others; a test that fails or times out still ends the processes it started.

EVENT_TIMEOUT = 300.0
"""Seconds a test waits for something that takes a moment on an idle machine: a failure, not a slow
machine, should be what ends the wait."""

RUN_TIMEOUT = 1800.0
"""Seconds a test waits for a CLI run that trains to its end. A tiny 40-epoch run took 250 s with both
cores of a 2-core machine kept busy by others (torch's two threads then make each step about 4× slower
than one thread would), against seconds on an idle machine."""

_started: list[subprocess.Popen] = []


def default_sigint() -> None:
    """preexec_fn: SIGINT at its default in the child, as a terminal user's process has it.

    A non-interactive shell starts background jobs with SIGINT ignored, and children inherit that
    (POSIX); Python then installs no KeyboardInterrupt handler, and a test's Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(args: list[str], **popen_kwargs) -> subprocess.Popen:
    """Popen for a test: SIGINT at its default, in a process group of its own, which is killed (with any
    workers it started) when the test ends, however it ends."""
    process = subprocess.Popen(args, preexec_fn=default_sigint, process_group=0, **popen_kwargs)
    _started.append(process)
    return process


def end_process(process: subprocess.Popen) -> None:
    """Kill the process's group (idempotent) and reap the process."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


@pytest.fixture(autouse=True)
def _end_started_processes():
    yield
    while _started:
        end_process(_started.pop())


def readline_within(stream, timeout: float = EVENT_TIMEOUT) -> str:
    """The next line of a child's pipe, or AssertionError after `timeout` s without one ("" at the end)."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line from the process within {timeout:.0f} s") from None


def wait_until(condition: Callable[[], bool], timeout: float = EVENT_TIMEOUT, what: str = "the condition",
               poll: float = 0.05) -> None:
    """Return once condition() holds; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(poll)


def write_config(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# ---- experiments files -----------------------------------------------------------------------------
# A test's configuration is a named file in tests/fixtures/ plus the overrides the test is about, passed
# as tables: config_text("tiny", experiments={"sgd": {"lr": -1}}) shows the one value that matters.

def config_text(base: str | Path | None = None, **tables: dict) -> str:
    """An experiments file: tests/fixtures/<base>.toml (or the file at path `base`; nothing if None) with
    `tables` merged over it table by table, a key given here replacing the base's."""
    path = FIXTURES_DIR / f"{base}.toml" if isinstance(base, str) else base
    document = tomllib.loads(path.read_text(encoding="utf-8")) if path else {}
    return tomli_w.dumps(_merged(document, tables))


def _merged(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for name, value in overrides.items():
        both_tables = isinstance(value, dict) and isinstance(merged.get(name, {}), dict)
        merged[name] = _merged(merged.get(name, {}), value) if both_tables else value
    return merged


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_data_dir: Path) -> Path:
    """Two quick experiments on the tiny dataset, on the CPU (tests/fixtures/tiny.toml)."""
    return write_config(tmp_path / "experiments.toml", config_text("tiny", defaults={"data_dir": str(tiny_data_dir)}))


# ---- small real runs, trained once per session ---------------------------------------------------
# Tests that only read finished results take a copy of a folder trained once per session (once per xdist
# worker that needs it), instead of training their own. The folder is never written to after it is made.

@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory) -> Path:
    """The tiny suite (tests/fixtures/tiny.toml, both experiments) trained once: data/, experiments.toml and
    results/ in one folder. Read-only: take a copy with the tiny_project fixture."""
    import io

    from report_builder.config import load_suite
    from report_builder.execution.runner import run_suite
    from report_builder.progress import Progress

    folder = tmp_path_factory.mktemp("tiny-trained")
    data_dir = write_dataset(folder / "data")
    config = write_config(folder / "experiments.toml", config_text("tiny", defaults={"data_dir": str(data_dir)}))
    outcomes = run_suite(load_suite(config), [], folder / "results", progress=Progress(io.StringIO(), bars=False))
    assert [o.status for o in outcomes] == ["done", "done"], outcomes
    return folder


@pytest.fixture
def tiny_project(tmp_path: Path, tiny_trained: Path) -> Path:
    """tmp_path holding experiments.toml (the tiny suite, on the session's tiny data) and results/ with both
    experiments trained and current: what `run --config experiments.toml --results-dir results` leaves."""
    import shutil

    shutil.copy(tiny_trained / "experiments.toml", tmp_path / "experiments.toml")
    shutil.copytree(tiny_trained / "results", tmp_path / "results", ignore=shutil.ignore_patterns(".lock"))
    return tmp_path


def real_data_dir() -> Path | None:
    """The real Fashion-MNIST from $REPORT_BUILDER_DATA_DIR or ../shared/datasets, if present."""
    from report_builder.training.data import find_files

    for candidate in (os.environ.get("REPORT_BUILDER_DATA_DIR"), SHARED_DATA_DIR):
        if candidate and find_files(Path(candidate)):
            return Path(candidate).resolve()
    return None


def fixture_result(suite_path: Path, name: str, accuracies: list[float], seconds: float | list[float] = 1.0,
                   repeats: int = 1, status: str = "done", probes: dict[str, list[float]] | None = None,
                   device_name: str = "CPU", spread: float = 0.002, test_losses: list[float] | None = None,
                   stacked_with: int = 1, stack: list[str] | None = None, disturbed: tuple[int, ...] = (),
                   engine: str = "explicit", run_factors: list[float] | None = None,
                   predictions: list[bytes] | None = None) -> dict:
    """A results document with chosen numbers, for experiment `name` of the suite at suite_path.

    Repeat r adds r × `spread` to every accuracy; `seconds` is per epoch (one value, or one per epoch),
    times run_factors[r] where given; epochs listed in `disturbed` are marked as timed while the machine
    was busy; predictions[r] (results/store.py's bytes, one per test image) are stored with repeat r."""
    import base64

    from report_builder.config import load_suite
    from report_builder.results import store

    exp = load_suite(suite_path).experiments[name]
    runs = []
    for repeat in range(repeats):
        epochs = []
        for i, accuracy in enumerate(accuracies):
            epochs.append({
                "epoch": i + 1, "train_loss": 1.0 / (i + 1) + 0.01 * repeat,
                "test_loss": test_losses[i] if test_losses else 1.1 / (i + 1),
                "test_accuracy": accuracy + spread * repeat,
                "train_seconds": (seconds[i] if isinstance(seconds, list) else seconds)
                * (run_factors[repeat] if run_factors else 1.0), "eval_seconds": 0.01,
                "probes": {p: values[i] for p, values in (probes or {}).items()},
                "timing_disturbed": (i + 1) in disturbed,
                "timing_evidence": {"others_cpu_share": 0.5 if (i + 1) in disturbed else 0.01},
            })
        runs.append({"repeat": repeat, "seed": exp.config.seed + repeat, "diverged_at": None, "epochs": epochs,
                     "stacked_with": stacked_with, "engine": engine, "cuda_graphs": device_name != "CPU",
                     **({"test_predictions": base64.b64encode(predictions[repeat]).decode()} if predictions else {})})
    return {
        "format": store.FORMAT, "experiment": name, "title": exp.title, "description": exp.description,
        "status": status, "error": "RuntimeError: boom" if status == "failed" else None,
        "identity": {"config": exp.config.identity(), "code_version": store.code_version(),
                     "data_fingerprint": "f" * 16, "device_kind": "cpu" if device_name == "CPU" else "cuda"},
        "config": {**exp.config.identity(), "device": exp.config.device, "data_dir": exp.config.data_dir},
        "runs": runs if status != "failed" else [],
        "provenance": {"device_kind": "cpu" if device_name == "CPU" else "cuda", "device_name": device_name,
                       "cpu_model": "Test CPU", "cpu_threads": 2, "torch_version": "2.x", "cuda_version": None,
                       "python_version": "3.11", "platform": "test", "git_commit": "abc1234def", "git_dirty": False,
                       "data_source": "/data", "train_examples": 256, "test_examples": 128,
                       "started_at": "2026-11-26T10:00:00+00:00", "finished_at": "2026-11-26T10:01:00+00:00",
                       "wall_seconds": 60.0,
                       **({"stacked_with": stacked_with, "stacked_experiments": sorted(stack or [name])}
                          if stacked_with > 1 else {})},
    }


def write_fixture_results(suite_path: Path, results_dir: Path, specs: dict[str, dict]) -> None:
    from report_builder.results import store

    for name, spec in specs.items():
        store.write_result(results_dir, {k: v for k, v in fixture_result(suite_path, name, **spec).items()
                                         if k != "format"})


def two_experiment_project(folder: Path, title: str) -> Path:
    """A suite of two experiments with fixture results and a private copy of the shipped templates."""
    import shutil

    config = write_config(folder / "experiments.toml", config_text("two_experiments", report={"title": title}))
    write_fixture_results(config, folder / "results", {"baseline": {"accuracies": [0.8, 0.84, 0.86]},
                                                      "other": {"accuracies": [0.7, 0.75, 0.8]}})
    shutil.copytree(REPO_DIR / "templates", folder / "templates")
    return folder
