"""Recorded timing rounds (results/timing/rounds.json) with chosen numbers, for the speed rules and sentences.

A QUIET reading passes every gate limit, a BUSY one fails them all; `seconds` gives each experiment's seconds
per epoch round by round (a sample of STEPS steps over an epoch of STEPS steps, so a sample's wall seconds
are its seconds per epoch)."""

from __future__ import annotations

from pathlib import Path

QUIET = {"cpus": 2, "others_cores": 0.02, "steal_share": 0.0, "cpu_pressure": 1.0, "io_pressure": 0.5, "load": 2.2,
         "runnable_others": 0, "own_threads": 2, "at": 0.0}
BUSY = {"cpus": 2, "others_cores": 1.9, "steal_share": 0.0, "cpu_pressure": 60.0, "io_pressure": 0.5, "load": 5.6,
        "runnable_others": 4, "own_threads": 2, "at": 0.0}
STEPS = 1000


def sample(seconds: float, cpu: float | None = None, others_share: float | None = 0.01) -> dict:
    return {"wall_seconds": seconds, "cpu_seconds": seconds if cpu is None else cpu, "steps": STEPS, "threads": 2,
            "others_share": others_share}


def timing_document(suite_path: Path, seconds: dict[str, list[float]], readings: list[tuple[dict, dict]] | None = None,
                    drift: tuple[float, float] = (1.0, 1.0), reference: str | None = None,
                    devices: dict[str, str] | None = None, shares: dict[int, float] | None = None,
                    retried: list[float] = ()) -> dict:
    """A timing document for experiments `seconds` of the suite at suite_path: round r gives experiment n
    seconds[n][r - 1] per epoch; readings[r - 1] is round r's (before, after) (quiet where not given); the
    reference step took drift[0] per epoch at the start and drift[1] at the end; shares[r] is other work's share
    of the CPUs during round r's samples; retried holds the drift of each earlier attempt timed again."""
    from report_builder.config import load_suite
    from report_builder.results.identity import code_version, run_settings

    suite = load_suite(suite_path)
    names = list(seconds)
    count = len(seconds[names[0]])
    readings = readings or [(QUIET, QUIET)] * count
    experiments = {n: {"identity": {"config": run_settings(suite.experiments[n].config.identity(), "cpu"),
                                    "code_version": code_version(), "data_fingerprint": "f" * 16, "device_kind": "cpu"},
                       "batch_size": suite.experiments[n].config.batch_size, "steps": STEPS, "steps_per_epoch": STEPS,
                       "warmup_steps": 100, "device": (devices or {}).get(n, "CPU")} for n in names}
    rounds = [{"round": r, "order": names, "waited_seconds": 0.0, "before": readings[r - 1][0],
               "after": readings[r - 1][1],
               "samples": {n: sample(seconds[n][r - 1], others_share=(shares or {}).get(r, 0.01)) for n in names}}
              for r in range(1, count + 1)]
    return {"format": 1, "settings": {"rounds": count, "wait_seconds": 60.0, "sample_seconds": 0.5, "order_seed": 0},
            "experiments": experiments, "reference": reference or names[0],
            "calibration": {n: sample(seconds[n][0]) for n in names},
            "drift": {"start": [sample(drift[0])] * 2, "end": [sample(drift[1])] * 2}, "rounds": rounds, "failed": {},
            "retried": [{"started_seconds": 30.0 * i, "seconds": 30.0, "drift": d, "drift_samples": {}}
                        for i, d in enumerate(retried)],
            "waited_seconds": 0.0, "phase_seconds": 30.0,
            "provenance": {"threads": 2, "started_at": "2026-11-26T10:02:00+00:00", "device_name": "CPU"}}


def write_timing(results_dir: Path, suite_path: Path, seconds: dict[str, list[float]], **more) -> dict:
    from report_builder.results.timing_file import write_rounds

    document = timing_document(suite_path, seconds, **more)
    write_rounds(results_dir, {k: v for k, v in document.items() if k != "format"})
    return document
