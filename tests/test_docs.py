"""The documentation: README.md and the MkDocs site in docs/. The site builds with --strict; every
command and example in it runs (tests/docs_examples.py, with Sybil); its reference pages are generated
from the schema and the parser, its troubleshooting page holds every message the code can print, and the
README stays short."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
from unittest import SkipTest

import pytest
from conftest import REPO_DIR, write_dataset
from docs_examples import NOT_RUN, SYBIL, Project, pages

from report_builder.config import schema
from report_builder.results.store import SUMMARY_COLUMNS

DOCS_DIR = REPO_DIR / "docs"


def page_id(path) -> str:
    return str(path.relative_to(REPO_DIR))


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Project:
    folder = tmp_path_factory.mktemp("docs_project")
    return Project(folder, write_dataset(folder / "data", n_train=256, n_test=64))


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_every_example_of_the_page_runs(page, project):
    """In the page's order: a command may need the results an earlier one made."""
    document = SYBIL.parse(page)
    document.namespace.update(project=project, known_env=KNOWN_ENV, not_run=[])
    for example in document:
        try:
            example.evaluate()
        except SkipTest:  # `<!-- skip: next "why" -->` in the page: Sybil's own way to leave a block out
            continue
    assert set(document.namespace["not_run"]) <= set(NOT_RUN)


KNOWN_ENV = {"REPORT_BUILDER_DATA_DIR", "REPORT_BUILDER_NO_DOWNLOAD", "REPORT_BUILDER_FUSED", "CUDA_VISIBLE_DEVICES",
             "CUDA_DEVICE_ORDER", "CI"}
"""The environment variables the tool or its tests read, each documented on the command line page."""


