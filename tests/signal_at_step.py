"""The CLI, which sends itself a signal once one repeat has trained a chosen number of steps: a crash or an
interrupt at a known point of a run, however fast or slow the machine, with a run only as long as that point.

    python tests/signal_at_step.py TASK STEP SIGNAL -- [report_builder's arguments]

TASK is a repeat's label (`second[0]`: experiment second, repeat 0), STEP how many of its training steps
come first, SIGNAL a name (KILL, INT, TERM). The signal is raised from the training loop itself, between
two progress reports (every records.PROGRESS_EVERY steps and at each epoch's end), so it lands mid-epoch.
Tests start it with conftest.spawn, as they start `python -m report_builder`.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report_builder.cli import main  # noqa: E402
from report_builder.execution import local  # noqa: E402


class SignalAt:
    """A Progress stand-in for one task: it counts the steps its bar is advanced by and raises the signal
    once they reach `step`; everything else goes to the real one."""

    def __init__(self, progress, step: int, signum: int):
        self.progress, self.step, self.signum, self.done = progress, step, signum, 0

    def __getattr__(self, name):
        return getattr(self.progress, name)

    @contextmanager
    def bar(self, *args, **kwargs):
        with self.progress.bar(*args, **kwargs) as advance:
            def counted(n: int) -> None:
                advance(n)
                self.done += n
                if self.done >= self.step:
                    self.step = float("inf")  # once: a handled SIGINT must not be raised again
                    os.kill(os.getpid(), self.signum)

            yield counted


def signal_at(label: str, step: int, signum: int) -> None:
    """Make the local executor run task `label` with a progress that raises `signum` at `step`."""
    execute = local.execute_task

    def execute_task(task, progress=None):
        if label in [m.label for m in task.members]:
            progress = SignalAt(progress, step, signum)
        return execute(task, progress)

    local.execute_task = execute_task


if __name__ == "__main__":
    label, step, name, separator, *args = sys.argv[1:]
    assert separator == "--", __doc__
    signal_at(label, int(step), getattr(signal, f"SIG{name}"))
    sys.exit(main(args))
