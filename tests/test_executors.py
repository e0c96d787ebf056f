"""Executors: whichever runs the experiments, the results files and the report are the same."""

from __future__ import annotations

import functools
import io
import os
import queue
import re
import subprocess
import sys
import threading
import time

import pytest
from conftest import EVENT_TIMEOUT, REPO_DIR, config_text, spawn, write_config

from report_builder.config import ExecutorConfig, load_suite
from report_builder.execution.local_gpus import run_queue
from report_builder.execution.runner import run_suite
from report_builder.execution.slurm import sbatch_parameters
from report_builder.execution.tasks import RepeatTask
from report_builder.progress import Progress
from report_builder.report.render import render_report
from report_builder.results import store


class FakeWorker:
    """A worker on a fake device that finishes its task when the driver next waits for an answer (see
    FinishOnWait); it can die on a task."""

    in_flight = 0
    most_in_flight = 0
    unfinished: list = []

    def __init__(self, device: str, results: queue.Queue, log: list, crash_on: tuple[str, ...] = ()):
        self.device, self.results, self.log, self.crash_on = device, results, log, crash_on
        self.holding = 0
        self.dead = False

    def send(self, task: RepeatTask) -> None:
        if self.dead:
            raise BrokenPipeError("worker is gone")
        self.holding += 1
        assert self.holding == 1, f"worker {self.device} was given a second task while busy"
        self.log.append((self.device, task.label))
        FakeWorker.in_flight += 1
        FakeWorker.most_in_flight = max(FakeWorker.most_in_flight, FakeWorker.in_flight)

        def finish():
            self.holding -= 1
            FakeWorker.in_flight -= 1
            self.dead = task.label in self.crash_on
            self.results.put((self, None if self.dead else [{"status": "done", "device": self.device}]))

        FakeWorker.unfinished.append(finish)

    def stop(self) -> None:
        pass


def fake_tasks(tiny_config, n: int, timed: bool = False) -> list[RepeatTask]:
    exp = load_suite(tiny_config).experiments["sgd"]
    return [RepeatTask(exp, r, "results", ".", timed=timed) for r in range(n)]


class FinishOnWait(queue.Queue):
    """The fake workers' answers: every task in flight finishes when the driver waits for one, so which tasks
    are in flight together depends on the driver alone, not on how fast a busy machine runs threads."""

    def get(self, *args, **kwargs):
        while FakeWorker.unfinished:
            FakeWorker.unfinished.pop(0)()
        return super().get(*args, **kwargs)


def run_fake(tasks, devices, crash_on=(), events=None):
    results, log, done, said = FinishOnWait(), [], [], []
    spawned = []
    events = [] if events is None else events

    def spawn(device):
        spawned.append(device)
        return FakeWorker(device, results, log, crash_on)

    def finished(task, doc):
        done.append((task.label, doc))
        events.append(("done", task.label))

    run_queue(tasks, devices, spawn, results, finished, said.append,
              on_start=lambda task: events.append(("start", task.label)))
    return done, log, spawned, said


def test_queue_spreads_tasks_over_every_device_one_at_a_time(tiny_config):
    done, log, _, _ = run_fake(fake_tasks(tiny_config, 7), ["0", "1"])
    assert sorted(label for label, _ in done) == sorted(f"sgd[{r}]" for r in range(7))
    assert {device for device, _ in log} == {"0", "1"}


def test_queue_with_one_device_runs_everything_there(tiny_config):
    done, _, _, _ = run_fake(fake_tasks(tiny_config, 3), ["0"])
    assert [label for label, _ in done] == ["sgd[0]", "sgd[1]", "sgd[2]"]


def test_a_task_is_started_when_a_worker_takes_it(tiny_config):
    events = []
    run_fake(fake_tasks(tiny_config, 3), ["0"], events=events)
    assert events == [("start", "sgd[0]"), ("done", "sgd[0]"), ("start", "sgd[1]"), ("done", "sgd[1]"),
                      ("start", "sgd[2]"), ("done", "sgd[2]")]


