"""`make bench-cpu` (and the end of `make bench`): the baseline recipe on a machine that is doing something else.

Three conditions — quiet, beside one and beside two CPU-bound processes that this script starts and stops
itself — and in each the baseline recipe (Adam, lr 0.001, batch 32, hidden 128; 3 epochs on the full
training set) as a fresh `report_builder run` process, twice: threads as chosen (`[executor] threads =
"auto"`, training/threads.py) and at the old fixed count (threads = the grant: every CPU this process may
use, as execute.fit_threads set them before this change). Conditions go round by round, the two thread settings in
alternating order, so that a machine that drifts slows both alike. Quiet, the lr 0.01 recipe runs beside
the baseline (subnormal floats flushed, training/subnormals.py): its seconds per epoch over the baseline's.

Each cell is the median seconds per epoch over every epoch of every round, and its ratio to quiet (the
same thread setting's, and the best quiet of the two). Goals (issue 37): beside one ≤ 1.3× quiet, beside
two ≤ 2× quiet, chosen quiet ≤ 1.05× the fixed count's quiet; lr 0.01 ≤ 1.2× the baseline. A reading of
the machine (others' cores, PSI) before each condition says whether "quiet" was quiet.

    python -m benchmarks.contention_bench            # 2 rounds, full data: about 5 min on a quiet 2-core machine
    python -m benchmarks.contention_bench --short    # 1 round, 6,000 images, 2 epochs: about 1–2 min

Writes benchmarks/results/<cpu>-<date>-contention[-short].md and .json (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

from report_builder.execution import provenance
from report_builder.training.machine_load import read_machine
from report_builder.training.threads import process_grant

REPO_DIR = Path(__file__).resolve().parent.parent
CONDITIONS = {"quiet": 0, "beside one busy process": 1, "beside two busy processes": 2}
GOALS = {"beside one busy process": 1.3, "beside two busy processes": 2.0}
QUIET_GOAL, LR_GOAL = 1.05, 1.2
SPIN_UP_SECONDS = 1.0
"""Time a busy process is given to take its core before a run starts."""
BUSY_LOOP = "while True:\n    pass\n"


@contextmanager
def busy_processes(n: int) -> Iterator[list[subprocess.Popen]]:
    """n CPU-bound processes for the length of the block, stopped (and waited for) whatever happens."""
    started = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]
    try:
        if started:
            time.sleep(SPIN_UP_SECONDS)
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def experiments_file(folder: Path, threads: int | str, epochs: int, max_train: int | None) -> Path:
    """The baseline recipe and lr 0.01, alone, one repeat each, on the CPU, with this thread setting."""
    defaults = {"epochs": epochs, "repeats": 1, "device": "cpu", "stack": False}
    if max_train:
        defaults["max_train"] = max_train
    lines = ["[defaults]", *(f"{k} = {json.dumps(v)}" for k, v in defaults.items()),
             "[executor]", f"threads = {json.dumps(threads)}",
             "[experiments.baseline]", "[experiments.lr_high]", "lr = 0.01"]
    path = folder / f"threads-{threads}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def time_run(config: Path, name: str, results_dir: Path) -> dict:
    """One fresh `report_builder run NAME` process: its epochs' seconds and threads, and why."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "report_builder", "run", name, "--config", str(config),
                           "--results-dir", str(results_dir), "--no-progress", "--force"],
                          cwd=REPO_DIR, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"report_builder run {name} failed:\n{done.stderr}")
    result = json.loads((results_dir / f"{name}.json").read_text())
    (run,) = result["runs"]
    return {"epoch_seconds": [e["train_seconds"] for e in run["epochs"]],
            "epoch_threads": [e.get("threads") for e in run["epochs"]],
            "threads_reason": result["provenance"].get("threads_reason"),
            "flush_denormal": result["provenance"].get("flush_denormal"), "wall_seconds": wall}


def median_epoch(runs: list[dict]) -> float:
    return statistics.median(s for run in runs for s in run["epoch_seconds"])


