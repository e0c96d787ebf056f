"""The slurm executor: tasks packed into jobs, submitted as one job array through submitit.

A job trains its tasks one after another in one process, so the interpreter, torch, CUDA and the data
load are paid once per job, not once per repeat (plan_jobs decides the packing). Every task writes its
own repeat file as it finishes: a job killed halfway keeps its finished runs, and the driver fails only
the rest. Job ids are kept in results/.slurm/jobs.json, so a restarted driver re-attaches to jobs that
are still queued or running instead of submitting them again; finished repeats are never resubmitted
because their repeat files exist. Job logs are in results/.slurm/logs/JOBID/.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import shutil
import subprocess
import time
import traceback
from collections import Counter
from pathlib import Path

from report_builder import paths
from report_builder.config import ExecutorConfig
from report_builder.errors import ConfigError
from report_builder.execution.local import OnDone, OnStart, failed_doc, no_start
from report_builder.execution.plan import planned_device_kind
from report_builder.execution.execute import execute_task
from report_builder.execution.repeats import read_repeat
from report_builder.execution.tasks import Task
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.results.identity import code_version, run_settings

LOG_TAIL_LINES = 12
_ALIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "UNKNOWN"}


def task_key(task: Task, executor: ExecutorConfig) -> str:
    """What a submitted job computes: each member's deciding settings (results/identity.py) and seed, and
    the training code; a job is re-attached only if this is unchanged."""
    members = []
    for m in task.members:
        cfg = m.experiment.config
        kind = planned_device_kind(cfg.device, executor, f"[experiments.{m.experiment.name}]")
        members.append([run_settings(cfg.identity(), kind), cfg.seed + m.repeat])
    text = json.dumps(members + [code_version()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def controller_check(partition: str | None = None) -> int | None:
    """Idle CPUs of the partition, as the controller reports them (None when it does not say); a ConfigError
    in one line when there is no Slurm here or no controller answers."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise ConfigError("[executor] kind = \"slurm\", but there is no Slurm here (sbatch not found on PATH)")
    command = ["sinfo", "-h", "-o", "%C"] + (["-p", partition] if partition else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"[executor] kind = \"slurm\", but the Slurm controller does not answer ({e})") from e
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["sinfo failed"])[-1]
        raise ConfigError(f"[executor] kind = \"slurm\", but the Slurm controller does not answer ({why})")
    idle = 0
    for line in done.stdout.split():
        try:  # allocated/idle/other/total
            idle += int(line.split("/")[1])
        except (IndexError, ValueError):
            return None
    return idle