def test_crashed_worker_fails_only_its_task_and_is_replaced(tiny_config):
    done, log, spawned, said = run_fake(fake_tasks(tiny_config, 4), ["0", "1"], crash_on=("sgd[1]",))
    docs = dict(done)
    assert docs["sgd[1]"]["status"] == "failed" and "exited before finishing sgd[1]" in docs["sgd[1]"]["error"]
    assert all(docs[f"sgd[{r}]"]["status"] == "done" for r in (0, 2, 3))
    assert len(spawned) == 3 and any("starting a new one" in line for line in said)


def test_when_every_worker_is_gone_the_rest_fail_with_a_reason(tiny_config):
    # one GPU; its worker dies on each of the first three tasks: the first start and two restarts
    done, _, spawned, said = run_fake(fake_tasks(tiny_config, 5), ["0"], crash_on=("sgd[0]", "sgd[1]", "sgd[2]"))
    docs = dict(done)
    assert len(spawned) == 3 and sorted(docs) == [f"sgd[{r}]" for r in range(5)]
    assert all("exited before finishing" in docs[f"sgd[{r}]"]["error"] for r in range(3))
    assert all("every local-gpus worker exited" in docs[f"sgd[{r}]"]["error"] for r in (3, 4))
    assert said[-1] == "local-gpus: worker on GPU 0 exited 3 times; GPU 0 is no longer used"


def test_timing_group_tasks_run_with_nothing_else_in_flight(tiny_config):
    FakeWorker.most_in_flight = 0
    run_fake(fake_tasks(tiny_config, 4, timed=True), ["0", "1", "2"])
    assert FakeWorker.most_in_flight == 1
    FakeWorker.most_in_flight = 0
    run_fake(fake_tasks(tiny_config, 4), ["0", "1", "2"])
    assert FakeWorker.most_in_flight > 1


