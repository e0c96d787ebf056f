"""Config → training runs → results on disk, re-running only what is missing or out of date.

run_suite is the one entry: it plans (plan.py), groups the repeats to run into tasks (tasks.py) and hands
them to an executor (local.py, local_gpus.py, slurm.py), which runs each task (execute.py → training) and
writes its repeat file (repeats.py); as repeats arrive, the driver merges them into results/NAME.json and
finally rebuilds summary.csv (results/store.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from report_builder.config import ExecutorConfig, Experiment, Suite, checked_replace
from report_builder.errors import DataError
from report_builder.execution.local import Executor, LocalExecutor
from report_builder.execution.lock import results_lock
from report_builder.execution.plan import Plan, plan_experiment, planned_device_kind
from report_builder.execution.repeats import clear_repeats, merge
from report_builder.execution.tasks import RepeatTask, Task, build_tasks
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.results.identity import identity_of, timed_experiments
from report_builder.training import fused
from report_builder.training.data import resolve_data_dir, shared_cache


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    """"cached", "done", "diverged" or "failed"."""
    message: str


def _final_accuracy(runs: list[dict]) -> str:
    values = [r["epochs"][-1]["test_accuracy"] for r in runs if r["epochs"] and r["diverged_at"] is None]
    if not values:
        return "no finite result"
    return f"final test accuracy {sum(values) / len(values):.3f}" + (f" (mean of {len(values)})" if len(values) > 1 else "")


def _outcome(name: str, result: dict, trained: bool = True) -> Outcome:
    """The line that ends an experiment; `trained`: whether this command trained any of its runs (a result
    rebuilt from kept runs took no time now, so it gets no "done in … s")."""
    if result["status"] == "failed":
        return Outcome(name, "failed", f"{name}: FAILED: {result['error']}")
    runs = result["runs"]
    seconds = result["provenance"]["wall_seconds"]
    diverged = [r for r in runs if r["diverged_at"] is not None]
    if diverged:
        return Outcome(name, "diverged", f"{name}: diverged (loss not finite) at epoch "
                       f"{diverged[0]['diverged_at']} of seed {diverged[0]['seed']}, after {seconds:.1f} s")
    if not trained:
        return Outcome(name, "done", f"{name}: done, nothing trained, {_final_accuracy(runs)}")
    return Outcome(name, "done", f"{name}: done in {seconds:.1f} s, {_final_accuracy(runs)}")


def run_suite(suite: Suite, names: list[str], results_dir: Path, force: bool = False,
              progress: Progress | None = None, executor_kind: str | None = None,
              stack: bool = True) -> list[Outcome]:
    """Bring the results of the named experiments (all when none) up to date."""
    progress = progress or Progress()
    selected = suite.select(names)
    executor_config = with_kind(suite.executor, executor_kind)
    # Settle every device before training anything, so a bad setting stops the run at once.
    kinds = {exp.name: planned_device_kind(exp.config.device, executor_config,
                                           f"{suite.path.name}: {suite.declared_in(exp.name)}") for exp in selected}
    fused.setting()  # a bad REPORT_BUILDER_FUSED stops the run here, not at its first epoch
    # Likewise the executor: no Slurm controller is one line before any data is read.
    executor = make_executor(executor_config, progress, results_dir)
    # And every dataset, before the results folder is touched (no lock, no summary.csv for a run that
    # cannot start).
    check_datasets(suite, selected)
    with results_lock(results_dir, progress.say):
        store.remove_leftovers(results_dir)
        try:
            outcomes = _run_locked(suite, selected, results_dir, force, progress, executor, stack, kinds)
        finally:
            # Also after Ctrl-C: summary.csv then holds what the results files hold, neither more nor less.
            store.write_summary(results_dir, list(suite.experiments))
    return [outcomes[exp.name] for exp in selected if exp.name in outcomes]


def _run_locked(suite: Suite, selected: list[Experiment], results_dir: Path, force: bool, progress: Progress,
                executor: Executor, stack: bool, kinds: dict[str, str]) -> dict[str, Outcome]:
    repo_dir = suite.path.resolve().parent
    data = shared_cache(repo_dir)
    outcomes: dict[str, Outcome] = {}
    plans: dict[str, Plan] = {}
    timed = timed_experiments(suite)
    for exp in selected:
        fingerprint = data.raw(exp.config).fingerprint  # read by check_datasets already
        identity = identity_of(exp.config, fingerprint, kinds[exp.name])
        plan = plan_experiment(exp, identity, results_dir, force, progress, timed=exp.name in timed)
        if plan is None:
            outcomes[exp.name] = Outcome(exp.name, "cached", f"{exp.name}: cached")
            continue
        if not plan.pending:  # nothing to train (kept runs, repeats finished before an interruption)
            progress.say(plan.announce)
            outcomes[exp.name] = _finish(plan, suite, results_dir, progress, trained=False)
        else:
            plans[exp.name] = plan

    announced: set[str] = set()

    def on_start(task: Task) -> None:
        """An experiment's line says why it runs when its first task starts, not while the plan is made."""
        for member in task.members:
            if member.experiment.name not in announced:
                announced.add(member.experiment.name)
                progress.say(plans[member.experiment.name].announce)

    def on_done(task: RepeatTask, doc: dict) -> None:
        on_start(task)  # a task that failed without starting (its worker or job gone) is announced too
        plan = plans[task.experiment.name]
        plan.docs.append(doc)
        wanted = plan.experiment.config.repeats
        # An unfinished result is published only where no complete one would be replaced by it: an
        # interrupted re-run leaves the complete result as it was (the new repeats wait in their files).
        if len(plan.docs) < wanted and not plan.replaces_complete:
            store.write_result(results_dir, merge(plan.header, plan.docs, wanted))
        if wanted > 1:
            progress.say(f"{task.experiment.name}: repeat {len(plan.docs)} of {wanted} {doc['status']} "
                         f"(seed {plan.experiment.config.seed + task.repeat})")
        if len(plan.docs) == wanted:
            outcomes[task.experiment.name] = _finish(plan, suite, results_dir, progress)

    tasks = build_tasks(list(plans.values()), suite, results_dir, repo_dir, stack, kinds)
    if tasks:
        executor.run(tasks, on_done, on_start)
    return outcomes


