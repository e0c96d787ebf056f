"""The test harness holds on a busy machine and under a script: a process a test starts sees Ctrl-C even
when the test run ignores it, and ends with its test, workers included, however the test ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO_DIR, readline_within, spawn, wait_until

pytest_plugins = ["pytester"]


def gone(pid: int) -> bool:
    """No such process, or only its zombie (an orphan that its new parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_spawned_process_sees_ctrl_c_although_the_test_run_ignores_it():
    # As in `bash -c 'pytest > log &'`: a non-interactive shell starts background jobs with SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        handler = "import signal; h = signal.getsignal(signal.SIGINT); print(getattr(h, '__name__', h))"
        child = spawn([sys.executable, "-c", handler], stdout=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert readline_within(child.stdout).strip() == "default_int_handler"


def test_a_test_that_times_out_still_ends_its_process_and_its_workers(pytester, tmp_path):
    pids = tmp_path / "pids.txt"
    pytester.makeconftest((REPO_DIR / "tests" / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(cpu_durations=(REPO_DIR / "tests" / "cpu_durations.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_times_out=textwrap.dedent(f"""
        import subprocess, sys
        from conftest import spawn

        def test_waits_too_short():
            # a server that starts a worker, then never answers
            script = ("import subprocess, sys, time; w = subprocess.Popen(['sleep', '600']); "
                      "print(w.pid, flush=True); time.sleep(600)")
            process = spawn([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            worker = process.stdout.readline().strip()
            open({str(pids)!r}, "w").write(f"{{process.pid}} {{worker}}\\n")
            process.communicate(timeout=0.5)
        """))
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(failed=1)
    assert "TimeoutExpired" in outcome.stdout.str()
    server, worker = map(int, pids.read_text().split())
    wait_until(lambda: gone(server) and gone(worker), what=f"processes {server} and {worker} to end")
