"""How the documentation's examples run (tests/test_docs.py), with Sybil parsing the Markdown.

A page's fenced blocks are examples by their language:

- `sh`: each line a command (`make …`, `python -m report_builder …`, `export NAME=value`), run in the
  docs' project folder (tests/fixtures/docs_project.toml on a tiny dataset, with the repository's
  Makefile), as written; each must exit 0.
- `console`: `$ command` lines, each followed by the output it must print (each line found, in order,
  in what the command printed; `…` stands for any text within a line); no traceback may appear.
- `toml`: a fragment of experiments.toml, valid beside the project's experiments; with a title
  (```` ```toml title="broken.toml" ````) it is written to that file in the project instead, unchecked,
  for a later `console` block to use. `csv` blocks with a title are written likewise.
- `python`: run in the project folder; it must exit 0.

`<!-- skip: next -->` (Sybil's own directive) before a block leaves it out, with a comment saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

REPO_DIR = Path(__file__).resolve().parent.parent
TIMEOUT = 600


@dataclass(frozen=True)
class Block:
    source: str
    title: str | None


class TitledBlocks(CodeBlockParser):
    """Fenced blocks of one language, with an optional title="…" after it (mkdocs-material shows it)."""

    def __call__(self, document):
        for region in self.lexers(document):
            language, _, rest = region.lexemes["arguments"].partition(" ")
            if language == self.language:
                title = re.search(r'title="([^"]+)"', rest)
                region.parsed = Block(str(region.lexemes["source"]), title.group(1) if title else None)
                region.evaluator = self._evaluator
                yield region


class Project:
    """The folder every example runs in, made once per test session; identical commands run once."""

    def __init__(self, folder: Path, data_dir: Path):
        from conftest import config_text, write_config

        self.folder = folder
        self.config = write_config(folder / "experiments.toml",
                                   config_text("docs_project", defaults={"data_dir": str(data_dir)}))
        shutil.copy(REPO_DIR / "Makefile", folder / "Makefile")
        shutil.copytree(REPO_DIR / "reference", folder / "reference")
        # `python` in a page means the interpreter the tests run with (the project's), not whichever one PATH
        # finds first: a system Python may lack torch. A make that runs these tests (make test PYTHON=…) passes its command-line variables down in MAKEFLAGS,
        # which would override the project's own: the examples run as a reader's shell runs them.
        inherited = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        self.env = {**inherited, "PYTHON": sys.executable, "PYTHONPATH": str(REPO_DIR), "NO_COLOR": "1",
                    "REPORT_BUILDER_NO_DOWNLOAD": "1",
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.done: dict[str, subprocess.CompletedProcess] = {}
        self.commands_run = 0

    def run(self, command: str) -> subprocess.CompletedProcess:
        if command not in self.done:
            self.commands_run += 1
            self.done[command] = subprocess.run(command, shell=True, cwd=self.folder, env=self.env,
                                                capture_output=True, text=True, timeout=TIMEOUT)
        return self.done[command]


def _commands(source: str) -> list[str]:
    return [line.split(" #")[0].strip() for line in source.splitlines() if line.strip() and not line.startswith("#")]


NOT_RUN = {"make test": "it is this test suite",
           "make test-fast": "it is (most of) this test suite",
           "make preview": "a server until stopped: tests/test_preview.py runs it",
           "make docs-serve": "a server until stopped; `make docs` builds the same site",
           "make bench": "minutes of benchmarks: benchmarks/ has its own checks"}
"""Commands the pages show that these tests do not run, and why."""


def run_sh(example) -> None:
    project: Project = example.namespace["project"]
    for command in _commands(example.parsed.source):
        if command in NOT_RUN:
            example.namespace["not_run"].append(command)
            continue
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            assert name in example.namespace["known_env"], f"{name}: not a variable report_builder reads"
            continue
        done = project.run(command)
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-1500:]}{done.stderr[-3000:]}"


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("…"))
    return re.fullmatch(pattern, actual.strip()) is not None


def run_console(example) -> None:
    project: Project = example.namespace["project"]
    steps: list[tuple[str, list[str]]] = []
    for line in example.parsed.source.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip():
            steps[-1][1].append(line)
    for command, expected in steps:
        done = project.run(command)
        printed = (done.stdout + done.stderr).splitlines()
        assert "Traceback (most recent call last):" not in printed, f"{command}:\n{done.stderr}"
        position = 0
        for want in expected:
            found = next((i for i in range(position, len(printed)) if _matches(want, printed[i])), None)
            assert found is not None, f"{command}: no line like {want!r} in:\n" + "\n".join(printed)
            position = found + 1


def run_toml(example) -> None:
    project: Project = example.namespace["project"]
    block: Block = example.parsed
    if block.title:
        (project.folder / block.title).write_text(block.source, encoding="utf-8")
        return
    from report_builder.config import parse_suite

    declared = project.config.read_text(encoding="utf-8")
    # A fragment that declares a table the project has replaces it (TOML allows a table once).
    for table in re.findall(r"^\[([^\]]+)\]", block.source, flags=re.M):
        declared = re.sub(rf"^\[{re.escape(table)}\]\n(?:(?!\[).*\n)*", "", declared, flags=re.M)
    # The shipped reference CSV names the shipped experiments: declare those the project lacks (parsed only).
    shipped = re.findall(r"^\[experiments\.(\w+)\]", (REPO_DIR / "experiments.toml").read_text(encoding="utf-8"), flags=re.M)
    declared += "".join(f"\n[experiments.{name}]" for name in shipped if f"[experiments.{name}]" not in declared)
    suite = parse_suite(declared + "\n" + block.source, project.folder / "experiments.toml")
    assert suite.experiments


def write_file(example) -> None:
    block: Block = example.parsed
    assert block.title, "a csv block needs a title: the file it is written to"
    (example.namespace["project"].folder / block.title).write_text(block.source, encoding="utf-8")


def run_python(example) -> None:
    project: Project = example.namespace["project"]
    done = subprocess.run([sys.executable, "-c", example.parsed.source], cwd=project.folder, env=project.env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]


SYBIL = Sybil(parsers=[SkipParser(), TitledBlocks("sh", run_sh), TitledBlocks("console", run_console),
                       TitledBlocks("toml", run_toml), TitledBlocks("csv", write_file),
                       TitledBlocks("python", run_python)])


def pages() -> list[Path]:
    """The README and every page of the site (the engineers' drafts in docs/notes/ too)."""
    return [REPO_DIR / "README.md", *sorted((REPO_DIR / "docs").rglob("*.md"))]


def examples() -> list:
    return [example for page in pages() for example in SYBIL.parse(page)]