def test_every_environment_variable_the_code_reads_is_documented():
    read = set()
    for path in (REPO_DIR / "report_builder").rglob("*.py"):
        read |= set(re.findall(r'"(REPORT_BUILDER_[A-Z_]+|CUDA_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    cli_page = (DOCS_DIR / "cli.md").read_text(encoding="utf-8")
    assert read <= KNOWN_ENV
    assert [name for name in sorted(KNOWN_ENV) if f"`{name}`" not in cli_page] == []


def test_the_site_builds_with_strict_checks(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO_DIR, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO_DIR), "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    reference = (tmp_path / "site" / "configuration" / "index.html").read_text(encoding="utf-8")
    cli_page = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "<code>poll_seconds</code>" in reference and "<code>wait_seconds</code>" in reference and "<code>--no-stack</code>" in cli_page
    assert not (tmp_path / "site" / "notes").exists()  # engineers' notes are drafts


# ---- generated from the code ------------------------------------------------------------------------

def hooks():
    sys.path.insert(0, str(DOCS_DIR))
    try:
        import hooks as module
    finally:
        sys.path.remove(str(DOCS_DIR))
    return module


SCHEMA_CLASSES = (schema.ReportConfig, schema.TrainConfig, schema.ExperimentText, schema.GroupConfig,
                  schema.SweepConfig, schema.ExecutorConfig, schema.TimingConfig, schema.ReferenceConfig)


def test_the_reference_page_lists_every_key_of_every_table_with_its_default():
    page = hooks().config_reference()
    for cls in SCHEMA_CLASSES:
        for f in dataclasses.fields(cls):
            if "doc" in f.metadata:
                assert f"| `{f.name}` |" in page, f"{cls.__name__}.{f.name}"
    assert "| `lr` | a number | `0.001` | > 0 | Learning rate. |" in page
    assert "| `kind` | a string | `\"local\"` | `\"local\"`, `\"local-gpus\"`, `\"slurm\"` |" in page


def test_a_key_added_to_the_schema_appears_in_the_reference(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class WithThreads(schema.ReportConfig):
        threads: int = schema.key(1, "Torch threads per run.", minimum=1)

    module = hooks()
    monkeypatch.setattr(module, "TABLES", [("[report]", (WithThreads,), "The writeup.")])
    assert "| `threads` | an integer | `1` | ≥ 1 | Torch threads per run. |" in module.config_reference()


def test_the_cli_page_lists_every_command_and_option_of_the_parser():
    from report_builder.cli import _parser

    page = hooks().cli_reference()
    commands = next(a for a in _parser()._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert f"### `{name}`" in page
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page, f"{name} {option}"


def test_the_notes_on_keys_name_only_keys_the_schema_has():
    text = (DOCS_DIR / "configuration.md").read_text(encoding="utf-8")
    noted = re.findall(r"^- \*\*`(\w+)`\*\*:", text.split("## More on some keys")[1], flags=re.M)
    known = {f.name for cls in SCHEMA_CLASSES for f in dataclasses.fields(cls)}
    assert noted and set(noted) <= known


def test_every_summary_column_is_documented():
    text = (DOCS_DIR / "exports.md").read_text(encoding="utf-8")
    assert [c for c in SUMMARY_COLUMNS if f"`{c}`" not in text] == []


def test_every_file_the_pages_name_exists():
    """`execution/runner.py`, `report_builder/paths.py`, `fused.py`: each is a file of the repository."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_DIR,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    named = {name for page in pages() for name in re.findall(r"`([\w/.-]+\.(?:py|toml|json|csv|j2|md))`",
                                                             page.read_text(encoding="utf-8"))}
    outputs = ("build/", "results/", "site/", "my-study/", "claims.json")  # what the tool writes
    missing = [name for name in sorted(named) if not name.startswith(outputs) and "NAME" not in name and "BRANCH" not in name
               and not any(f == name or f.endswith("/" + name) for f in files)]
    assert len(named) > 40 and missing == []


# ---- every message the code can print is on the troubleshooting page -----------------------------------

ERRORS = {"ReportBuilderError", "SetupError", "ConfigError", "DataError", "ResultsError", "OutputError", "RenderError"}
MESSAGE_FUNCTIONS = {"_range_problem", "missing_message", "_why", "_same_experiment"}
"""Functions whose returned text is (part of) a message."""
SHORTEST = 12
"""A message's longest fixed part must be at least this long to identify it; shorter ones are messages made
of parts (`{where} {name}: {problem}`), whose parts are checked where they are made."""


def _fixed_parts(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts, current = [], ""
        for value in node.values:
            if isinstance(value, ast.Constant):
                current += value.value
            else:
                parts.append(current)
                current = ""
        return parts + [current]
    if isinstance(node, ast.BinOp):
        return _fixed_parts(node.left) + _fixed_parts(node.right)
    if isinstance(node, ast.IfExp):
        return _fixed_parts(node.body) + _fixed_parts(node.orelse)
    return []


def messages() -> list[tuple[str, str]]:
    """(where, the message's longest fixed part) for every error, problem, warning and message text in the code."""
    found = []
    for path in sorted((REPO_DIR / "report_builder").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            texts = []
            if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name)
                    and node.exc.func.id in ERRORS and node.exc.args):
                texts = [node.exc.args[0]]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                  and (node.func.attr == "warn" or (node.func.attr == "append" and getattr(node.func.value, "id", "") == "problems"))):
                texts = [node.args[0]]
            elif isinstance(node, ast.FunctionDef) and node.name in MESSAGE_FUNCTIONS:
                texts = [n.value for n in ast.walk(node) if isinstance(n, (ast.Return, ast.AugAssign)) and n.value]
            for text in texts:
                parts = [" ".join(p.split()) for p in _fixed_parts(text)]
                longest = max(parts, key=len, default="").strip(" :;(,")
                if len(longest) >= SHORTEST:
                    found.append((f"{path.relative_to(REPO_DIR)}:{node.lineno}", longest))
    return found


def test_the_troubleshooting_page_holds_every_message_the_code_can_print():
    page = " ".join((DOCS_DIR / "troubleshooting.md").read_text(encoding="utf-8").replace("\\|", "|").split())
    assert len(messages()) > 60
    assert [f"{where}: {text!r}" for where, text in messages() if text not in page] == []


# ---- the README -------------------------------------------------------------------------------------

README = (REPO_DIR / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_short():
    assert len(README.splitlines()) <= 150


def test_the_readme_shows_the_first_page_of_a_real_report():
    (image,) = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", README)
    assert (REPO_DIR / image).read_bytes().startswith(b"\x89PNG")


def test_the_readme_gives_the_two_set_up_and_five_daily_commands():
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    commands = [[line.split("#")[0].strip() for line in block.splitlines() if line.strip()] for block in blocks]
    assert commands[0] == ["make test", "make report"]
    assert commands[1] == ["make plan", "make report", "make experiment NAME=sgd FORCE=1", "make render", "make preview"]


def test_every_link_of_the_readme_leads_to_a_page_of_the_site():
    links = [link for link in re.findall(r"\]\(([^)]+)\)", README) if not link.startswith("http")]
    assert links and [link for link in links if not (REPO_DIR / link.split("#")[0]).is_file()] == []
    nav = (REPO_DIR / "mkdocs.yml").read_text(encoding="utf-8")
    assert [link for link in links if link.endswith(".md") and link.removeprefix("docs/") not in nav] == []


# ---- templates/README.md ----------------------------------------------------------------------------

def test_the_templates_readme_example_section_renders(tmp_path):
    """templates/README.md's "a section for a new experiment group", followed as written."""
    import shutil

    from conftest import config_text, write_config, write_fixture_results

    from report_builder.config import load_suite
    from report_builder.report.render import render_report

    guide = (REPO_DIR / "templates" / "README.md").read_text(encoding="utf-8")
    toml = re.findall(r"```toml\n(.*?)```", guide, flags=re.S)[0]
    jinja = re.findall(r"```jinja\n(.*?)```", guide, flags=re.S)[-1]
    declared = config_text(defaults={"epochs": 3, "device": "cpu", "repeats": 3},
                           experiments={"baseline": {"title": "Baseline"}})
    config = write_config(tmp_path / "experiments.toml", declared + "\n".join(l.strip() for l in toml.splitlines()))
    write_fixture_results(config, tmp_path / "results", {
        "baseline": {"accuracies": [0.8, 0.84, 0.86], "repeats": 3, "seconds": 1.0},
        "wide": {"accuracies": [0.81, 0.85, 0.87], "repeats": 3, "seconds": 4.0}})
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "groups" / "width.html.j2").write_text("\n".join(l[3:] for l in jinja.splitlines()))
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    html = " ".join((tmp_path / "build" / "report.html").read_text().split())
    from rounds_fixture import write_timing

    # without timing rounds no speed is stated; with rounds (wide 4× the baseline's seconds) it is
    assert "Four times the hidden units changed final accuracy by +1.0 points" in html
    write_timing(tmp_path / "results", config, {"baseline": [1.0, 1.02, 0.99, 1.0, 1.01], "wide": [4.0, 4.1, 3.95, 4.0, 4.02]})
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    html = " ".join((tmp_path / "build" / "report.html").read_text().split())
    assert "Four times the hidden units cost 4.0× the time per epoch, and they changed final accuracy by +1.0 points" in html
