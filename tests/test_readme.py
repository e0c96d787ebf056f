"""The README is the user's reference: it must name every config key and every summary column."""

from __future__ import annotations

import dataclasses

from conftest import REPO_DIR

from report_builder.config import TrainConfig
from report_builder.results.store import SUMMARY_COLUMNS

README = (REPO_DIR / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_config_key():
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f"| `{f.name}` |" not in README]
    assert missing == []


def test_readme_documents_every_summary_column():
    missing = [c for c in SUMMARY_COLUMNS if f"`{c}`" not in README]
    assert missing == []


# ---- the README's code blocks run -------------------------------------------------------------------

import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
from conftest import config_text, write_config, write_dataset  # noqa: E402

BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S)
NOT_RUN = {"make test": "it is this test suite", "make preview": "a server: tests/test_preview.py runs it"}

def commands() -> list[str]:
    lines = [line.split("#")[0].strip() for lang, body in BLOCKS if lang == "sh" for line in body.splitlines()]
    return [line for line in lines if line.startswith(("make ", "python -m report_builder"))]


def test_the_readme_has_the_commands_a_newcomer_runs_first():
    assert commands()[:2] == ["make report", "make test"]


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    data = write_dataset(folder / "data", n_train=256, n_test=64)
    write_config(folder / "experiments.toml", config_text("readme_small", defaults={"data_dir": str(data)}))
    return folder


def test_every_readme_shell_command_runs(small_project):
    for command in commands():
        if command in NOT_RUN:
            continue
        words = command.split()
        if words[0] == "make":
            run = ["make", "-C", str(REPO_DIR), *words[1:], f"PYTHON={sys.executable}",
                   f"CONFIG={small_project / 'experiments.toml'}", f"RESULTS={small_project / 'results'}",
                   f"BUILD={small_project / 'build'}"]
        else:
            run = [sys.executable, *words[1:], "--config", str(small_project / "experiments.toml"), "--results-dir",
                   str(small_project / "results"), "--build-dir", str(small_project / "build")]
        done = subprocess.run(run, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    assert (small_project / "build" / "report.html").exists()


def test_the_readme_python_snippet_gives_every_experiment_its_own_final_epoch(small_project):
    (snippet,) = [body for lang, body in BLOCKS if lang == "python"]
    if not (small_project / "results" / "summary.csv").exists():
        subprocess.run([sys.executable, "-m", "report_builder", "run", "--config",
                        str(small_project / "experiments.toml"), "--results-dir", str(small_project / "results")],
                       check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", snippet], cwd=small_project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert all(name in done.stdout for name in ("baseline", "sgd", "short"))  # "short" ran 1 epoch, not 2


def test_every_readme_toml_block_is_valid(tmp_path):
    from report_builder.config import load_suite, parse_suite

    shutil.copytree(REPO_DIR / "reference", tmp_path / "reference")
    # The shipped reference CSV names the shipped experiments, and a CSV row for an undeclared one is an error.
    shipped = load_suite(REPO_DIR / "experiments.toml").experiments
    for lang, body in BLOCKS:
        if lang == "toml":
            declared = "".join(f"[experiments.{n}]\n" for n in shipped if f"[experiments.{n}]" not in body)
            suite = parse_suite(declared + body, tmp_path / "experiments.toml")
            assert suite.experiments


def test_the_templates_readme_example_section_renders(tmp_path):
    """templates/README.md's "a section for a new experiment group", followed as written."""
    from conftest import write_fixture_results

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
    assert "Four times the hidden units cost 4.0× the time per epoch, and they changed final accuracy by +1.0 points" in html