def plan_jobs(tasks: list[Task], config: ExecutorConfig, idle_cpus: int | None) -> list[list[Task]]:
    """Tasks packed into jobs, in order. `tasks_per_job = N` puts N in each; "auto" makes as many jobs as
    the partition can run at once now (idle CPUs ÷ cpus_per_job, at most array_parallelism), so that
    start-up is paid once per job while the free room is used; unknown room: one job per task."""
    if not tasks:
        return []
    if config.tasks_per_job == "auto":
        if idle_cpus is None:
            per_job = 1
        else:
            slots = max(1, min(config.array_parallelism, idle_cpus // config.cpus_per_job))
            per_job = math.ceil(len(tasks) / slots)
    else:
        per_job = int(config.tasks_per_job)
    return [tasks[i:i + per_job] for i in range(0, len(tasks), per_job)]


def execute_job(tasks: list[Task]) -> list[list[dict]]:
    """What a Slurm job runs: its tasks one after another, one answer (a document per member) each. A task
    that fails outside training fails alone; the job goes on with the next."""
    answers = []
    for task in tasks:
        try:
            answers.append(execute_task(task))
        except Exception as e:
            error = "".join(traceback.format_exception_only(e)).strip()
            answers.append([failed_doc(m, f"{error} (on {platform.node()})") for m in task.members])
    return answers


def sbatch_parameters(config: ExecutorConfig) -> dict:
    """submitit parameters from the [executor] table."""
    params = {"timeout_min": config.time_limit_min, "cpus_per_task": config.cpus_per_job, "mem_gb": config.mem_gb,
              "name": "report_builder", "slurm_array_parallelism": config.array_parallelism}
    if config.gpus_per_job:
        params["gpus_per_node"] = config.gpus_per_job
    if config.partition:
        params["slurm_partition"] = config.partition
    if config.account:
        params["slurm_account"] = config.account
    if config.sbatch:
        params["slurm_additional_parameters"] = {k: v for k, v in config.sbatch.items()}
    return params


class SlurmExecutor:
    def __init__(self, config: ExecutorConfig, progress: Progress, results_dir: Path):
        self.config = config
        self.progress = progress
        self.results_dir = Path(results_dir)
        self.slurm_dir = paths.slurm_dir(results_dir)
        self.jobs_path = self.slurm_dir / "jobs.json"
        self.log_folder = self.slurm_dir / "logs" / "%j"
        self.idle_cpus = controller_check(config.partition)  # fails at once where there is no controller

    def _executor(self):
        import submitit

        executor = submitit.AutoExecutor(folder=str(self.log_folder), cluster="slurm")
        executor.update_parameters(**sbatch_parameters(self.config))
        return executor

    def _known_jobs(self) -> dict:
        try:
            return json.loads(self.jobs_path.read_text())
        except (OSError, ValueError):
            return {}

    def _remember(self, known: dict) -> None:
        store.write_atomic(self.jobs_path, json.dumps(known, indent=1) + "\n")

    def run(self, tasks: list[Task], on_done: OnDone, on_start: OnStart = no_start) -> None:
        import submitit

        executor = self._executor()
        known = self._known_jobs()
        # job id → (job, {position in the job: task}); a re-attached job may hold tasks that are done
        watching: dict[str, tuple[object, dict[int, Task]]] = {}
        to_submit = []
        for task in tasks:
            record = known.get(task.label)
            if record and record["key"] == task_key(task, self.config):
                job = submitit.SlurmJob(folder=str(self.log_folder), job_id=record["job_id"])
                if job.state in _ALIVE or job.done():
                    watching.setdefault(job.job_id, (job, {}))[1][record.get("position", 0)] = task
                    self.progress.say(f"{task.label}: re-attached to Slurm job {job.job_id} ({job.state})")
                    continue
            to_submit.append(task)
        if to_submit:
            packed = plan_jobs(to_submit, self.config, self.idle_cpus)
            jobs = executor.map_array(execute_job, packed)
            for chunk, job in zip(packed, jobs):
                watching[job.job_id] = (job, dict(enumerate(chunk)))
                for position, task in enumerate(chunk):
                    known[task.label] = {"job_id": job.job_id, "key": task_key(task, self.config), "position": position}
            self._remember(known)
            self.progress.say(f"slurm: submitted {len(jobs)} job(s) for {len(to_submit)} task(s) as array "
                              f"{jobs[0].job_id.split('_')[0]}; logs in {self.slurm_dir / 'logs'}")
        try:
            self._watch(watching, on_done, on_start)
        except KeyboardInterrupt:
            unfinished = [job for job, _ in watching.values() if not job.done()]
            if self.config.cancel_on_interrupt and unfinished:
                for job in unfinished:
                    job.cancel(check=False)
                self.progress.say(f"slurm: cancelled {len(unfinished)} unfinished job(s)")
            elif unfinished:
                self.progress.say(f"slurm: {len(unfinished)} job(s) keep running; run again to re-attach")
            raise

    def _watch(self, watching: dict, on_done: OnDone, on_start: OnStart) -> None:
        last = None
        started: set[str] = set()

        def start(job_id: str, held: dict[int, Task]) -> None:
            # The driver sees a job start, not the tasks inside it: all of a job's tasks start with it.
            if job_id not in started:
                started.add(job_id)
                for position in sorted(held):
                    on_start(held[position])

        while watching:
            for job_id, (job, held) in list(watching.items()):
                if not job.done():
                    if job.state == "RUNNING":
                        start(job_id, held)
                    continue
                start(job_id, held)
                del watching[job_id]
                try:
                    answers = job.result()
                except Exception as e:  # the job failed, was cancelled or timed out
                    answers = self._failure(job, held, e)
                for position, task in held.items():
                    for member, doc in zip(task.members, answers[position]):
                        on_done(member, doc)
            counts = Counter(job.state for job, _ in watching.values())
            summary = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
            if watching and summary != last:
                self.progress.say(f"slurm: {summary}")
                last = summary
            if watching:
                time.sleep(self.config.poll_seconds)

    def _finished(self, task: Task) -> list[dict] | None:
        """The task's documents from its repeat files, if the job finished it before it died."""
        docs = []
        for member in task.members:
            cfg = member.experiment.config
            doc = read_repeat(self.results_dir, member.experiment.name, member.repeat)
            identity = (doc or {}).get("identity") or {}
            if (not doc or doc.get("status") != "done" or doc["run"].get("seed") != cfg.seed + member.repeat
                    or identity.get("config") != run_settings(cfg.identity(), identity.get("device_kind", "cpu"))
                    or identity.get("code_version") != code_version()):
                return None
            docs.append(doc)
        return docs

    def _failure(self, job, held: dict[int, Task], error: Exception) -> list[list[dict]]:
        """Answers for a job that died: what it finished stands (its repeat files); the rest fail, with its log."""
        log = job.paths.stderr
        try:
            tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        except OSError:
            tail = "(no log)"
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        answers: list[list[dict]] = [[] for _ in range(max(held) + 1)]
        lost = []
        for position, task in held.items():
            finished = self._finished(task)
            if finished is None:
                lost.append(task)
                finished = [failed_doc(m, f"Slurm job {job.job_id} {job.state}: {first} (log: {log})", log=str(log))
                            for m in task.members]
            answers[position] = finished
        kept = len(held) - len(lost)
        self.progress.say(f"slurm: job {job.job_id} failed ({job.state}): {first}; {kept} of {len(held)} task(s) "
                          f"had finished and are kept, failed: {', '.join(t.label for t in lost) or 'none'}\n"
                          f"  log {log}, last lines:\n" + "\n".join(f"  | {line}" for line in tail.splitlines()))
        return answers
