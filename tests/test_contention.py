"""Busy-machine detection: other programs' CPU use during a timed epoch flags it; this process's own
children (DataLoader workers) do not; a window too short to measure is not judged.

The verdicts are tested on counters recorded on a 2-core machine, so that "idle", "busy" and "own
workers" are facts of the test, not of the machine running it. Two end-to-end checks read the real
counters and hold whatever else runs: other programs' CPU time lands in "others", this process's
workers' in its own.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import wait_until

from report_builder.training.contention import (
    CpuSample,
    EpochClock,
    measure,
    parse_proc_stat,
    read_cpu,
)

# /proc/stat's first line and this process tree's CPU ticks, read before and after each window on a
# 2-core AMD EPYC (SC_CLK_TCK 100; 200 ticks of capacity a second): 1 s of sleep on a quiet machine; 1 s
# of sleep while two programs that are not this process's children spun; two children of this process
# spinning for 1 s of CPU time each.
RECORDED = {
    "idle": (("cpu  38442 0 5703 110011 1094 0 186 79 0 0", 4.0),
             ("cpu  38442 0 5703 110211 1094 0 186 79 0 0", 4.0)),
    "others": (("cpu  38460 0 5746 110211 1094 0 186 79 0 0", 4.0),
               ("cpu  38512 0 5894 110211 1094 0 186 79 0 0", 4.0)),
    "own workers": (("cpu  38525 0 5927 110463 1094 0 187 80 0 0", 4.0),
                    ("cpu  38573 0 6086 110464 1094 0 187 80 0 0", 210.0)),
}


def sample(line: str, own: float, load: float | None = 0.5) -> CpuSample:
    busy, total = parse_proc_stat(line)
    return CpuSample(busy=busy, total=total, own=own, load=load)


def judge(start: CpuSample, end: CpuSample, gpu_others: int | None = None) -> tuple[bool | None, dict]:
    """The clock's verdict on a window whose counters read `start`, then `end`."""
    clock = EpochClock(gpu_others, read=iter([start, end]).__next__)
    clock.start()
    return clock.stop()


def recorded(name: str) -> tuple[bool | None, dict]:
    (start_line, start_own), (end_line, end_own) = RECORDED[name]
    return judge(sample(start_line, start_own), sample(end_line, end_own))


def others_used(ticks: int, of: int) -> tuple[CpuSample, CpuSample]:
    """A window of `of` ticks of capacity (all CPUs) of which other processes used `ticks`."""
    start = CpuSample(busy=1000, total=5000, own=40.0, load=None)
    return start, CpuSample(busy=1000 + ticks, total=5000 + of, own=40.0, load=None)


def test_proc_stat_busy_time_is_everything_but_idle_and_iowait():
    busy = 38442 + 7 + 5703 + 3 + 186 + 79  # user nice system irq softirq steal; guest is inside user
    assert parse_proc_stat("cpu  38442 7 5703 110011 1094 3 186 79 11 12") == (busy, busy + 110011 + 1094)


def test_an_idle_machine_is_not_flagged():
    disturbed, evidence = recorded("idle")
    assert disturbed is False
    assert evidence == {"load_before": 0.5, "load_after": 0.5, "cpu_window_ticks": 200, "others_cpu_share": 0.0}


def test_other_programs_keeping_every_core_busy_are_flagged():
    disturbed, evidence = recorded("others")
    assert disturbed is True and evidence["others_cpu_share"] == 1.0 and evidence["cpu_window_ticks"] == 200


def test_this_process_own_workers_are_not_others():
    disturbed, evidence = recorded("own workers")
    assert disturbed is False and evidence["others_cpu_share"] == 0.005  # 1 of 208 ticks


def test_a_window_of_49_ticks_is_too_short_to_judge():
    disturbed, evidence = judge(*others_used(49, of=49))
    assert disturbed is None
    assert evidence["cpu_verdict"] == "too short to judge" and "others_cpu_share" not in evidence
    assert evidence["cpu_window_ticks"] == 49


def test_a_window_of_50_ticks_is_judged():
    disturbed, evidence = judge(*others_used(50, of=50))
    assert disturbed is True and evidence["others_cpu_share"] == 1.0 and "cpu_verdict" not in evidence


def test_a_share_just_over_the_limit_is_flagged_and_one_at_it_is_not():
    assert judge(*others_used(21, of=200))[0] is True  # 10.5%
    assert judge(*others_used(20, of=200))[0] is False  # 10%


def test_a_short_epoch_on_a_quiet_machine_is_no_false_alarm():
    # A 7 ms epoch on 2 CPUs spans 1–2 ticks; a tick charged to a daemon read as "others used 50%".
    disturbed, evidence = judge(*others_used(1, of=2))
    assert disturbed is None and evidence["cpu_verdict"] == "too short to judge"


def test_another_gpu_process_flags_an_epoch_too_short_for_the_cpu_verdict():
    assert judge(*others_used(0, of=2), gpu_others=1)[0] is True


def test_without_proc_stat_nothing_is_judged():
    unknown = CpuSample(busy=None, total=None, own=3.0, load=None)
    assert judge(unknown, unknown) == (None, {"load_before": None, "load_after": None})


# ---- end to end, on this machine's real counters, whatever else runs -----------------------------

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Spins for CPU time, not wall time (so a loaded machine only makes it take longer), then says how much.
SPIN = "import sys, time\nwhile time.process_time() < 0.5: pass\nprint(time.process_time(), flush=True)\n"


@needs_proc
def test_other_programs_cpu_time_is_counted_as_others(tmp_path):
    # Started through a shell that exits at once, the spinners are not this process's descendants.
    outputs = [tmp_path / f"spinner-{i}.txt" for i in range(2)]
    start = read_cpu()
    subprocess.run(["sh", "-c", f'"$0" -c "$1" > {outputs[0]} & "$0" -c "$1" > {outputs[1]} &', sys.executable,
                    SPIN], check=True)
    wait_until(lambda: all(p.exists() and p.read_text().endswith("\n") for p in outputs), timeout=300,
               what="two spinners, each using 0.5 s of CPU time")
    end = read_cpu()
    spun = sum(float(p.read_text()) for p in outputs) * TICKS
    window = measure(start, end)
    assert window.others_ticks >= 0.8 * spun, (window, spun)


@needs_proc
def test_this_process_own_live_workers_are_counted_as_its_own():
    # Like DataLoader workers, they are still alive when the epoch's clock stops.
    start = read_cpu()
    workers = [subprocess.Popen([sys.executable, "-c", SPIN + "sys.stdin.readline()\n"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        spun = sum(float(w.stdout.readline()) for w in workers) * TICKS
        end = read_cpu()
    finally:
        for w in workers:
            w.kill()
            w.wait()
    assert end.own - start.own >= 0.8 * spun, (start, end, spun)