def summarise(cells: dict[str, dict[str, list[dict]]], lr_runs: list[dict]) -> dict:
    """Median seconds per epoch per (condition, setting), and the ratios the goals are stated in."""
    medians = {c: {s: median_epoch(runs) for s, runs in by_setting.items()} for c, by_setting in cells.items()}
    quiet = medians["quiet"]
    best_quiet = min(quiet.values())
    ratios = {c: {s: {"to_quiet": m / quiet[s], "to_best_quiet": m / best_quiet} for s, m in by_setting.items()}
              for c, by_setting in medians.items()}
    return {"median_seconds_per_epoch": medians, "ratios": ratios,
            "chosen_quiet_over_fixed_quiet": quiet["chosen"] / quiet["fixed"],
            "lr_high_over_baseline": median_epoch(lr_runs) / quiet["chosen"] if lr_runs else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contention_bench")
    parser.add_argument("--short", action="store_true", help="1 round, 6,000 training images, 2 epochs (a check)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of every condition (default 2; short: 1)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 3; short: 2)")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.short else 2)
    epochs = args.epochs or (2 if args.short else 3)
    max_train = 6000 if args.short else None
    fixed = process_grant()
    cells: dict[str, dict[str, list[dict]]] = {c: {"chosen": [], "fixed": []} for c in CONDITIONS}
    lr_runs: list[dict] = []
    readings: dict[str, list[dict]] = {c: [] for c in CONDITIONS}
    with tempfile.TemporaryDirectory() as folder:
        configs = {"chosen": experiments_file(Path(folder), "auto", epochs, max_train),
                   "fixed": experiments_file(Path(folder), fixed, epochs, max_train)}
        for round_ in range(rounds):
            for condition, busy in CONDITIONS.items():
                readings[condition].append(read_machine().as_dict())
                order = ["chosen", "fixed"] if round_ % 2 == 0 else ["fixed", "chosen"]
                with busy_processes(busy):
                    for setting in order:
                        print(f"round {round_ + 1}/{rounds}, {condition}, threads {setting} …", file=sys.stderr,
                              flush=True)
                        run = time_run(configs[setting], "baseline", Path(folder) / "results")
                        cells[condition][setting].append(run)
                        print(f"  {statistics.median(run['epoch_seconds']):.3f} s/epoch, threads "
                              f"{run['epoch_threads']} ({run['threads_reason']})", file=sys.stderr, flush=True)
                    if busy == 0:
                        lr_runs.append(time_run(configs["chosen"], "lr_high", Path(folder) / "results"))
    report = {"device": "CPU", "cpu_model": provenance.cpu_model(), "date": date.today().isoformat(),
              "short": args.short, "rounds": rounds, "epochs": epochs, "max_train": max_train, "fixed_threads": fixed,
              "readings_before": readings, "runs": cells, "lr_high_runs": lr_runs, **summarise(cells, lr_runs)}
    from benchmarks.bench import _write

    return _write(report, args.out, "-contention" + ("-short" if args.short else ""), markdown(report))


def markdown(r: dict) -> str:
    data = f"the first {r['max_train']:,} training images" if r["max_train"] else "the full training set"
    lines = [f"# Threads beside other work — {r['cpu_model']} ({r['date']})", "",
             f"The baseline recipe, {r['epochs']} epochs on {data}, one fresh `report_builder run` per cell and round "
             f"({r['rounds']} round{'s' if r['rounds'] > 1 else ''}{', short mode' if r['short'] else ''}): median "
             f"seconds per epoch, threads as chosen (`threads = \"auto\"`) and at the old fixed count "
             f"({r['fixed_threads']}), with the ratio to quiet (same setting / best quiet).", "",
             "| machine | chosen s/epoch | chosen ÷ quiet | fixed s/epoch | fixed ÷ quiet | threads chosen | goal |",
             "|---|---|---|---|---|---|---|"]
    for condition in CONDITIONS:
        med, ratio = r["median_seconds_per_epoch"][condition], r["ratios"][condition]
        threads = sorted({t for run in r["runs"][condition]["chosen"] for t in run["epoch_threads"] if t})
        goal = f"≤ {GOALS[condition]}×" if condition in GOALS else "—"
        lines.append(f"| {condition} | {med['chosen']:.3f} | {ratio['chosen']['to_quiet']:.2f}× / "
                     f"{ratio['chosen']['to_best_quiet']:.2f}× | {med['fixed']:.3f} | {ratio['fixed']['to_quiet']:.2f}× "
                     f"/ {ratio['fixed']['to_best_quiet']:.2f}× | {', '.join(map(str, threads))} | {goal} |")
    lines += ["", f"Quiet, chosen ÷ fixed: {r['chosen_quiet_over_fixed_quiet']:.2f}× (goal ≤ {QUIET_GOAL}×)."]
    if r["lr_high_over_baseline"] is not None:
        lines.append(f"Quiet, lr 0.01 ÷ baseline seconds per epoch, subnormals flushed: "
                     f"{r['lr_high_over_baseline']:.2f}× (goal ≤ {LR_GOAL}×).")
    lines += ["", "Other work before each condition started (this script's busy processes not yet running): "
                  "cores other processes used, PSI cpu some avg10 — where a quiet row was not quiet, say so.", ""]
    for condition, readings in r["readings_before"].items():
        shown = "; ".join(f"{x['others_cores']:.2f} cores, PSI {x['cpu_pressure']}" if x["others_cores"] is not None
                          else "unknown" for x in readings)
        lines.append(f"- {condition}: {shown}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
