"""`make bench`: the assignment's training loop against ours, engine by engine, on this machine.

1. Per batch size 16/32/64, one process, the same model, seed and batch order: the 2021 notebook's loop
   (`pipeline = "dataloader"`), the autograd engine, the explicit engine, and on a GPU each engine with
   and without CUDA graphs. Their accuracies must agree (same batches; rounding apart).
2. At batch 32, the bare written-out step (benchmarks/reference_step.py, no bookkeeping) that the
   explicit engine is measured against, and on a GPU the kernels each engine launches per step.
3. At batch 32, the network shapes the configuration allows (activation × depth, dropout, weight decay),
   each with both engines: what the written-out forward and backward cost against autograd's.
4. The default suite (its tensor-pipeline experiments), each variant as a fresh process, start-up
   included: 1 repeat alone; 3 repeats stacked; 3 repeats alone; 3 repeats with the autograd engine
   (how every run trained before the explicit engine); and each stacked run's final accuracy against
   the same seed alone.
5. The batch-size speed-ups as the report states them: the timing phase's interleaved rounds and the
   speed claims (benchmarks/timing_rounds_bench.py, the report's own modules), so that a benchmark ratio and
   a report ratio are computed one way.

Writes benchmarks/results/<device>-<date>.md and .json (or --out DIR).
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

from benchmarks.reference_step import time_reference_step
from benchmarks.timing_rounds_bench import DEFAULT_NAMES as ROUND_NAMES
from benchmarks.timing_rounds_bench import lines as rounds_lines
from benchmarks.timing_rounds_bench import measure as measure_rounds
from report_builder.config import TrainConfig, load_suite
from report_builder.execution import provenance
from report_builder.training.data import load_raw, prepare, resolve_data_dir
from report_builder.training.device import resolve_device
from report_builder.training.train import train

REPO_DIR = Path(__file__).resolve().parent.parent
ACCURACY_AGREEMENT_POINTS = 1.5


def variants(device: torch.device) -> dict[str, dict]:
    """The training set-ups compared per batch size: config overrides by name."""
    out = {"assignment loop": {"pipeline": "dataloader"},
           "autograd": {"engine": "autograd", "cuda_graphs": False},
           "explicit": {"cuda_graphs": False}}
    if device.type == "cuda":
        out["autograd + CUDA graph"] = {"engine": "autograd"}
        out["explicit + CUDA graph"] = {}
    return out


SHAPES = {"relu, 1 layer (the assignment)": {}, "leaky_relu, 1 layer": {"activation": "leaky_relu"},
          "tanh, 1 layer": {"activation": "tanh"}, "sigmoid, 1 layer": {"activation": "sigmoid"},
          "gelu, 1 layer": {"activation": "gelu"}, "relu, 3 layers": {"hidden": (128, 128, 128)},
          "tanh, 3 layers": {"activation": "tanh", "hidden": (128, 128, 128)},
          "relu, 1 layer, dropout 0.2": {"dropout": 0.2}, "relu, 1 layer, weight decay 1e-4": {"weight_decay": 1e-4}}
"""The network shapes timed at batch 32, as config overrides (hidden 128 unless named)."""


def time_shapes(base: TrainConfig, data, device) -> list[dict]:
    """Seconds per epoch of each shape with each engine (CUDA graphs where the device has them)."""
    rows = []
    for label, overrides in SHAPES.items():
        row = {"shape": label, "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}}
        for engine in ("autograd", "explicit"):
            print(f"shape {label}: {engine} …", file=sys.stderr, flush=True)
            row[engine] = time_run(dataclasses.replace(base, batch_size=32, engine=engine, **overrides), data, device)
            print(f"  {row[engine]['seconds_per_epoch']:.3f} s/epoch", file=sys.stderr, flush=True)
        row["autograd_over_explicit"] = row["autograd"]["seconds_per_epoch"] / row["explicit"]["seconds_per_epoch"]
        row["accuracy_gap_points"] = 100 * abs(row["autograd"]["final_accuracy"] - row["explicit"]["final_accuracy"])
        rows.append(row)
    return rows


def time_run(cfg: TrainConfig, data, device) -> dict:
    (run,) = train([cfg], [0], data, device)
    return {"seconds_per_epoch": statistics.fmean(e.train_seconds for e in run.epochs),
            "epoch_seconds": [e.train_seconds for e in run.epochs],
            "setup_seconds": run.setup_seconds, "cuda_graphs": run.cuda_graphs,
            "cuda_graph_error": run.cuda_graph_error, "engine": run.engine,
            "final_accuracy": run.epochs[-1].test_accuracy, "final_test_loss": run.epochs[-1].test_loss}


def kernels_per_step(cfg: TrainConfig, data, device) -> float | None:
    """GPU kernels one eager step launches (what a CUDA graph replays), counted by torch's profiler."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    small = dataclasses.replace(cfg, epochs=1, max_train=cfg.batch_size * 20, cuda_graphs=False)
    subset = prepare(data.raw, device, max_train=small.max_train, max_test=1000)
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            train([small], [0], subset, device)
        kernels = sum(e.count for e in prof.key_averages() if e.device_type.name == "CUDA")
    except Exception as e:  # the profiler is a nicety here; its failure must not lose the timings
        print(f"  kernel count failed: {e}", file=sys.stderr)
        return None
    # 20 training steps; the warm-up (3 steps) and one evaluation of 1 chunk are counted too
    return kernels / 23


