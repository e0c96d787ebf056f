"""The timing phase: every speed-up the report states is measured here, in interleaved rounds.

For the experiments of the `timing = true` groups, on the real data:
1. calibrate (as pyperf does): an experiment's seconds per step, from which the steps per sample are chosen
   to last at least [timing] sample_seconds: from its own stored runs where it trained alone (the fastest
   undisturbed epoch's, so that a sample is at least as long as planned on a machine as fast), else from one
   sample of PROGRESS_EVERY steps (never used in a ratio). `report` times just after training, so the runs are
   there: a DataLoader calibration sample cost more than a second of a 25 s phase;
2. time the reference step (the first timing group's baseline) DRIFT_SAMPLES times;
3. [timing] rounds rounds, each timing every experiment once in a seeded random order, so that whatever
   changes over minutes lands on every experiment alike and a per-round ratio cancels it;
4. time the reference step DRIFT_SAMPLES times again (the drift check compares both ends);
5. where the reference step moved more than the drift check allows, time 2–4 again (at most MAX_ATTEMPTS
   times in all) while [timing] wait_seconds
   (shared with the idle gate's waiting) leaves room for another attempt as long: the file keeps the last
   attempt's samples and each earlier attempt's drift ("retried").
Before and after each round the machine is read (machine_load.read_machine); while the idle gate
(analysis/timing.py) finds it busy the phase waits, at most [timing] wait_seconds in all, then times anyway.
Which rounds count and whether claims are withheld is decided at render time from what is stored here
(results/timing_file.py), by rules fixed before any round ran. Every sample runs with the same torch threads.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from report_builder.analysis.timing import DRIFT_LIMIT, clean_epoch_seconds, gate, samples_drift
from report_builder.config import Suite, TimingConfig
from report_builder.execution import provenance
from report_builder.execution.step_timer import StepTimer
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.results.identity import identity_of, timed_experiments
from report_builder.errors import ResultsError
from report_builder.execution.lock import results_lock
from report_builder.findings.speed import speed_claims
from report_builder.results.timing_file import read_rounds, write_rounds
from report_builder.training import machine_load, threads as torch_threads
from report_builder.training.data import shared_cache
from report_builder.training.device import resolve_device
from report_builder.training.records import PROGRESS_EVERY

DRIFT_SAMPLES = 2
"""Samples of the reference step at each end of the rounds; the drift check compares their medians."""
MAX_ATTEMPTS = 3
"""The most times the phase times its rounds when the reference step drifts (the wait budget bounds it too)."""
POLL_SECONDS = 2.0
"""How long the phase sleeps between readings while it waits for a quiet machine."""


@dataclass
class Waiter:
    """The idle gate's wait, bounded in all by `budget` seconds; `read`, `sleep` and `clock` are replaceable so
    that tests feed recorded readings."""

    budget: float
    own_threads: int
    read: Callable[[], machine_load.MachineReading] = machine_load.read_machine
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = lambda line: None
    window: float = field(default_factory=machine_load.default_window)
    """How long one reading takes."""
    waited: float = 0.0
    started: float = field(default=0.0)

    def reading(self) -> dict[str, Any]:
        """One reading as the timing file stores it."""
        return {**self.read().as_dict(), "own_threads": self.own_threads, "at": round(self.clock() - self.started, 2)}

    def quiet(self, first: dict[str, Any] | None = None) -> tuple[dict[str, Any], float]:
        """(the reading a round starts from, seconds waited for it): `first` (or a fresh reading) when quiet,
        else readings every POLL_SECONDS until one is quiet or the budget is spent."""
        reading = first if first is not None else self.reading()
        began = self.clock()
        told = False
        # A reading takes its window too: none is begun that would end past the budget.
        while not gate(reading).quiet and self.waited + (self.clock() - began) + self.window <= self.budget:
            if not told:
                over = ", ".join(gate(reading).over)
                self.say(f"timing: waiting for a quiet machine ({over} over the limit; at most "
                         f"{self.budget - self.waited:.0f} s more)")
                told = True
            self.sleep(min(POLL_SECONDS, max(0.0, self.budget - self.waited - (self.clock() - began) - self.window)))
            reading = self.reading()
        spent = self.clock() - began
        self.waited += spent
        return reading, spent


def phase_experiments(suite: Suite) -> tuple[list[str], str | None]:
    """(the experiments the phase times, in file order; the reference step for the drift check: the first
    timing group's baseline, else its first experiment). Empty without a timing group."""
    timed = timed_experiments(suite)
    names = [n for n in suite.experiments if n in timed]
    groups = [g for g in suite.groups.values() if g.timing]
    reference = (groups[0].baseline or groups[0].experiments[0]) if groups else None
    return names, reference


def _timers(suite: Suite, names: list[str]) -> dict[str, tuple[StepTimer, dict]]:
    repo_dir = suite.path.resolve().parent
    timers = {}
    for name in names:
        cfg = suite.experiments[name].config
        device = resolve_device(cfg.device, f"{suite.path.name}: [experiments.{name}]")
        data = shared_cache(repo_dir).get(cfg, device)
        timer = StepTimer(cfg, data, device)
        timers[name] = (timer, {"identity": identity_of(cfg, data.raw.fingerprint, device.type),
                                "batch_size": cfg.batch_size, "steps_per_epoch": timer.steps_per_epoch,
                                "warmup_steps": PROGRESS_EVERY, "device": provenance.device_name(device)})
    return timers


def stored_step_seconds(result: dict | None, device_kind: str, steps_per_epoch: int) -> float | None:
    """Seconds per training step of an experiment's fastest undisturbed epoch among its stored runs that trained
    alone on this kind of device; None without one."""
    if not result or result.get("identity", {}).get("device_kind") not in (None, device_kind):
        return None
    seconds = [t for run in result.get("runs", []) if run.get("stacked_with", 1) == 1
               for t in clean_epoch_seconds(run) if t]
    return min(seconds) / steps_per_epoch if seconds and steps_per_epoch else None


def _sample(timer: StepTimer, steps: int, name: str, failed: dict[str, str],
            say: Callable[[str], None] = lambda line: None) -> dict | None:
    try:
        return timer.sample(steps)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:  # one experiment that cannot be timed must not lose the others' rounds
        failed[name] = f"{e.__class__.__name__}: {e}"
        say(f"timing: {name} could not be timed ({failed[name]}); the report withholds its speed claims")
        return None


def _attempt(timers: dict[str, tuple[StepTimer, dict]], steps: dict[str, int], reference: str, live: list[str],
             failed: dict[str, str], settings: TimingConfig, order_rng: random.Random, waiter: Waiter,
             progress: Progress) -> tuple[dict[str, list[dict]], list[dict]]:
    """One attempt: the reference step DRIFT_SAMPLES times, the rounds, the reference step again; (the drift
    samples, the rounds)."""
    drift: dict[str, list[dict]] = {"start": [], "end": []}
    if reference in live:
        drift["start"] = [s for _ in range(DRIFT_SAMPLES)
                          if (s := _sample(timers[reference][0], steps[reference], reference, failed))]
    rounds = []
    before = None  # calibration and the drift samples ran since the last reading: read afresh
    for number in range(1, settings.rounds + 1):
        before, waited = waiter.quiet(before)
        order = [n for n in live if n not in failed]
        order_rng.shuffle(order)
        progress.say(f"timing: round {number} of {settings.rounds} ({', '.join(order)})")
        samples = {n: s for n in order if (s := _sample(timers[n][0], steps[n], n, failed, progress.say)) is not None}
        after = waiter.reading()
        rounds.append({"round": number, "order": order, "waited_seconds": round(waited, 2), "before": before,
                       "after": after, "samples": samples})
        before = after
    if reference in live and reference not in failed:
        drift["end"] = [s for _ in range(DRIFT_SAMPLES)
                        if (s := _sample(timers[reference][0], steps[reference], reference, failed))]
    return drift, rounds


def time_rounds(suite: Suite, results_dir: Path, progress: Progress | None = None,
                settings: TimingConfig | None = None, names: list[str] | None = None,
                waiter: Waiter | None = None) -> Path | None:
    """Run the timing phase for the suite's timing groups (or `names`) and write results/timing/rounds.json;
    None (and nothing written) without anything to time."""
    settings = settings or suite.timing
    progress = progress or Progress(bars=False)
    found, reference = phase_experiments(suite)
    names = names or found
    if not names:
        return None
    reference = reference if reference in names else names[0]
    started_at, started = provenance.now(), time.perf_counter()
    # One count for the whole phase, chosen from the free cores as a run's is (training/threads.py), so
    # that every pair of samples is timed like for like.
    chosen, _ = torch_threads.choose_threads(machine_load.read_machine(), torch_threads.process_grant(),
                                             suite.executor.threads)
    threads = torch_threads.apply_threads(chosen)
    workers = max((suite.experiments[n].config.loader_workers for n in names
                   if suite.experiments[n].config.pipeline == "dataloader"), default=0)
    waiter = waiter or Waiter(budget=settings.wait_seconds, own_threads=threads + workers, say=progress.say)
    waiter.started = waiter.clock()
    failed: dict[str, str] = {}
    timers = _timers(suite, names)
    progress.say(f"timing: {len(names)} experiments × {settings.rounds} rounds ({', '.join(names)}), "
                 f"{threads} torch thread{'s' if threads != 1 else ''}")
    before, _ = waiter.quiet()

    calibration, steps = {}, {}
    for name, (timer, meta) in timers.items():
        per_step = stored_step_seconds(store.stored_result(results_dir, name), meta["identity"]["device_kind"],
                                       timer.steps_per_epoch)
        if per_step is not None:
            calibration[name] = {"source": "results", "seconds_per_step": per_step}
        else:
            calibration[name] = _sample(timer, PROGRESS_EVERY, name, failed, progress.say)
            if calibration[name] is None:
                continue
            per_step = calibration[name]["wall_seconds"] / PROGRESS_EVERY
        steps[name] = timer.steps_for(settings.sample_seconds, per_step)
    live = [n for n in names if n not in failed]
    order_rng = random.Random(settings.order_seed)
    retried: list[dict[str, Any]] = []
    while True:
        began = time.perf_counter()
        drift, rounds = _attempt(timers, steps, reference, live, failed, settings, order_rng, waiter, progress)
        moved = samples_drift(drift)
        spent = time.perf_counter() - began
        # The machine's speed wandered while it was timed: time the rounds again while the wait budget allows
        # another attempt as long as this one (each attempt's claims are judged by the same fixed rules, and the
        # report says how many were timed and why).
        if (moved is None or moved <= DRIFT_LIMIT or len(retried) + 1 >= MAX_ATTEMPTS
                or waiter.budget - waiter.waited < spent):
            break
        waiter.waited += spent
        retried.append({"started_seconds": round(began - started, 2), "seconds": round(spent, 2),
                        "drift": round(moved, 4), "drift_samples": drift})
        progress.say(f"timing: the reference step ({reference}) moved {100 * moved:.1f}% while timed (over "
                     f"{100 * DRIFT_LIMIT:.0f}%); timing the rounds again (at most "
                     f"{waiter.budget - waiter.waited:.0f} s more)")

    experiments = {n: {**meta, "steps": steps.get(n)} for n, (_, meta) in timers.items()}
    device = next(iter(timers.values()))[0].device
    document = {"settings": {"rounds": settings.rounds, "wait_seconds": settings.wait_seconds,
                             "sample_seconds": settings.sample_seconds, "order_seed": settings.order_seed},
                "experiments": experiments, "reference": reference, "calibration": calibration, "drift": drift,
                "rounds": rounds, "failed": failed, "retried": retried,
                "waited_seconds": round(waiter.waited - sum(r["seconds"] for r in retried), 2),
                "phase_seconds": round(time.perf_counter() - started, 2),
                "provenance": {**provenance.collect(device, suite.path.resolve().parent), "threads": threads,
                               "loader_workers": workers, "started_at": started_at, "finished_at": provenance.now()}}
    path = write_rounds(results_dir, document)
    attempts = f", the last of {len(retried) + 1} attempts" if retried else ""
    progress.say(f"timing: {len(rounds)} rounds{attempts} in {document['phase_seconds']:.0f} s "
                 f"({document['waited_seconds']:.0f} s of it waiting for a quiet machine) → {path}")
    return path


def timing_wanted(suite: Suite, results_dir: Path, force: bool = False) -> str | None:
    """Why `make report` should run the timing phase now, or None: its rounds are current and stated. It runs
    when there are none, when they are damaged, when an experiment changed since, and when they were
    withheld (the machine may be quiet now)."""
    if not phase_experiments(suite)[0]:
        return None
    if force:
        return "--force"
    try:
        document = read_rounds(results_dir)
    except ResultsError:
        return "its file is damaged"
    if document is None:
        return "no timing rounds yet"
    claims = speed_claims(suite, document)
    reasons = sorted({c.reason for c in claims if c.withheld})
    return f"speed claims withheld ({', '.join(reasons)})" if reasons else None


def run_timing(suite: Suite, results_dir: Path, progress: Progress, force: bool = False,
               always: bool = False) -> Path | None:
    """The phase as `report` (when timing_wanted) and `time` (`always`) run it: under the results lock."""
    why = "asked for" if always else timing_wanted(suite, results_dir, force)
    if why is None:
        if phase_experiments(suite)[0]:
            progress.say("timing: rounds are current")
        return None
    progress.say(f"timing: {why}")
    with results_lock(results_dir, progress.say):
        return time_rounds(suite, results_dir, progress)
