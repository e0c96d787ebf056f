"""Speed-ups measured as the report measures them: the timing phase (execution/timing_rounds.py) and the speed
claims (findings/speed.py), for experiments of the experiments file's timing groups.

    python -m benchmarks.timing_rounds_bench                       # batch16, baseline, batch64 (the batch group)
    python -m benchmarks.timing_rounds_bench --busy 2              # the same beside two busy loops
    python -m benchmarks.timing_rounds_bench --names dataloader baseline

Prints each claim (ratio, interval, rounds; or withheld and why, with the all-rounds ratio), the gate's
readings and the phase's seconds; writes benchmarks/results/<device>-<date>-rounds[-busyN].json and .md.
`--busy N` starts N processes that spin (`while True: pass`) for the whole phase and ends them after.
`make bench` runs the default (quiet) measurement through the same function.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_NAMES = ("batch16", "baseline", "batch64")


def busy_loops(count: int) -> list[int]:
    """The pids of `count` processes that each keep one core busy until killed. They are started through a shell
    that exits at once, so they are no descendants of this process: the phase counts its own process tree's CPU
    time as its own, and children of ours would read as a quiet machine (they did, before this)."""
    pids = []
    for _ in range(count):
        done = subprocess.run(["sh", "-c", f"'{sys.executable}' -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
                              capture_output=True, text=True, check=True)
        pids.append(int(done.stdout.strip()))
    return pids


def measure(config: Path, names: list[str], results_dir: Path, busy: int = 0) -> dict:
    """Run the timing phase for `names` (with [timing] from the file) and return its claims and readings."""
    from report_builder.config import load_suite
    from report_builder.execution.timing_rounds import time_rounds
    from report_builder.findings.speed import speed_claims, summary
    from report_builder.progress import Progress
    from report_builder.results.timing_file import read_rounds

    suite = load_suite(config)
    loops = busy_loops(busy)
    started = time.perf_counter()
    try:
        time.sleep(2.0 if busy else 0.0)  # let the loops show in the pressure figures before the first reading
        time_rounds(suite, results_dir, Progress(bars=False), names=names)
    finally:
        for pid in loops:  # each by its own pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    document = read_rounds(results_dir)
    machine = summary(document, suite)
    claims = [{"id": c.id, "experiments": list(c.experiments), "ratio": c.ratio, "interval": c.interval,
               "rounds": c.rounds, "withheld": c.withheld, "reason": c.reason, "rounds_run": c.rounds_run,
               "excluded": list(c.excluded), "cpu_ratio": c.cpu_ratio,
               "all_rounds": None if c.all_rounds is None else
               {"ratio": c.all_rounds.estimate, "low": c.all_rounds.low, "high": c.all_rounds.high,
                "rounds": c.all_rounds.rounds}}
              for c in speed_claims(suite, document, names=names)]
    return {"names": names, "busy_loops": busy, "wall_seconds": time.perf_counter() - started,
            "phase_seconds": document["phase_seconds"], "waited_seconds": document["waited_seconds"],
            "threads": document["provenance"].get("threads"), "device": document["provenance"].get("device_name"),
            "cpu_model": document["provenance"].get("cpu_model"), "excluded_rounds": list(machine.excluded),
            "drift": machine.drift, "gate_medians": machine.figures, "claims": claims, "timing_file": document}


def lines(r: dict) -> list[str]:
    """The measurement as Markdown lines (also printed)."""
    out = [f"Timing rounds ({len(r['timing_file']['rounds'])} rounds of {', '.join(r['names'])}; "
           f"{r['threads']} torch threads; {r['busy_loops']} busy loop(s) beside): phase {r['phase_seconds']:.0f} s, "
           f"{r['waited_seconds']:.0f} s of it waiting; rounds left out as busy: {r['excluded_rounds'] or 'none'}; "
           f"reference drift {100 * (r['drift'] or 0):.1f}%.", "",
           "| claim | ratio [95% CI] | rounds | all rounds | CPU-time ratio |", "|---|---|---|---|---|"]
    for c in r["claims"]:
        a = c["all_rounds"]
        every = "—" if a is None else f"{a['ratio']:.3f}×" + (f" [{a['low']:.3f}, {a['high']:.3f}]" if a["low"] else "")
        stated = (f"withheld ({c['reason']})" if c["withheld"] else f"{c['ratio']:.3f}×"
                  + (f" [{c['interval'][0]:.3f}, {c['interval'][1]:.3f}]" if c["interval"] else ""))
        cpu = f"{c['cpu_ratio']:.3f}×" if c["cpu_ratio"] else "—"
        out.append(f"| {c['experiments'][0]} vs {c['experiments'][1]} | {stated} | {c['rounds']} of {c['rounds_run']} "
                   f"| {every} | {cpu} |")
    medians = ", ".join(f"{k} {v:.3g}" for k, v in r["gate_medians"].items() if v is not None)
    return out + ["", f"Gate readings (medians): {medians}.", ""]


def write(r: dict, out: Path, suffix: str) -> Path:
    name = r["device"] if r["device"] != "CPU" else f"cpu-{r['cpu_model']}"
    slug = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{slug}-{date.today().isoformat()}-rounds{suffix}"
    stem.with_suffix(".json").write_text(json.dumps(r, indent=1) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines(r)))
    return stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.timing_rounds_bench")
    parser.add_argument("--config", type=Path, default=REPO_DIR / "experiments.toml")
    parser.add_argument("--names", nargs="+", default=list(DEFAULT_NAMES),
                        help="experiments to time (of the file's timing groups; default: the batch-size group)")
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="spin N busy loops while timing")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as results:
        r = measure(args.config, args.names, Path(results), args.busy)
    print("\n".join(lines(r)))
    stem = write(r, args.out, f"-busy{args.busy}" if args.busy else "")
    print(f"wrote {stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
