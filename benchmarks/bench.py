"""`make bench`: the assignment's training loop against ours, on this machine, in one process.

For batch sizes 16/32/64 it trains the same model, seed and batch order with pipeline = "dataloader"
(the 2021 notebook's loop) and pipeline = "tensor" (ours; CUDA graphs on a GPU), then times the whole
default suite as a fresh process (start-up included). Writes benchmarks/results/<device>-<date>.md/.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from report_builder import provenance
from report_builder.config import TrainConfig, load_suite
from report_builder.data import load_raw, prepare, resolve_data_dir
from report_builder.runner import resolve_device
from report_builder.train import train_run

REPO_DIR = Path(__file__).resolve().parent.parent
ACCURACY_AGREEMENT_POINTS = 1.5


def time_pipeline(cfg: TrainConfig, data, device) -> dict:
    run = train_run(cfg, data, 0, device)
    return {"seconds_per_epoch": statistics.fmean(e.train_seconds for e in run.epochs),
            "epoch_seconds": [e.train_seconds for e in run.epochs],
            "setup_seconds": run.setup_seconds, "cuda_graphs": run.cuda_graphs,
            "final_accuracy": run.epochs[-1].test_accuracy}


def time_suite(config: Path, repeats: int, stack: bool) -> dict:
    """The default suite (all but the dataloader timing runs) with `repeats` repeats, as one fresh process."""
    suite = load_suite(config)
    names = [n for n, e in suite.experiments.items() if e.config.pipeline == "tensor"]
    with tempfile.TemporaryDirectory() as results:
        variant = Path(results) / "experiments.toml"
        text = re.sub(r"(?m)^repeats\s*=\s*\d+.*$", "", config.read_text())
        variant.write_text(re.sub(r"(?m)^\[defaults\]\s*$", f"[defaults]\nrepeats = {repeats}", text, count=1))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "report_builder", "run", *names, "--config", str(variant),
                               "--results-dir", results, "--no-progress", *([] if stack else ["--no-stack"])],
                              cwd=REPO_DIR, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the suite run failed:\n{done.stderr}")
        finals = {}
        for name in names:
            result = json.loads((Path(results) / f"{name}.json").read_text())
            finals[name] = [r["epochs"][-1]["test_accuracy"] for r in result["runs"] if r["epochs"]]
    return {"experiments": names, "repeats": repeats, "stacked": stack, "wall_seconds": wall,
            "final_accuracies": finals}


def accuracy_gaps(stacked: dict, alone: dict) -> dict:
    """Per experiment, the largest |final accuracy stacked − alone| over seeds, in points."""
    per = {n: max((100 * abs(a - b) for a, b in zip(stacked["final_accuracies"][n], alone["final_accuracies"][n])),
                  default=0.0) for n in stacked["final_accuracies"]}
    return {"accuracy_gap_points": per, "max_accuracy_gap_points": max(per.values(), default=0.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run (default 2)")
    parser.add_argument("--config", type=Path, default=REPO_DIR / "experiments.toml")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    parser.add_argument("--no-suite", action="store_true", help="skip timing the whole default suite")
    parser.add_argument("--no-stacking", action="store_true",
                        help="skip the suite with 3 repeats, stacked vs unstacked (the longest part on a CPU)")
    args = parser.parse_args(argv)

    device = resolve_device("auto", "bench")
    started = time.perf_counter()
    raw = load_raw(resolve_data_dir(None, REPO_DIR))
    data = prepare(raw, device)
    startup = time.perf_counter() - started
    base = TrainConfig(epochs=args.epochs)
    rows = []
    for batch_size in (16, 32, 64):
        cfg = dataclasses.replace(base, batch_size=batch_size)
        print(f"batch {batch_size}: assignment loop …", file=sys.stderr, flush=True)
        theirs = time_pipeline(dataclasses.replace(cfg, pipeline="dataloader"), data, device)
        print(f"batch {batch_size}: ours …", file=sys.stderr, flush=True)
        ours = time_pipeline(cfg, data, device)
        rows.append({"batch_size": batch_size, "assignment": theirs, "ours": ours,
                     "speedup": theirs["seconds_per_epoch"] / ours["seconds_per_epoch"],
                     "accuracy_gap_points": 100 * abs(theirs["final_accuracy"] - ours["final_accuracy"])})
    suite = None if args.no_suite else time_suite(args.config, repeats=1, stack=False)
    stacking = None
    if not args.no_suite and not args.no_stacking:
        print("default suite, 3 repeats, stacked …", file=sys.stderr, flush=True)
        stacked = time_suite(args.config, repeats=3, stack=True)
        print("default suite, 3 repeats, unstacked …", file=sys.stderr, flush=True)
        alone = time_suite(args.config, repeats=3, stack=False)
        stacking = {"stacked": stacked, "unstacked": alone, **accuracy_gaps(stacked, alone),
                    "stacked_vs_one_repeat_unstacked": stacked["wall_seconds"] / suite["wall_seconds"],
                    "unstacked_over_stacked": alone["wall_seconds"] / stacked["wall_seconds"]}

    name = provenance.device_name(device)
    report = {"device": name, "cpu_model": provenance.cpu_model(), "torch_version": torch.__version__,
              "cpu_threads": torch.get_num_threads(), "date": date.today().isoformat(), "epochs": args.epochs,
              "data_load_and_device_startup_seconds": startup, "pipelines": rows, "default_suite": suite,
              "stacking": stacking,
              "accuracies_agree": all(r["accuracy_gap_points"] <= ACCURACY_AGREEMENT_POINTS for r in rows)}
    slug = re.sub(r"[^a-z0-9]+", "-", (name if name != "CPU" else f"cpu-{provenance.cpu_model()}").lower()).strip("-")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{slug}-{report['date']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {stem}.md and .json", file=sys.stderr)
    return 0 if report["accuracies_agree"] else 1


def markdown(r: dict) -> str:
    lines = [f"# Training loop benchmark — {r['device']} ({r['date']})", "",
             f"CPU {r['cpu_model']} ({r['cpu_threads']} torch threads), torch {r['torch_version']}, "
             f"{r['epochs']} epoch(s) per run, Adam lr 0.001, seed 0, same batch order in both pipelines.",
             f"Data load + device start-up (once per process): {r['data_load_and_device_startup_seconds']:.1f} s.", "",
             "| batch | assignment loop s/epoch | ours s/epoch | speed-up | accuracy (assignment / ours) | CUDA graphs |",
             "|---|---|---|---|---|---|"]
    for row in r["pipelines"]:
        a, o = row["assignment"], row["ours"]
        lines.append(f"| {row['batch_size']} | {a['seconds_per_epoch']:.3f} | {o['seconds_per_epoch']:.3f} | "
                     f"{row['speedup']:.1f}× | {a['final_accuracy']:.4f} / {o['final_accuracy']:.4f} | "
                     f"{'yes' if o['cuda_graphs'] else 'no'} |")
    if r["default_suite"]:
        s = r["default_suite"]
        lines += ["", f"Whole default suite ({len(s['experiments'])} experiments, 1 repeat, a fresh process, "
                      f"start-up included): {s['wall_seconds']:.1f} s."]
    if r.get("stacking"):
        st = r["stacking"]
        lines += ["", "Default suite with 3 repeats (fresh process each):", "",
                  "| variant | wall s |", "|---|---|",
                  f"| 1 repeat, unstacked | {r['default_suite']['wall_seconds']:.1f} |",
                  f"| 3 repeats, stacked | {st['stacked']['wall_seconds']:.1f} |",
                  f"| 3 repeats, unstacked | {st['unstacked']['wall_seconds']:.1f} |", "",
                  f"3 repeats stacked ÷ 1 repeat unstacked: {st['stacked_vs_one_repeat_unstacked']:.2f}× "
                  f"(target ≤ 2× on a GPU); unstacked ÷ stacked: {st['unstacked_over_stacked']:.2f}×; "
                  f"largest final-accuracy gap between a stacked run and the same seed alone: "
                  f"{st['max_accuracy_gap_points']:.2f} points (target ≤ 0.5). Per experiment (largest over seeds; "
                  f"0.00 where the experiment trains alone in both):", "",
                  "| experiment | gap, points |", "|---|---|"]
        lines += [f"| {n} | {g:.2f} |" for n, g in st["accuracy_gap_points"].items()]
    lines += ["", f"Final accuracies agree within {ACCURACY_AGREEMENT_POINTS} points: "
                  f"{'yes' if r['accuracies_agree'] else 'NO'}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
