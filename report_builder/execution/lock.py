"""One writer per results directory: a second run waits for the first instead of mixing results."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from report_builder.errors import OutputError

LOCK_NAME = ".lock"


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode(errors="replace").strip()
    return text or "unknown"


@contextmanager
def results_lock(results_dir: Path, say: Callable[[str], None]) -> Iterator[None]:
    """Hold results_dir/.lock (with our pid in it) for the block; wait while another process holds it.

    flock is released by the kernel when its holder dies, even by kill -9, so a lock file left by a
    dead process is simply taken over.
    """
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        # 0o666 less the umask, like every file the tool writes: in a directory a group shares (umask 002)
        # another member of the group can then open the lock too.
        fd = os.open(results_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise OutputError(f"cannot use results directory {results_dir}: {e.strerror or e}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting: another report_builder run (pid {_holder(fd)}) is using {results_dir}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
