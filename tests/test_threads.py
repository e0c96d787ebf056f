"""The thread choice (training/threads.py), fed recorded machine readings: how many threads a run takes
from the cores other work leaves free, what a pinned setting does, and how epochs re-decide it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from report_builder.config import load_suite
from report_builder.config.parse import parse_suite
from report_builder.errors import ConfigError
from report_builder.training import records, threads
from report_builder.training.machine_load import MachineReading
from report_builder.training.records import EpochScores, RunRecord, timed_epochs
from report_builder.training.threads import Governor, choose_threads, granted_threads, reading_of_epoch

CPU = torch.device("cpu")


def reading(others: float | None, machine_cpus: int = 2, runnable: int | None = None) -> MachineReading:
    return MachineReading(cpus=machine_cpus, others_cores=others, steal_share=0.0, cpu_pressure=None, io_pressure=None,
                          load=None, runnable_others=runnable, machine_cpus=machine_cpus)


@pytest.fixture(autouse=True)
def _torch_threads_restored(monkeypatch):
    monkeypatch.setattr(threads, "_last", None)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# ---- the rule ------------------------------------------------------------------------------------------

def test_a_quiet_machine_gives_a_run_every_granted_core():
    assert choose_threads(reading(0.03), granted=2) == (2, "2 of 2 cores free")


def test_one_busy_process_takes_a_core():
    assert choose_threads(reading(1.0), granted=2) == (1, "1 of 2 cores free")


def test_one_busy_process_squeezed_by_our_two_threads_still_takes_a_core():
    # beside our two threads a CPU-bound process gets about two thirds of a core
    assert choose_threads(reading(0.67), granted=2) == (1, "1 of 2 cores free")


def test_other_work_up_to_a_quarter_core_takes_no_core():
    assert choose_threads(reading(0.25), granted=2)[0] == 2
    assert choose_threads(reading(0.26), granted=2)[0] == 1


def test_a_quarter_core_beyond_whole_cores_takes_one_more():
    assert choose_threads(reading(1.25, machine_cpus=4), granted=4) == (3, "3 of 4 cores free")
    assert choose_threads(reading(1.26, machine_cpus=4), granted=4) == (2, "2 of 4 cores free")


def test_with_no_core_free_a_run_still_trains_on_one_thread():
    assert choose_threads(reading(2.0), granted=2) == (1, "0 of 2 cores free")


def test_never_more_threads_than_granted_however_many_cores_are_free():
    assert choose_threads(reading(0.0, machine_cpus=16), granted=2) == (2, "2 of 2 cores free")


def test_other_work_on_a_large_machine_counts_against_all_its_cores():
    assert choose_threads(reading(3.5, machine_cpus=16), granted=16) == (12, "12 of 16 cores free")


def test_runnable_tasks_stand_in_where_cpu_time_is_unknown():
    assert choose_threads(reading(None, runnable=1), granted=2) == (1, "1 of 2 cores free")


def test_unknown_other_work_keeps_the_grant():
    assert choose_threads(reading(None), granted=2) == (2, "2 cores granted; other work unknown")
    assert choose_threads(None, granted=2) == (2, "2 cores granted; other work unknown")


def test_a_pinned_count_is_kept_whatever_the_machine_does():
    assert choose_threads(reading(2.0), granted=2, setting=2) == (2, "threads = 2 in [executor]")
    assert choose_threads(reading(0.0), granted=2, setting=1) == (1, "threads = 1 in [executor]")


def test_a_pinned_count_above_the_grant_is_lowered_to_it():
    assert choose_threads(None, granted=2, setting=8) == (2, "threads = 8 in [executor], lowered to the 2 cores granted")


# ---- the grant ----------------------------------------------------------------------------------------

def test_the_grant_is_the_least_of_torch_affinity_and_slurm():
    assert granted_threads(torch_threads=16, affinity=4, slurm_cpus=None) == 4
    assert granted_threads(torch_threads=16, affinity=16, slurm_cpus="2") == 2
    assert granted_threads(torch_threads=1, affinity=16, slurm_cpus="8") == 1  # OMP_NUM_THREADS=1


def test_a_slurm_value_that_is_no_count_is_ignored():
    assert granted_threads(torch_threads=4, affinity=4, slurm_cpus="") == 4
    assert granted_threads(torch_threads=4, affinity=4, slurm_cpus="2(x3)") == 4


# ---- a run's governor -----------------------------------------------------------------------------------

def test_a_run_starts_with_the_threads_its_reading_allows():
    choice = Governor("auto", granted=2, read=lambda: reading(1.0), machine_cpus=2).start()
    assert (choice.threads, choice.reason, torch.get_num_threads()) == (1, "1 of 2 cores free", 1)
    assert choice.reading["others_cores"] == 1.0


def test_a_pinned_run_reads_nothing():
    def never():
        raise AssertionError("a pinned run reads no machine")

    choice = Governor(1, granted=2, read=never).start()
    assert (choice.threads, choice.reading, torch.get_num_threads()) == (1, None, 1)


def test_a_reading_up_to_ten_seconds_old_decides_the_next_run_without_a_new_one():
    clock = iter([0.0, 0.0, 10.0, 10.01, 10.01])
    reads = []

    def read():
        reads.append(1)
        return reading(1.0)

    governor = Governor("auto", granted=2, read=read, now=lambda: next(clock), machine_cpus=2)
    governor.start()       # reads, at 0
    governor.start()       # reuses it, at 10.0
    governor.start()       # too old at 10.01: reads again
    assert len(reads) == 2


def test_an_epoch_that_saw_other_work_lowers_the_next_epochs_threads():
    governor = Governor("auto", granted=2, read=lambda: reading(0.0), machine_cpus=2)
    governor.start()
    assert governor.after_epoch({"others_cpu_share": 0.4}) == 1   # 0.8 cores of 2
    assert governor.after_epoch({"others_cpu_share": 0.05}) == 2  # it stopped: back up to the grant


def test_an_epoch_too_short_to_judge_keeps_the_count():
    governor = Governor("auto", granted=2, read=lambda: reading(1.0), machine_cpus=2)
    governor.start()
    assert governor.after_epoch({"cpu_verdict": "too short to judge"}) == 1


def test_a_pinned_run_ignores_what_its_epochs_saw():
    governor = Governor(2, granted=2)
    governor.start()
    assert governor.after_epoch({"others_cpu_share": 1.0}) == 2


def test_an_epochs_share_of_the_machine_becomes_cores():
    assert reading_of_epoch({"others_cpu_share": 0.25, "load_after": 3.0}, cpus=2, machine_cpus=4).others_cores == 1.0
    assert reading_of_epoch({}, cpus=2, machine_cpus=4) is None


# ---- the epoch loop -------------------------------------------------------------------------------------

def test_each_epoch_records_the_threads_it_trained_with_and_the_run_its_first(monkeypatch):
    # recorded evidence: epoch 1 saw a busy process on one of 2 cores, epoch 2 a quiet machine
    seen = iter([{"others_cpu_share": 0.5}, {"others_cpu_share": 0.0}, {"others_cpu_share": 0.0}])

    class Clock:  # contention.EpochClock
        def __init__(self, gpu_others=None):
            pass

        def start(self) -> None:
            pass

        def stop(self) -> tuple[bool, dict]:
            return False, next(seen)

    monkeypatch.setattr(records, "EpochClock", Clock)
    run = RunRecord(repeat=0, seed=0, epochs=[])
    governor = Governor("auto", granted=2, read=lambda: reading(0.0), machine_cpus=2)
    with threads.governing(governor=governor) as choice:
        timed_epochs([run], 0.0, 3, 10, CPU, None, start=lambda: None, train=lambda order: None,
                     evaluate=lambda: None, read=lambda evaluated: EpochScores([0.5], [0.5], [0.5], [{}]))
    assert choice.threads == 2
    assert [e.threads for e in run.epochs] == [2, 1, 2]
    assert run.threads == 2


def test_outside_a_governed_run_epochs_keep_torchs_count():
    torch.set_num_threads(1)
    assert threads.between_epochs({"others_cpu_share": 0.0}) == 1


# ---- the setting ----------------------------------------------------------------------------------------

def executor_problems(value: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_suite(f"[experiments.a]\n[executor]\nthreads = {value}\n", Path("experiments.toml"))
    return caught.value.problems


def test_threads_are_fitted_to_the_machine_unless_the_file_says():
    assert parse_suite("[experiments.a]\n", Path("experiments.toml")).executor.threads == "auto"


def test_a_pinned_thread_count_is_read_as_a_number():
    assert parse_suite("[experiments.a]\n[executor]\nthreads = 2\n", Path("experiments.toml")).executor.threads == 2


def test_a_thread_setting_that_is_neither_auto_nor_a_count_names_both():
    assert executor_problems('"many"') == ["experiments.toml: [executor] threads: unknown value 'many'; valid: auto"]
    assert executor_problems("1.5") == ['experiments.toml: [executor] threads: must be an integer or "auto", got 1.5']


def test_a_thread_count_below_one_is_refused():
    assert executor_problems("0") == ["experiments.toml: [executor] threads: must be ≥ 1, got 0"]


def test_a_misspelt_thread_key_suggests_threads():
    with pytest.raises(ConfigError) as caught:
        parse_suite("[experiments.a]\n[executor]\nthread = 2\n", Path("experiments.toml"))
    assert caught.value.problems == ["experiments.toml: [executor] unknown key 'thread' (did you mean 'threads'?)"]


# ---- what a run records ---------------------------------------------------------------------------------

def test_a_task_records_its_threads_and_why_in_its_run_and_provenance(tiny_config, tmp_path):
    from report_builder.execution.execute import execute_task
    from report_builder.execution.tasks import RepeatTask

    suite = load_suite(tiny_config)
    (doc,) = execute_task(RepeatTask(suite.experiments["baseline"], 0, str(tmp_path / "r"), str(tmp_path), threads=1))
    assert doc["status"] == "done"
    assert [e["threads"] for e in doc["run"]["epochs"]] == [1, 1] and doc["run"]["threads"] == 1
    prov = doc["provenance"]
    assert (prov["cpu_threads"], prov["threads_reason"], prov["threads_setting"]) == (1, "threads = 1 in [executor]", 1)
    assert prov["flush_denormal"] is True


def test_an_auto_task_says_how_many_cores_were_free(tiny_config, tmp_path):
    from report_builder.execution.execute import execute_task
    from report_builder.execution.tasks import RepeatTask

    suite = load_suite(tiny_config)
    (doc,) = execute_task(RepeatTask(suite.experiments["baseline"], 0, str(tmp_path / "r"), str(tmp_path)))
    prov = doc["provenance"]
    free, granted = re.fullmatch(r"(\d+) of (\d+) cores free", prov["threads_reason"]).groups()
    assert prov["cpu_threads"] == max(int(free), 1) and int(granted) == prov["threads_granted"]
    assert prov["machine_at_start"]["others_cores"] is not None


def test_a_governed_run_gives_torch_back_its_count():
    torch.set_num_threads(2)
    with threads.governing(governor=Governor("auto", granted=2, read=lambda: reading(2.0), machine_cpus=2)):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
