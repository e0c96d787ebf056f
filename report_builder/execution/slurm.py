"""The slurm executor: one job per experiment × repeat, submitted as a job array through submitit.

Job ids are kept in results/.slurm/jobs.json, so a restarted driver re-attaches to jobs that are still
queued or running instead of submitting them again; finished repeats are never resubmitted because
their repeat files exist. Job logs are in results/.slurm/logs/JOBID/.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path

from report_builder import paths
from report_builder.config import ExecutorConfig
from report_builder.errors import ConfigError
from report_builder.execution.local import OnDone, failed_doc
from report_builder.execution.tasks import Task, execute_task
from report_builder.progress import Progress
from report_builder.results import store

LOG_TAIL_LINES = 12
_ALIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "UNKNOWN"}


def task_key(task: Task) -> str:
    """What a submitted job computes; a job is re-attached only if this is unchanged."""
    text = json.dumps([[m.experiment.config.identity(), m.repeat] for m in task.members] + [store.code_version()],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        self.slurm_dir = paths.slurm_dir(results_dir)
        self.jobs_path = self.slurm_dir / "jobs.json"
        self.log_folder = self.slurm_dir / "logs" / "%j"

    def _executor(self):
        import shutil

        import submitit

        if shutil.which("sbatch") is None:
            raise ConfigError("[executor] kind = \"slurm\", but there is no Slurm here (sbatch not found on PATH)")
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

    def run(self, tasks: list[Task], on_done: OnDone) -> None:
        import submitit

        executor = self._executor()
        known = self._known_jobs()
        watching: dict[str, tuple[Task, object]] = {}
        to_submit = []
        for task in tasks:
            record = known.get(task.label)
            if record and record["key"] == task_key(task):
                job = submitit.SlurmJob(folder=str(self.log_folder), job_id=record["job_id"])
                if job.state in _ALIVE or job.done():
                    watching[task.label] = (task, job)
                    self.progress.say(f"{task.label}: re-attached to Slurm job {job.job_id} ({job.state})")
                    continue
            to_submit.append(task)
        if to_submit:
            jobs = executor.map_array(execute_task, to_submit)
            for task, job in zip(to_submit, jobs):
                watching[task.label] = (task, job)
                known[task.label] = {"job_id": job.job_id, "key": task_key(task)}
            self._remember(known)
            self.progress.say(f"slurm: submitted {len(jobs)} job(s) as array {jobs[0].job_id.split('_')[0]}; "
                              f"logs in {self.slurm_dir / 'logs'}")
        try:
            self._watch(watching, on_done)
        except KeyboardInterrupt:
            unfinished = [job for _, job in watching.values() if not job.done()]
            if self.config.cancel_on_interrupt and unfinished:
                for job in unfinished:
                    job.cancel(check=False)
                self.progress.say(f"slurm: cancelled {len(unfinished)} unfinished job(s)")
            elif unfinished:
                self.progress.say(f"slurm: {len(unfinished)} job(s) keep running; run again to re-attach")
            raise

    def _watch(self, watching: dict, on_done: OnDone) -> None:
        last = None
        while watching:
            for label, (task, job) in list(watching.items()):
                if not job.done():
                    continue
                del watching[label]
                try:
                    docs = job.result()
                except Exception as e:  # the job failed, was cancelled or timed out
                    docs = self._failure(task, job, e)
                for member, doc in zip(task.members, docs):
                    on_done(member, doc)
            counts = Counter(job.state for _, job in watching.values())
            summary = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
            if watching and summary != last:
                self.progress.say(f"slurm: {summary}")
                last = summary
            if watching:
                time.sleep(self.config.poll_seconds)

    def _failure(self, task: Task, job, error: Exception) -> list[dict]:
        log = job.paths.stderr
        try:
            tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        except OSError:
            tail = "(no log)"
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        self.progress.say(f"{task.label}: Slurm job {job.job_id} failed ({job.state}): {first}\n"
                          f"  log {log}, last lines:\n" + "\n".join(f"  | {line}" for line in tail.splitlines()))
        return [failed_doc(m, f"Slurm job {job.job_id} {job.state}: {first} (log: {log})", log=str(log))
                for m in task.members]
