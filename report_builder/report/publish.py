"""Publish a render's HTML, PDF and figures together: a reader (or a killed render) sees the previous
complete set or the new one, never a mix.

Each render writes a fresh version directory, build/.versions/ID/ (report.html, report.pdf, figures/, and
the exports report.md, tables/, claims.json). build/current is a symbolic link to the published version,
and build/report.html, build/report.pdf, build/figures and each export are links through it
(current/report.html, …). Publishing replaces `current` in one atomic
rename, so all of them switch at once; then older versions are removed. A version without a PDF (--no-pdf,
or no WeasyPrint) also removes build/report.pdf, so a PDF of an older report is never left beside the
new HTML.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from report_builder import paths

VERSIONS_DIR = ".versions"
CURRENT = "current"
EXPORTS = ("report.md", "tables", "claims.json")
PUBLISHED = ("report.html", "report.pdf", "figures", *EXPORTS)


def stage(build_dir: Path) -> Path:
    """A new, empty version directory for one render."""
    versions = paths.inside(build_dir, VERSIONS_DIR)
    versions.mkdir(parents=True, exist_ok=True)
    version = paths.inside(versions, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}")
    version.mkdir()
    return version


def _link(build_dir: Path, name: str, target: str) -> None:
    """Make build_dir/name a symbolic link to `target`, replacing what is there in one rename."""
    path = paths.inside(build_dir, name)
    if path.is_symlink() and os.readlink(path) == target:
        return
    if path.is_dir() and not path.is_symlink():  # a build directory from before versions: a real folder
        shutil.rmtree(path)
    tmp = paths.inside(build_dir, f".{name}.link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def publish(build_dir: Path, version: Path) -> None:
    """Make `version` the published report, atomically; then tidy up."""
    _link(build_dir, CURRENT, f"{VERSIONS_DIR}/{version.name}")
    for name in PUBLISHED:
        if (version / name).exists():
            _link(build_dir, name, f"{CURRENT}/{name}")
        else:
            path = paths.inside(build_dir, name)
            if path.is_symlink() or path.is_file():
                path.unlink()
    remove_old_versions(build_dir, keep=version.name)


def discard(version: Path) -> None:
    shutil.rmtree(version, ignore_errors=True)


def published_version(build_dir: Path) -> str | None:
    current = paths.inside(build_dir, CURRENT)
    return Path(os.readlink(current)).name if current.is_symlink() else None


def remove_old_versions(build_dir: Path, keep: str | None = None) -> None:
    """Every version but the published one (and `keep`): leftovers of earlier or killed renders."""
    versions = paths.inside(build_dir, VERSIONS_DIR)
    if not versions.is_dir():
        return
    published = published_version(build_dir)
    for entry in versions.iterdir():
        if entry.name not in (published, keep) and not _being_written(entry.name):
            shutil.rmtree(entry, ignore_errors=True)


def _being_written(name: str) -> bool:
    """Whether another live process is rendering into this version (its name holds the process id)."""
    try:
        pid = int(name.split("-")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