def time_suite(config: Path, overrides: dict, names: list[str]) -> dict:
    """`names` of the default suite with [defaults] overridden, as one fresh process, start-up included."""
    with tempfile.TemporaryDirectory() as results:
        variant = Path(results) / "experiments.toml"
        # The variant lives in a temporary folder: without [reference] (whose CSV path is relative to the
        # real file, and which training does not use).
        text = re.sub(r"(?ms)^\[reference\].*?(?=^\[|\Z)", "", config.read_text())
        for key in overrides:
            text = re.sub(rf"(?m)^{key}\s*=.*$", "", text)
        lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in overrides.items())
        variant.write_text(re.sub(r"(?m)^\[defaults\]\s*$", f"[defaults]\n{lines}", text, count=1))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "report_builder", "run", *names, "--config", str(variant),
                               "--results-dir", results, "--no-progress"],
                              cwd=REPO_DIR, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the suite run failed:\n{done.stderr}")
        finals, stacked = {}, {}
        for name in names:
            result = json.loads((Path(results) / f"{name}.json").read_text())
            finals[name] = [r["epochs"][-1]["test_accuracy"] for r in result["runs"] if r["epochs"]]
            stacked[name] = max(r.get("stacked_with", 1) for r in result["runs"])
    return {"overrides": overrides, "wall_seconds": wall, "final_accuracies": finals, "stacked_with": stacked}


