"""The fused Triton step against the written-out step on a GPU (issue 27), as benchmarks/gpu_check.sh runs it.

Both with CUDA graphs, batch 32, the default model, one process (Triton compiles during set-up, not in the
timed epochs): microseconds per step for one model alone (target ≤ 25) and seconds per epoch for a stack of
15 (all fifteen; target ≤ 0.1); GPU kernels per eager step as bench.py counts them, and exactly for the
fused step alone; and final test accuracy of seeds 0, 1, 2 after the default epochs, fused against
written-out (they must agree within bench.py's ACCURACY_AGREEMENT_POINTS).
Writes fused-bench.json and fused-bench.md into --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
from pathlib import Path

import torch

from benchmarks.bench import ACCURACY_AGREEMENT_POINTS, REPO_DIR, kernels_per_step
from report_builder.config import TrainConfig
from report_builder.training import fused
from report_builder.training.data import load_raw, prepare, resolve_data_dir
from report_builder.training.engine import StackedMLP, train_stack

STEPS_TIMED = 200


def switched(on: bool) -> None:
    os.environ[fused.ENV] = "1" if on else "0"


def timed_stack(cfg: TrainConfig, k: int, data, device: torch.device, on: bool) -> dict:
    """One stack of k models (seeds 0 … k−1): seconds per epoch for all k, µs per step, final accuracies."""
    switched(on)
    runs = train_stack([cfg] * k, list(range(k)), data, device)
    steps = math.ceil(data.train_x.shape[0] / cfg.batch_size)
    # train_seconds are per-model shares of the stack's epoch
    epoch = statistics.fmean(e.train_seconds for e in runs[0].epochs) * k
    return {"k": k, "fused": runs[0].fused, "fused_note": runs[0].fused_note, "cuda_graphs": runs[0].cuda_graphs,
            "cuda_graph_error": runs[0].cuda_graph_error, "seconds_per_epoch": epoch,
            "microseconds_per_step": 1e6 * epoch / steps, "setup_seconds": runs[0].setup_seconds * k,
            "final_accuracies": [r.epochs[-1].test_accuracy for r in runs]}


def fused_kernels_per_step(cfg: TrainConfig, data, device: torch.device) -> float | None:
    """Kernels the fused step alone launches per call, counted by torch's profiler over STEPS_TIMED calls."""
    from torch.profiler import ProfilerActivity, profile

    model = StackedMLP(cfg.hidden, [0], device)
    sums = [torch.zeros(1, device=device), *(torch.zeros(1, dtype=torch.float64, device=device) for _ in range(2))]
    step = fused.FusedStep(model.params, [cfg], data.train_x, data.train_y, cfg.batch_size, *sums, probes=False)
    index = torch.arange(cfg.batch_size, device=device).view(1, -1)
    step(index)  # compiles
    torch.cuda.synchronize(device)
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(STEPS_TIMED):
                step(index)
            torch.cuda.synchronize(device)
    except Exception as e:  # the profiler is a nicety here; its failure must not lose the timings
        print(f"  kernel count failed: {e}", file=sys.stderr)
        return None
    return sum(e.count for e in prof.key_averages() if e.device_type.name == "CUDA") / STEPS_TIMED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fused_bench")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the timed runs (default 2)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("the fused step runs on CUDA only: no GPU here")
    device = torch.device("cuda")
    data = prepare(load_raw(resolve_data_dir(None, REPO_DIR)), device)
    at32 = TrainConfig(batch_size=32, epochs=args.epochs, device="cuda")
    report: dict = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
                    "epochs_timed": args.epochs, "targets": {"alone_us_per_step": 25, "stack15_s_per_epoch": 0.1}}
    for label, k in (("alone", 1), ("stack of 15", 15)):
        for on in (False, True):
            key = f"{label}, {'fused' if on else 'written-out'}"
            print(f"{key} …", file=sys.stderr, flush=True)
            report[key] = timed_stack(at32, k, data, device, on)
            print(f"  {report[key]['seconds_per_epoch']:.3f} s/epoch, {report[key]['microseconds_per_step']:.1f} µs/step"
                  f" (fused: {report[key]['fused']}, {report[key]['fused_note']})", file=sys.stderr, flush=True)
    counts = {}
    for on in (False, True):
        switched(on)
        counts["fused" if on else "written-out"] = kernels_per_step(at32, data, device)
    counts["fused step alone, exact"] = fused_kernels_per_step(at32, data, device)
    report["kernels_per_step"] = counts
    print("accuracy, seeds 0-2, default epochs …", file=sys.stderr, flush=True)
    default = dataclasses.replace(at32, epochs=TrainConfig().epochs)
    finals = {}
    for on in (False, True):
        switched(on)
        finals["fused" if on else "written-out"] = [train_stack([default], [seed], data, device)[0].epochs[-1].test_accuracy
                                                   for seed in range(3)]
    gap = max(100 * abs(a - b) for a, b in zip(finals["fused"], finals["written-out"]))
    report["accuracy"] = {"final_accuracies": finals, "max_gap_points": gap,
                          "agree": gap <= ACCURACY_AGREEMENT_POINTS}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fused-bench.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "fused-bench.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if report["accuracy"]["agree"] else 1


def markdown(r: dict) -> str:
    lines = [f"# Fused Triton step — {r['device']} (torch {r['torch']})", "",
             f"Batch 32, CUDA graphs, {r['epochs_timed']} epoch(s) per timing.", "",
             "| set-up | s/epoch (all models) | µs/step | fused | note |", "|---|---|---|---|---|"]
    for key, v in r.items():
        if isinstance(v, dict) and "seconds_per_epoch" in v:
            lines.append(f"| {key} | {v['seconds_per_epoch']:.3f} | {v['microseconds_per_step']:.1f} | "
                         f"{v['fused']} | {v['fused_note'] or v['cuda_graph_error'] or ''} |")
    counts = ", ".join(f"{k} {v:.1f}" if v is not None else f"{k} n/a" for k, v in r["kernels_per_step"].items())
    a = r["accuracy"]
    lines += ["", f"Targets: alone ≤ {r['targets']['alone_us_per_step']} µs/step; a stack of 15 ≤ "
                  f"{r['targets']['stack15_s_per_epoch']} s/epoch.", f"GPU kernels per step: {counts}.",
              f"Final accuracy, seeds 0-2: written-out {a['final_accuracies']['written-out']}, fused "
              f"{a['final_accuracies']['fused']}; largest gap {a['max_gap_points']:.2f} points "
              f"({'agree' if a['agree'] else 'DISAGREE'}, limit {ACCURACY_AGREEMENT_POINTS}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