def test_workers_are_named_by_the_gpus_this_process_sees():
    from report_builder.execution.local_gpus import chosen_gpus, visible_gpus

    assert visible_gpus(2, {}) == ["0", "1"]
    # a shared server: this process was given physical GPUs 2 and 3
    assert visible_gpus(2, {"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert chosen_gpus((1,), visible_gpus(2, {"CUDA_VISIBLE_DEVICES": "2,3"})) == ["3"]
    assert visible_gpus(1, {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}) == ["GPU-aa"]
    assert visible_gpus(0, {"CUDA_VISIBLE_DEVICES": ""}) == []


def test_a_gpu_index_this_process_does_not_see_is_an_error():
    from report_builder.errors import ConfigError
    from report_builder.execution.local_gpus import chosen_gpus

    with pytest.raises(ConfigError, match=r"gpus: 2 not a GPU this process sees \(it sees 2: 0, 1\)"):
        chosen_gpus((0, 2), ["0", "1"])


def run_with(config, results_dir, executor=None, stack=True) -> list[str]:
    stream = io.StringIO()
    run_suite(load_suite(config), [], results_dir, progress=Progress(stream, bars=False), executor_kind=executor,
              stack=stack)
    return stream.getvalue().splitlines()


def numbers(results_dir, name):
    result = store.read_result(results_dir / f"{name}.json")
    return [[(e["train_loss"], e["test_loss"], e["test_accuracy"]) for e in r["epochs"]] for r in result["runs"]]


@pytest.mark.slow  # worker processes
def test_local_gpus_workers_pin_one_device_each_and_match_local(tiny_config, tmp_path, monkeypatch):
    # Two "GPUs" on a CPU machine: the workers are real processes pinned with CUDA_VISIBLE_DEVICES, and
    # train on the CPU as the config asks.
    monkeypatch.setattr("report_builder.execution.local_gpus.visible_gpus", lambda: ["0", "1"])
    write_config(tiny_config, config_text(tiny_config, experiments={"sgd": {"repeats": 3}},
                                          executor={"kind": "local-gpus", "gpus": [0, 1]}))
    lines = run_with(tiny_config, tmp_path / "gpus", stack=False)
    assert lines[0] == "local-gpus: 2 worker(s) on GPU(s) 0, 1"
    assert {line for line in lines if line.endswith("no results yet")} == {"baseline: running, no results yet",
                                                                        "sgd: running, no results yet"}
    result = store.read_result(tmp_path / "gpus" / "sgd.json")
    assert result["status"] == "done" and len(result["runs"]) == 3
    pinned = {p["cuda_visible_devices"] for p in result["provenance"]["repeat_provenance"]}
    assert pinned <= {"0", "1"} and pinned
    baseline_pinned = store.read_result(tmp_path / "gpus" / "baseline.json")["provenance"]["cuda_visible_devices"]
    assert pinned | {baseline_pinned} == {"0", "1"}  # both workers had work
    run_with(tiny_config, tmp_path / "local", executor="local", stack=False)
    assert numbers(tmp_path / "gpus", "sgd") == numbers(tmp_path / "local", "sgd")
    assert numbers(tmp_path / "gpus", "baseline") == numbers(tmp_path / "local", "baseline")


@pytest.mark.slow  # worker processes
def test_a_worker_killed_mid_task_fails_only_that_task(tiny_config, tmp_path, monkeypatch):
    import signal

    from report_builder.execution import local_gpus as executors

    # "long" trains for minutes unless killed; its worker is killed with SIGKILL a second into it
    write_config(tiny_config, config_text(tiny_config, experiments={"long": {"epochs": 5000}, "more": {}},
                                          executor={"kind": "local-gpus"}))
    monkeypatch.setattr(executors, "visible_gpus", lambda: ["0", "1"])
    original, killers = executors.ProcessWorker.send, []

    def send(worker, task):
        original(worker, task)
        if task.label == "long[0]":
            killers.append(threading.Timer(1.0, os.kill, (worker.process.pid, signal.SIGKILL)))
            killers[-1].start()

    monkeypatch.setattr(executors.ProcessWorker, "send", send)
    lines = run_with(tiny_config, tmp_path / "r", stack=False)
    result = store.read_result(tmp_path / "r" / "long.json")
    assert result["status"] == "failed" and "exited before finishing long[0]" in result["error"]
    assert all(store.read_result(tmp_path / "r" / f"{n}.json")["status"] == "done" for n in ("baseline", "sgd", "more"))
    assert any(line.startswith("local-gpus: worker on GPU") and line.endswith("exited; starting a new one")
               for line in lines)


def test_stray_output_of_a_worker_does_not_stop_the_driver():
    from report_builder.execution.local_gpus import ANSWER_PREFIX, ProcessWorker

    script = ("import sys, json; sys.stdin.readline(); print('a library says hello'); "
              f"print({ANSWER_PREFIX!r} + json.dumps({{'docs': [{{'status': 'done'}}], 'last': False}}), flush=True)")
    results: queue.Queue = queue.Queue()
    worker = ProcessWorker("0", results, command=(sys.executable, "-c", script))
    worker.send(object())
    assert results.get(timeout=EVENT_TIMEOUT) == (worker, [{"status": "done"}])
    assert results.get(timeout=EVENT_TIMEOUT) == (worker, None)  # then it ended


def test_executor_table_is_validated(tmp_path):
    from report_builder.errors import ConfigError

    config = write_config(tmp_path / "e.toml", config_text(experiments={"a": {}},
                                                           executor={"kind": "slrum", "gpus_per_job": -1}))
    with pytest.raises(ConfigError) as caught:
        load_suite(config)
    assert caught.value.problems == [
        "e.toml: [executor] kind: unknown value 'slrum' (did you mean 'slurm'?); valid: local, local-gpus, slurm",
        "e.toml: [executor] gpus_per_job: must be ≥ 0, got -1"]


def test_sbatch_parameters_come_from_the_executor_table():
    params = sbatch_parameters(ExecutorConfig(kind="slurm", partition="gpu", account="lab", time_limit_min=30,
                                              gpus_per_job=1, cpus_per_job=4, mem_gb=16, sbatch={"qos": "short"}))
    assert params == {"timeout_min": 30, "cpus_per_task": 4, "mem_gb": 16, "name": "report_builder",
                      "slurm_array_parallelism": 64, "gpus_per_node": 1, "slurm_partition": "gpu",
                      "slurm_account": "lab", "slurm_additional_parameters": {"qos": "short"}}


@functools.lru_cache(maxsize=None)  # asked once: a controller that is down takes ~9 s to say so, per test
def slurm_unavailable() -> str | None:
    """Why the Slurm tests cannot run here (None: they can): no sbatch, or no controller answers."""
    from report_builder.errors import ConfigError
    from report_builder.execution.slurm import controller_check

    try:
        controller_check()
    except ConfigError as e:
        return str(e)
    return None


def use_slurm(config, epochs: int, **executor) -> None:
    """Point the tiny suite at the local Slurm cluster, with `epochs` per run and `executor` keys added."""
    why = slurm_unavailable()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Slurm tests (../shared/slurm/start-local-slurm.sh): {why}")
        pytest.skip(f"Slurm tests need a cluster: {why}")
    slurm = {"kind": "slurm", "partition": "debug", "time_limit_min": 5, "mem_gb": 1, "poll_seconds": 0.5}
    write_config(config, config_text(config, defaults={"epochs": epochs}, executor={**slurm, **executor}))


@pytest.mark.slurm
def test_slurm_executor_gives_the_same_results_and_report_as_local(tiny_config, tmp_path):
    # As many CPUs per job as this process may use: a run takes one torch thread per CPU it is given, and
    # 1 thread against 2 sums in another order (losses differ in the 7th digit).
    use_slurm(tiny_config, epochs=1, cpus_per_job=len(os.sched_getaffinity(0)))
    lines = run_with(tiny_config, tmp_path / "slurm")
    assert any(re.match(r"slurm: submitted \d job\(s\) for 2 task\(s\) as array", line) for line in lines), lines
    slurm_result = store.read_result(tmp_path / "slurm" / "sgd.json")
    assert slurm_result["status"] == "done"
    assert slurm_result["provenance"]["slurm_job_id"]
    run_with(tiny_config, tmp_path / "local", executor="local")
    for name in ("baseline", "sgd"):
        assert numbers(tmp_path / "slurm", name) == numbers(tmp_path / "local", name)

    assert run_with(tiny_config, tmp_path / "slurm") == ["baseline: cached", "sgd: cached"]
    suite = load_suite(tiny_config)
    render_report(suite, tmp_path / "slurm", tmp_path / "build-slurm", REPO_DIR / "templates", pdf=False)
    render_report(suite, tmp_path / "local", tmp_path / "build-local", REPO_DIR / "templates", pdf=False)
    slurm_html = (tmp_path / "build-slurm" / "report.html").read_text()
    local_html = (tmp_path / "build-local" / "report.html").read_text()
    # the same numbers, to the digit, in both reports: every epoch row's losses and accuracy
    row = re.compile(r"<tr>\s*<td>(\d+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>")
    assert row.findall(slurm_html) and row.findall(slurm_html) == row.findall(local_html)


@pytest.mark.slurm
def test_cancelled_slurm_job_fails_its_experiment_only_with_its_log(tiny_config, tmp_path):
    use_slurm(tiny_config, epochs=300, tasks_per_job=1)
    cancelled, finished = [], threading.Event()

    def cancel_first_running_job():
        deadline = time.monotonic() + EVENT_TIMEOUT  # Slurm on a busy machine may take a while to start a job
        while time.monotonic() < deadline and not cancelled and not finished.is_set():
            out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-n", "report_builder", "-o", "%i"],
                                 capture_output=True, text=True).stdout.split()
            if out:
                subprocess.run(["scancel", out[0]], check=True)
                cancelled.append(out[0])
            time.sleep(0.3)

    killer = threading.Thread(target=cancel_first_running_job)
    killer.start()
    try:
        lines = run_with(tiny_config, tmp_path / "r", stack=False)  # two jobs, one per experiment
    finally:
        finished.set()
        killer.join()
    statuses = {n: store.read_result(tmp_path / "r" / f"{n}.json") for n in ("baseline", "sgd")}
    failed = [r for r in statuses.values() if r["status"] == "failed"]
    assert len(failed) == 1 and [r["status"] for r in statuses.values()].count("done") == 1
    assert f"Slurm job {cancelled[0]}" in failed[0]["error"] and "CANCELLED" in failed[0]["error"]
    assert "log: " in failed[0]["error"]
    assert any(line.startswith(f"slurm: job {cancelled[0]} failed (CANCELLED") for line in lines)


@pytest.mark.slurm
def test_a_job_killed_halfway_keeps_the_runs_it_finished(tiny_config, tmp_path):
    # one job trains baseline (1 epoch) and then sgd (minutes); it is cancelled once baseline's file is written
    use_slurm(tiny_config, epochs=1, tasks_per_job=2)
    write_config(tiny_config, config_text(tiny_config, experiments={"sgd": {"epochs": 3000}}))
    cancelled, finished = [], threading.Event()

    def cancel_after_the_first_task():
        deadline = time.monotonic() + EVENT_TIMEOUT  # Slurm on a busy machine may take a while to start a job
        while time.monotonic() < deadline and not cancelled and not finished.is_set():
            if (tmp_path / "r" / ".repeats" / "baseline" / "repeat-0.json").exists() or \
                    (tmp_path / "r" / "baseline.json").exists():
                out = subprocess.run(["squeue", "-h", "-n", "report_builder", "-o", "%i"], capture_output=True,
                                     text=True).stdout.split()
                if out:
                    subprocess.run(["scancel", out[0]], check=True)
                    cancelled.append(out[0])
            time.sleep(0.2)

    killer = threading.Thread(target=cancel_after_the_first_task)
    killer.start()
    try:
        lines = run_with(tiny_config, tmp_path / "r", stack=False)
    finally:
        finished.set()
        killer.join()
    assert any(re.match(r"slurm: submitted 1 job\(s\) for 2 task\(s\)", line) for line in lines), lines
    assert store.read_result(tmp_path / "r" / "baseline.json")["status"] == "done"
    sgd = store.read_result(tmp_path / "r" / "sgd.json")
    assert sgd["status"] == "failed" and "CANCELLED" in sgd["error"]
    assert any("1 of 2 task(s) had finished and are kept, failed: sgd[0]" in line for line in lines), lines


@pytest.mark.slurm
def test_restarted_driver_reattaches_to_its_jobs(tiny_config, tmp_path):
    import sys

    use_slurm(tiny_config, epochs=150)
    command = [sys.executable, "-m", "report_builder", "run", "--config", str(tiny_config),
               "--results-dir", str(tmp_path / "r")]
    driver = spawn(command, cwd=REPO_DIR, stderr=subprocess.PIPE, text=True)  # ended with the test
    for line in driver.stderr:
        if line.startswith("slurm: submitted"):
            break
    driver.kill()  # the driver dies; its jobs do not
    driver.wait()
    again = subprocess.run(command, cwd=REPO_DIR, capture_output=True, text=True, timeout=2 * EVENT_TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert "re-attached to Slurm job" in again.stderr or "resuming" in again.stderr
    assert "slurm: submitted" not in again.stderr
    for name in ("baseline", "sgd"):
        assert store.read_result(tmp_path / "r" / f"{name}.json")["status"] == "done"


def cluster_gpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True).stdout
    return sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", out))


@pytest.mark.slurm
def test_slurm_jobs_get_the_gpus_they_ask_for(tiny_config, tmp_path):
    use_slurm(tiny_config, epochs=1, tasks_per_job=1)
    if cluster_gpus() < 1:
        if os.environ.get("CI") == "true":
            pytest.fail("CI starts the cluster with LOCAL_SLURM_FAKE_GPUS=2")
        pytest.skip("this Slurm advertises no GPUs (start it with LOCAL_SLURM_FAKE_GPUS=2)")
    write_config(tiny_config, config_text(tiny_config, executor={"gpus_per_job": 1}))
    run_with(tiny_config, tmp_path / "r", stack=False)
    for name in ("baseline", "sgd"):
        provenance = store.read_result(tmp_path / "r" / f"{name}.json")["provenance"]
        assert provenance["slurm_job_id"]
        # Slurm pins the job to one (here fake) GPU; torch then sees it, or on this CPU machine none.
        assert provenance["cuda_visible_devices"] in {"0", "1"}


def test_local_gpus_worker_on_a_real_gpu_matches_local_on_gpu(tiny_config, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    write_config(tiny_config, config_text(tiny_config, defaults={"device": "cuda"},
                                          executor={"kind": "local-gpus", "gpus": [0]}))
    lines = run_with(tiny_config, tmp_path / "gpus")
    assert lines[0] == "local-gpus: 1 worker(s) on GPU(s) 0"
    run_with(tiny_config, tmp_path / "local", executor="local")
    for name in ("baseline", "sgd"):
        result = store.read_result(tmp_path / "gpus" / f"{name}.json")
        assert result["provenance"]["device_kind"] == "cuda"
        flat = [[v for run in numbers(tmp_path / d, name) for epoch in run for v in epoch] for d in ("gpus", "local")]
        assert flat[0] == pytest.approx(flat[1], rel=1e-6)


def test_tasks_are_packed_into_as_many_jobs_as_the_partition_has_room_for(tiny_config):
    from report_builder.execution.slurm import plan_jobs

    tasks = fake_tasks(tiny_config, 12)
    auto = ExecutorConfig(kind="slurm")
    assert [len(j) for j in plan_jobs(tasks, auto, idle_cpus=2)] == [6, 6]
    assert [len(j) for j in plan_jobs(tasks, auto, idle_cpus=500)] == [1] * 12
    assert [len(j) for j in plan_jobs(tasks, ExecutorConfig(kind="slurm", cpus_per_job=4), idle_cpus=8)] == [6, 6]
    assert [len(j) for j in plan_jobs(tasks, auto, idle_cpus=None)] == [1] * 12  # room unknown: as before
    assert [len(j) for j in plan_jobs(tasks, ExecutorConfig(kind="slurm", tasks_per_job=5), 2)] == [5, 5, 2]
    assert [t.label for j in plan_jobs(tasks, auto, 3) for t in j] == [t.label for t in tasks]


def test_one_task_failing_inside_a_job_fails_only_that_task(tiny_config, tmp_path):
    from report_builder.execution.slurm import execute_job

    suite = load_suite(write_config(tiny_config, config_text(tiny_config, experiments={"sgd": {"device": "cuda"}})))
    tasks = [RepeatTask(suite.experiments[n], 0, str(tmp_path / "r"), str(tmp_path)) for n in ("sgd", "baseline")]
    import torch

    answers = execute_job(tasks)
    if not torch.cuda.is_available():
        assert answers[0][0]["status"] == "failed" and "no CUDA GPU" in answers[0][0]["error"]
    assert answers[1][0]["status"] == "done"


def test_no_slurm_controller_is_one_line(tmp_path, monkeypatch):
    from report_builder.errors import ConfigError
    from report_builder.execution.slurm import controller_check

    for tool, script in (("sbatch", "exit 0"),
                         ("sinfo", "echo 'sinfo: error: Unable to contact slurm controller (connect failure)' >&2; "
                                   "exit 1")):
        (tmp_path / tool).write_text(f"#!/bin/sh\n{script}\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(ConfigError) as caught:
        controller_check()
    assert str(caught.value) == ('[executor] kind = "slurm", but the Slurm controller does not answer (sinfo: error: '
                                 'Unable to contact slurm controller (connect failure))')
    # the run stops there, before any data is read (this data folder does not exist)
    config = write_config(tmp_path / "e.toml", config_text(defaults={"data_dir": "/nowhere"}, experiments={"a": {}},
                                                           executor={"kind": "slurm"}))
    with pytest.raises(ConfigError, match="Slurm controller does not answer"):
        run_suite(load_suite(config), [], tmp_path / "r", progress=Progress(io.StringIO(), bars=False))