def accuracy_gaps(stacked: dict, alone: dict) -> dict:
    """Per experiment, the largest |final accuracy stacked − alone| over seeds, in points."""
    per = {n: max((100 * abs(a - b) for a, b in zip(stacked["final_accuracies"][n], alone["final_accuracies"][n])
                   if a is not None and b is not None), default=0.0)
           for n in stacked["final_accuracies"]}
    return {"accuracy_gap_points": per, "max_accuracy_gap_points": max(per.values(), default=0.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run (default 2)")
    parser.add_argument("--config", type=Path, default=REPO_DIR / "experiments.toml")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    parser.add_argument("--no-suite", action="store_true", help="skip the default-suite timings")
    parser.add_argument("--max-train", type=int, default=None,
                        help="train on the first N examples only (a quick, rougher measurement on a busy machine)")
    parser.add_argument("--shapes-only", action="store_true",
                        help="time only the network shapes (activation × depth, dropout, weight decay) at batch 32")
    parser.add_argument("--no-rounds", action="store_true",
                        help="skip the speed-ups over interleaved timing rounds (the report's timing phase)")
    parser.add_argument("--no-autograd-suite", action="store_true",
                        help="skip the suite with the autograd engine (the longest part on a CPU)")
    args = parser.parse_args(argv)

    device = resolve_device("auto", "bench")
    started = time.perf_counter()
    raw = load_raw(resolve_data_dir(None, REPO_DIR))
    data = prepare(raw, device, max_train=args.max_train)
    startup = time.perf_counter() - started
    base = TrainConfig(epochs=args.epochs, repeats=1)
    shapes = time_shapes(base, data, device)
    if args.shapes_only:
        report = {"device": provenance.device_name(device), "cpu_model": provenance.cpu_model(),
                  "torch_version": torch.__version__, "cpu_threads": torch.get_num_threads(),
                  "date": date.today().isoformat(), "epochs": args.epochs, "max_train": args.max_train,
                  "shapes": shapes}
        return _write(report, args.out, "-shapes", shapes_markdown(report))
    rows = []
    for batch_size in (16, 32, 64):
        row = {"batch_size": batch_size, "variants": {}}
        for label, overrides in variants(device).items():
            print(f"batch {batch_size}: {label} …", file=sys.stderr, flush=True)
            row["variants"][label] = measured = time_run(dataclasses.replace(base, batch_size=batch_size, **overrides),
                                                         data, device)
            print(f"  {measured['seconds_per_epoch']:.3f} s/epoch, accuracy {measured['final_accuracy']:.4f}"
                  + (f", graph failed: {measured['cuda_graph_error']}" if measured["cuda_graph_error"] else ""),
                  file=sys.stderr, flush=True)
        assignment = row["variants"]["assignment loop"]
        for v in row["variants"].values():
            v["speedup_vs_assignment"] = assignment["seconds_per_epoch"] / v["seconds_per_epoch"]
            v["accuracy_gap_points"] = 100 * abs(v["final_accuracy"] - assignment["final_accuracy"])
        rows.append(row)
    at32 = dataclasses.replace(base, batch_size=32)
    reference = time_reference_step(data, 32, device, epochs=args.epochs)
    engine_32 = next(r for r in rows if r["batch_size"] == 32)["variants"]
    fastest_explicit = min(v["seconds_per_epoch"] for k, v in engine_32.items() if k.startswith("explicit"))
    steps = {"reference_step_seconds_per_epoch": reference,
             "explicit_over_reference": fastest_explicit / reference,
             "kernels_per_step": {"autograd": kernels_per_step(dataclasses.replace(at32, engine="autograd"), data,
                                                                 device),
                                  "explicit": kernels_per_step(at32, data, device)}}

    suites = None
    if not args.no_suite:
        suite = load_suite(args.config)
        names = [n for n, e in suite.experiments.items() if e.config.pipeline == "tensor"]
        plan = {"1 repeat, alone": {"repeats": 1, "stack": False},
                "3 repeats, stacked": {"repeats": 3, "stack": True},
                "3 repeats, alone": {"repeats": 3, "stack": False}}
        if not args.no_autograd_suite:
            plan["3 repeats, autograd engine (before the explicit engine)"] = {"repeats": 3, "engine": "autograd"}
        timed = {}
        for label, overrides in plan.items():
            print(f"default suite, {label} …", file=sys.stderr, flush=True)
            timed[label] = time_suite(args.config, overrides, names)
            print(f"  {timed[label]['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
        suites = {"experiments": names, "variants": timed,
                  **accuracy_gaps(timed["3 repeats, stacked"], timed["3 repeats, alone"]),
                  "stacked3_over_alone1": timed["3 repeats, stacked"]["wall_seconds"]
                  / timed["1 repeat, alone"]["wall_seconds"]}

    rounds = None
    if not args.no_rounds:
        print("timing rounds (the report's timing phase) …", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as results:
            rounds = measure_rounds(args.config, list(ROUND_NAMES), Path(results))
    report = {"device": provenance.device_name(device), "cpu_model": provenance.cpu_model(), "torch_version": torch.__version__,
              "cpu_threads": torch.get_num_threads(), "date": date.today().isoformat(), "epochs": args.epochs,
              "data_load_and_device_startup_seconds": startup, "pipelines": rows, "steps": steps,
              "shapes": shapes, "suites": suites, "rounds": rounds,
              "accuracies_agree": all(v["accuracy_gap_points"] <= ACCURACY_AGREEMENT_POINTS
                                      for r in rows for v in r["variants"].values())}
    return _write(report, args.out, "", markdown(report)) or (0 if report["accuracies_agree"] else 1)


def _write(report: dict, out: Path, suffix: str, text: str) -> int:
    name = report["device"]
    slug = re.sub(r"[^a-z0-9]+", "-", (name if name != "CPU" else f"cpu-{provenance.cpu_model()}").lower()).strip("-")
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{slug}-{report['date']}{suffix}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {stem}.md and .json", file=sys.stderr)
    return 0


def shapes_table(shapes: list[dict]) -> list[str]:
    lines = ["Seconds per training epoch at batch 32 by network shape (hidden 128 per layer), each engine:", "",
             "| shape | autograd s/epoch | explicit s/epoch | autograd ÷ explicit | accuracy gap, points |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['shape']} | {r['autograd']['seconds_per_epoch']:.3f} | {r['explicit']['seconds_per_epoch']:.3f} | "
              f"{r['autograd_over_explicit']:.2f}× | {r['accuracy_gap_points']:.2f} |" for r in shapes]
    return lines


def shapes_markdown(r: dict) -> str:
    return "\n".join([f"# Network shapes benchmark — {r['device']} ({r['date']})", "",
                      f"CPU {r['cpu_model']} ({r['cpu_threads']} torch threads), torch {r['torch_version']}, "
                      f"{r['epochs']} epoch(s) per run, Adam lr 0.001, seed 0"
                      + (f", the first {r['max_train']:,} training examples" if r.get("max_train") else "") + ".", "",
                      *shapes_table(r["shapes"]), ""])


def markdown(r: dict) -> str:
    labels = list(r["pipelines"][0]["variants"])
    lines = [f"# Training loop benchmark — {r['device']} ({r['date']})", "",
             f"CPU {r['cpu_model']} ({r['cpu_threads']} torch threads), torch {r['torch_version']}, "
             f"{r['epochs']} epoch(s) per run, Adam lr 0.001, seed 0, the same batch order in every variant.",
             f"Data load + device start-up (once per process): {r['data_load_and_device_startup_seconds']:.1f} s.", "",
             "Seconds per training epoch (speed-up against the assignment loop):", "",
             "| batch | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for row in r["pipelines"]:
        cells = [f"{v['seconds_per_epoch']:.3f} ({v['speedup_vs_assignment']:.1f}×)" for v in row["variants"].values()]
        lines.append(f"| {row['batch_size']} | " + " | ".join(cells) + " |")
    lines += ["", "Final test accuracy of the same runs:", "",
              "| batch | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for row in r["pipelines"]:
        lines.append(f"| {row['batch_size']} | " + " | ".join(f"{v['final_accuracy']:.4f}"
                                                            for v in row["variants"].values()) + " |")
    failed = {(row["batch_size"], k): v["cuda_graph_error"] for row in r["pipelines"]
              for k, v in row["variants"].items() if v.get("cuda_graph_error")}
    if failed:
        lines += ["", "CUDA graph capture failed (these ran eagerly): "
                  + "; ".join(f"batch {b} {k}: {e}" for (b, k), e in failed.items())]
    s = r["steps"]
    if r.get("shapes"):
        lines += ["", *shapes_table(r["shapes"])]
    lines += ["", f"Bare written-out step (benchmarks/reference_step.py) at batch 32: "
                  f"{s['reference_step_seconds_per_epoch']:.3f} s/epoch; the explicit engine takes "
                  f"{s['explicit_over_reference']:.2f}× that (target ≤ 1.3×)."]
    if None not in s["kernels_per_step"].values():
        k = s["kernels_per_step"]
        lines.append(f"GPU kernels per eager step (what a CUDA graph replays): autograd {k['autograd']:.0f}, "
                     f"explicit {k['explicit']:.0f}.")
    if r.get("suites"):
        su = r["suites"]
        lines += ["", f"Default suite ({len(su['experiments'])} tensor-pipeline experiments: "
                      f"{', '.join(su['experiments'])}), each variant a fresh process, start-up included:", "",
                  "| variant | wall s |", "|---|---|"]
        lines += [f"| {label} | {v['wall_seconds']:.1f} |" for label, v in su["variants"].items()]
        lines += ["", f"3 repeats stacked ÷ 1 repeat alone: {su['stacked3_over_alone1']:.2f}× (target ≤ 2× on a "
                      f"GPU). Largest final-accuracy gap between a stacked run and the same seed alone: "
                      f"{su['max_accuracy_gap_points']:.2f} points. Per experiment (largest over seeds; 0.00 where "
                      f"the experiment trains alone in both, as timing-group members do):", "",
                  "| experiment | stacked with | gap, points |", "|---|---|---|"]
        stacked = su["variants"]["3 repeats, stacked"]["stacked_with"]
        lines += [f"| {n} | {stacked[n]} | {g:.2f} |" for n, g in su["accuracy_gap_points"].items()]
    if r.get("rounds"):
        lines += ["", "Speed-ups as the report states them (interleaved timing rounds):", "", *rounds_lines(r["rounds"])]
    lines += ["", f"Final accuracies of every variant agree with the assignment loop's within "
                  f"{ACCURACY_AGREEMENT_POINTS} points: {'yes' if r['accuracies_agree'] else 'NO'}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
