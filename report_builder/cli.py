"""Command line: a thin layer over the library; the one place errors become messages and exit statuses."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import warnings
from pathlib import Path

from report_builder.config import EXECUTORS
from report_builder.errors import Interrupted, ReportBuilderError, ReportBuilderWarning, ResultsError, SetupError

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, the status of a program the pipe's reader left (`ls | head`)."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=Path("experiments.toml"),
                        help="experiments file (default: experiments.toml)")
    common.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="where results files are kept (default: results/)")
    common.add_argument("--build-dir", type=Path, default=Path("build"),
                        help="where the report is written (default: build/)")
    common.add_argument("--no-progress", action="store_true", help="no progress bars, even on a terminal")
    common.add_argument("--templates", type=Path, default=None,
                        help="templates directory (default: ./templates, else the shipped ones)")
    common.add_argument("--no-pdf", action="store_true", help="write only the HTML (no WeasyPrint needed)")

    # The options of the commands that train (run, report); the executors are the schema's list.
    training = argparse.ArgumentParser(add_help=False)
    training.add_argument("--force", action="store_true", help="re-run even when cached results are current")
    training.add_argument("--executor", choices=EXECUTORS, default=None,
                          help="where to run (default: [executor] kind in the experiments file, else local)")
    training.add_argument("--no-stack", action="store_true", help="train every run alone (no stacking of models)")

    parser = argparse.ArgumentParser(prog="python -m report_builder",
                                     description="Run declared experiments and render their writeup.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", parents=[common, training],
                              help="train experiments whose results are missing or stale")
    run.add_argument("names", nargs="*", metavar="NAME", help="experiments to run (default: all)")
    commands.add_parser("list", parents=[common], help="list the declared experiments and their results")
    render = commands.add_parser("render", parents=[common],
                                 help="render HTML and PDF from existing results (no training)")
    render.add_argument("--partial", action="store_true",
                        help="render what exists, listing missing or out-of-date experiments in the report")
    preview = commands.add_parser("preview", parents=[common],
                                  help="serve the HTML and re-render on every save; the open page reloads itself")
    preview.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000; 0: any free port)")
    preview.add_argument("--host", default="127.0.0.1",
                         help="address to bind (default 127.0.0.1: this machine only)")
    report = commands.add_parser("report", parents=[common, training],
                                 help="run all experiments, time the timing groups' steps, then render")
    report.add_argument("--no-timing", action="store_true",
                        help="skip the timing phase (speed claims then come from the rounds already stored, if any)")
    commands.add_parser("time", parents=[common],
                        help="time the training step of every timing group's experiment in interleaved rounds "
                             "(results/timing/rounds.json) and print the speed claims")
    for command in (render, report):
        command.add_argument("--compare", type=Path, default=None, metavar="DIR",
                             help="say what changed against the results in DIR (e.g. another branch's results/)")
    plan = commands.add_parser("plan", parents=[common, training],
                               help="say what run would train, in what order, about how long, and what its seeds "
                                    "can detect; trains nothing")
    plan.add_argument("names", nargs="*", metavar="NAME", help="experiments to plan (default: all)")
    return parser


def _progress(args):
    from report_builder.progress import Progress

    return Progress(bars=False) if args.no_progress else Progress()


def cmd_run(args) -> int:
    from report_builder.config import load_suite
    from report_builder.execution.runner import run_suite

    suite = load_suite(args.config)
    outcomes = run_suite(suite, args.names, args.results_dir, force=args.force, progress=_progress(args),
                         executor_kind=args.executor, stack=not args.no_stack)
    failed = [o.name for o in outcomes if o.status == "failed"]
    if failed:
        print(f"{len(failed)} experiment(s) failed: {', '.join(failed)}; their error text is in "
              f"{args.results_dir}/NAME.json", file=sys.stderr)
        return 1
    return 0


def cmd_list(args) -> int:
    from report_builder.config import load_suite
    from report_builder.results.status import describe

    suite = load_suite(args.config)
    for line in describe(suite, args.results_dir):
        print(line)
    return 0


def cmd_render(args) -> int:
    from report_builder.config import load_suite
    from report_builder.report.render import render_report

    suite = load_suite(args.config)
    written = render_report(suite, args.results_dir, args.build_dir, args.templates, pdf=not args.no_pdf,
                            partial=getattr(args, "partial", False), compare_dir=args.compare)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    """Run everything, time the timing groups, then render; failed experiments still appear in the report,
    marked as failed."""
    import time

    started = time.perf_counter()
    args.names = []
    status = cmd_run(args)
    phase = 0.0
    if not args.no_timing:
        from report_builder.config import load_suite
        from report_builder.execution.timing_rounds import run_timing

        began = time.perf_counter()
        run_timing(load_suite(args.config), args.results_dir, _progress(args), force=args.force)
        phase = time.perf_counter() - began
    cmd_render(args)
    total = time.perf_counter() - started
    if phase >= 0.5:
        print(f"timing phase: {phase:.0f} s of {total:.0f} s ({100 * phase / total:.0f}%)", file=sys.stderr)
    return status


def cmd_time(args) -> int:
    """Time the rounds now (whatever is stored), then print each speed claim as claims.json states it."""
    from report_builder.config import load_suite
    from report_builder.execution.timing_rounds import run_timing
    from report_builder.findings.speed import speed_claims
    from report_builder.results.timing_file import read_rounds

    suite = load_suite(args.config)
    if run_timing(suite, args.results_dir, _progress(args), always=True) is None:
        print("nothing to time: no group declares timing = true", file=sys.stderr)
        return 0
    for c in speed_claims(suite, read_rounds(args.results_dir)):
        if c.withheld:
            print(f"{c.id}: withheld ({c.reason})"
                  + (f"; all {c.rounds_run} rounds: {c.all_rounds.estimate:.3f}× [{c.all_rounds.low:.3f}, "
                     f"{c.all_rounds.high:.3f}]" if c.all_rounds and c.all_rounds.low is not None else ""))
        else:
            low, high = c.interval or (float("nan"), float("nan"))
            print(f"{c.id}: {c.ratio:.3f}× [{low:.3f}, {high:.3f}] over {c.rounds} of {c.rounds_run} rounds"
                  + (f"; CPU time {c.cpu_ratio:.3f}×" if c.cpu_ratio else ""))
    return 0


def cmd_plan(args) -> int:
    from report_builder.config import checked_replace, load_suite
    from report_builder.execution.forecast import describe, forecast

    suite = load_suite(args.config)
    # Not runner.with_kind: the runner imports torch, which a plan of cached results must not need.
    executor = (checked_replace(suite.executor, "--executor: [executor]", kind=args.executor) if args.executor
                else suite.executor)
    plan = forecast(suite, args.names, args.results_dir, executor, stack=not args.no_stack, force=args.force)
    for line in describe(plan):
        print(line)
    return 0


def cmd_preview(args) -> int:
    from report_builder.report.preview import serve
    from report_builder.report.render import default_templates_dir

    return serve(args.config, args.results_dir, args.build_dir, args.templates or default_templates_dir(), args.host,
                 args.port)


COMMANDS = {"run": cmd_run, "list": cmd_list, "render": cmd_render, "report": cmd_report, "preview": cmd_preview,
            "plan": cmd_plan, "time": cmd_time}

# The packages each command imports (by import name), checked before it starts, so that a Python without
# them (`PYTHON=python3 make report` on a bare machine) gets one line saying what to install.
NEEDS = {"run": ("torch", "pandas", "tqdm"), "report": ("torch", "pandas", "tqdm", "jinja2", "matplotlib"),
         "render": ("jinja2", "matplotlib"), "list": (), "plan": ("scipy",), "time": ("torch", "scipy"), "preview": ("jinja2", "matplotlib", "watchfiles")}
PIP_NAMES = {"torch": "torch torchvision"}


def check_packages(command: str) -> None:
    import importlib.util

    missing = [name for name in NEEDS.get(command, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise SetupError(f"this Python ({sys.executable}) lacks {', '.join(missing)}, which `{command}` needs: "
                         f"install {'it' if len(missing) == 1 else 'them'} (python -m pip install "
                         f"{' '.join(PIP_NAMES.get(m, m) for m in missing)}), or run make without PYTHON= to get a "
                         f".venv with everything")


def check_results_dir(results_dir: Path) -> None:
    """A file where the results folder should be is one error, not one "damaged results file" per experiment."""
    if results_dir.exists() and not results_dir.is_dir():
        raise ResultsError(f"--results-dir {results_dir}: not a folder (it is a file)")


def _terminate(signum, frame):
    raise Interrupted()


@contextlib.contextmanager
def _warnings_as_lines():
    """Our warnings printed as one line each ("warning: …"); anyone else's as Python prints them."""
    with warnings.catch_warnings():
        # Every one of ours says something new (fonts.py already names each missing character once).
        warnings.simplefilter("always", ReportBuilderWarning)
        python_default = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ReportBuilderWarning):
                print(f"warning: {message}", file=sys.stderr)
            else:
                python_default(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            # Output to a pipe is buffered: flush here (after --help too), so that a reader that has gone
            # shows up below and not as Python's "Exception ignored" at exit.
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`plan | head -1`): stop quietly, as `ls | head` does. Python would report
        # the pipe again when it flushes at exit, so both streams now go nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    # GPU i means the same GPU here, in local-gpus workers and in nvidia-smi (CUDA's default order differs).
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with _warnings_as_lines():
            check_packages(args.command)
            check_results_dir(args.results_dir)
            if getattr(args, "compare", None) is not None:
                from report_builder.findings.changes import check_snapshot_dir

                check_snapshot_dir(args.compare)
            return COMMANDS[args.command](args)
    except ReportBuilderError as e:
        first, *rest = e.lines()
        print(f"error: {first}", *rest, sep="\n", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt as e:
        print("interrupted: finished experiments and repeats are saved; run the same command again to finish "
              "the rest", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(e, Interrupted) else EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
