"""The results lock in a directory a group shares: made with the umask's mode like every other file, so a
second member of the group can take it."""

from __future__ import annotations

import os
import stat

import pytest

from report_builder.execution.lock import LOCK_NAME, results_lock


@pytest.fixture
def umask():
    """Set the process's umask for one test, then put the previous one back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_with_umask_002_the_lock_is_group_writable(tmp_path, umask):
    umask(0o002)
    with results_lock(tmp_path / "results", say=print):
        pass
    assert mode(tmp_path / "results" / LOCK_NAME) == 0o664


def test_with_umask_007_the_lock_is_for_owner_and_group_only(tmp_path, umask):
    umask(0o007)
    with results_lock(tmp_path / "results", say=print):
        pass
    assert mode(tmp_path / "results" / LOCK_NAME) == 0o660  # 0666 less the umask, as store gives a results file
