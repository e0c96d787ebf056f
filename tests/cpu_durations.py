"""Where a test run's time goes, in CPU seconds beside wall seconds (loaded by conftest.py).

`pytest --cpu-durations=N` lists the N tests that used the most CPU (0: every test), and the run's totals.
A test's CPU seconds are those of the process that runs it (all its threads) and of the child processes it
waited for (a CLI run, node, pdfua), over its setup, call and teardown. On a machine that others load, wall
seconds swell with the load and CPU seconds hardly move: compare runs by CPU, and wall times only within
one run. Works with pytest-xdist (each worker measures its own tests).
"""

from __future__ import annotations

import resource
import time

import pytest

_STARTED = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-durations", type=int, default=None, metavar="N",
                     help="list the N tests that used the most CPU seconds, with their wall seconds (0: all)")


def cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for, user and system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # makereport follows each phase at once: the CPU since the phase began is the phase's
    started = item.stash.get(_STARTED, None)
    outcome = yield
    if started is not None:
        outcome.get_result().user_properties.append(("cpu_seconds", cpu_seconds() - started))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    item.stash[_STARTED] = cpu_seconds()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    item.stash[_STARTED] = cpu_seconds()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item):
    item.stash[_STARTED] = cpu_seconds()
    yield


class CpuDurations:
    """Collects each test's seconds from the reports (those of xdist's workers too) and lists them."""

    def __init__(self, count: int):
        self.count = count
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cpu = sum(value for key, value in report.user_properties if key == "cpu_seconds")
        self.cpu[report.nodeid] = self.cpu.get(report.nodeid, 0.0) + cpu
        self.wall[report.nodeid] = self.wall.get(report.nodeid, 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter) -> None:
        write = terminalreporter.write_line
        ranked = sorted(self.cpu, key=self.cpu.get, reverse=True)
        shown = ranked if self.count == 0 else ranked[:self.count]
        terminalreporter.section(f"CPU seconds of the {len(shown)} costliest tests (setup + call + teardown)")
        write(f"{'CPU s':>8} {'wall s':>8}  test")
        for nodeid in shown:
            write(f"{self.cpu[nodeid]:8.2f} {self.wall[nodeid]:8.2f}  {nodeid}")
        write(f"total: {sum(self.cpu.values()):.1f} CPU s and {sum(self.wall.values()):.1f} wall s in "
              f"{len(ranked)} tests; {time.monotonic() - self.started:.1f} s from collection to the end")


def pytest_configure(config: pytest.Config) -> None:
    count = config.getoption("--cpu-durations")
    if count is not None and not hasattr(config, "workerinput"):  # xdist's workers report to the controller
        config.pluginmanager.register(CpuDurations(count), "cpu-durations-table")
