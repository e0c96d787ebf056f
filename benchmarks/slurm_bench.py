"""`python -m benchmarks.slurm_bench`: the same small suite through the local executor and through Slurm.

Twelve one-epoch experiments on 3,000 training examples (different learning rates, one repeat each), each
variant a fresh process from start to end, on whatever cluster `sinfo` answers for (the local one-node
cluster of ../shared/slurm/start-local-slurm.sh in CI). Slurm runs with `tasks_per_job = 1` (a job per
task, as before packing) and with the default packing. Writes benchmarks/results/slurm-<date>.md/.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
EXPERIMENTS = 12


def suite_text(executor: str) -> str:
    lines = ["[defaults]", "epochs = 1", "max_train = 3000", "max_test = 1000", 'device = "cpu"', "repeats = 1", ""]
    for i in range(EXPERIMENTS):
        lines += [f"[experiments.e{i:02d}]", f"lr = {0.0005 + 0.0001 * i:.4f}", ""]
    return "\n".join(lines) + executor


def timed_run(config: Path, results: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "report_builder", "run", "--config", str(config), "--results-dir",
                           str(results), "--no-progress"], cwd=REPO_DIR, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run failed:\n{done.stderr}")
    return wall, done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slurm_bench")
    parser.add_argument("--partition", default="debug")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    args = parser.parse_args(argv)
    slurm = (f'[executor]\nkind = "slurm"\npartition = "{args.partition}"\ntime_limit_min = 10\nmem_gb = 2\n'
             f'poll_seconds = 0.5\n')
    variants = {"local": "", "slurm, a job per task": slurm + "tasks_per_job = 1\n", "slurm, packed (auto)": slurm}
    report = {"date": date.today().isoformat(), "experiments": EXPERIMENTS, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for label, executor in variants.items():
            folder = Path(tmp) / re.sub(r"\W+", "-", label)
            folder.mkdir()
            config = folder / "experiments.toml"
            config.write_text(suite_text(executor))
            print(f"{label} …", file=sys.stderr, flush=True)
            wall, log = timed_run(config, folder / "results")
            jobs = re.search(r"slurm: submitted (\d+) job", log)
            report["variants"][label] = {"wall_seconds": wall, "jobs": int(jobs.group(1)) if jobs else 0}
            print(f"  {wall:.1f} s", file=sys.stderr, flush=True)
    local = report["variants"]["local"]["wall_seconds"]
    for v in report["variants"].values():
        v["over_local"] = v["wall_seconds"] / local
    lines = [f"# Slurm executor benchmark ({report['date']})", "",
             f"{EXPERIMENTS} one-epoch experiments (3,000 training examples each, 1 repeat), each variant a fresh "
             f"process, on the local one-node Slurm cluster (2 CPUs) and this machine.", "",
             "| variant | Slurm jobs | wall s | ÷ local |", "|---|---|---|---|"]
    lines += [f"| {label} | {v['jobs'] or '—'} | {v['wall_seconds']:.1f} | {v['over_local']:.1f}× |"
              for label, v in report["variants"].items()]
    lines += ["", "Target (issue #18): packed Slurm ≤ 2× local.", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"slurm-{report['date']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
