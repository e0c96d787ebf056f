"""Busy-machine detection: other programs' CPU use during a timed epoch flags it; this process's own
children (DataLoader workers) do not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from report_builder.training.contention import EpochClock

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc")

SPIN = "import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass\n"


def timed(work) -> tuple[bool | None, dict]:
    clock = EpochClock()
    clock.start()
    work()
    return clock.stop()


def test_an_idle_machine_is_not_flagged():
    disturbed, evidence = timed(lambda: time.sleep(0.5))
    assert disturbed is False and evidence["others_cpu_share"] < 0.1


def test_other_programs_keeping_every_core_busy_are_flagged():
    # Started through a shell that exits at once, the spinners are not this process's descendants.
    cores = os.cpu_count() or 1
    subprocess.run(["sh", "-c", " ".join(f"{sys.executable} -c '{SPIN.format(seconds=2.5)}' &" for _ in range(cores))],
                   check=True)
    time.sleep(0.3)
    disturbed, evidence = timed(lambda: time.sleep(1.5))
    time.sleep(1.0)  # let the spinners end before the next test
    assert disturbed is True and evidence["others_cpu_share"] > 0.5


def test_this_process_own_workers_are_not_others():
    def own_workers():
        workers = [subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=1.0)]) for _ in range(2)]
        for w in workers:
            w.wait()

    disturbed, evidence = timed(own_workers)
    assert disturbed is False, evidence