def check_datasets(suite: Suite, selected: list[Experiment]) -> None:
    """Read (or download) every dataset the selected experiments train on; the ones that cannot be read
    are one DataError, each naming where the file asks for it."""
    data = shared_cache(suite.path.resolve().parent)
    needs: dict[tuple[Path, str], list[Experiment]] = {}
    for exp in selected:
        needs.setdefault((resolve_data_dir(exp.config.data_dir, data.base_dir), exp.config.dataset), []).append(exp)
    problems = []
    for (_, dataset), exps in needs.items():
        try:
            data.raw(exps[0].config)
        except DataError as e:
            tables = [suite.declared_in(exp.name) for exp in exps]
            more = f" and {len(tables) - 3} more" if len(tables) > 3 else ""
            problems.append(f"{e} (dataset = {dataset!r} of {', '.join(tables[:3])}{more} in {suite.path.name})")
    if len(problems) == 1:
        raise DataError(problems[0])
    if problems:
        raise DataError(f"{len(problems)} datasets cannot be read; nothing was trained", problems)


def _finish(plan: Plan, suite: Suite, results_dir: Path, progress: Progress, trained: bool = True) -> Outcome:
    """Merge an experiment's repeats into its results file; its repeat files are then no longer needed."""
    result = merge(plan.header, plan.docs, plan.experiment.config.repeats)
    store.write_result(results_dir, result)
    # At once, not only at the end: a run killed later still leaves summary.csv agreeing with the results.
    store.write_summary(results_dir, list(suite.experiments))
    clear_repeats(results_dir, plan.experiment.name)
    outcome = _outcome(plan.experiment.name, result, trained)
    progress.say(outcome.message)
    return outcome


def make_executor(config: ExecutorConfig, progress: Progress, results_dir: Path) -> Executor:
    if config.kind == "local":
        return LocalExecutor(progress)
    if config.kind == "local-gpus":
        from report_builder.execution.local_gpus import LocalGpusExecutor

        return LocalGpusExecutor(config, progress)
    from report_builder.execution.slurm import SlurmExecutor

    return SlurmExecutor(config, progress, results_dir)


def with_kind(config: ExecutorConfig, kind: str | None) -> ExecutorConfig:
    """The executor settings with `kind` from the command line, if given."""
    if kind is None:
        return config
    return checked_replace(config, "--executor: [executor]", kind=kind)
