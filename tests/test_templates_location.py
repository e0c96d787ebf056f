"""The shipped templates are found wherever the command runs and however the package is installed (run
from a source tree, an editable install, a built wheel); a templates folder of the user's own comes first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.cli import main

RENDER = ["render", "--no-pdf", "--config", "experiments.toml"]


def study(folder: Path) -> Path:
    """A study's own folder: an experiments file and its results, no templates."""
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder / "experiments.toml", config_text("two_experiments", report={"title": "Study"}))
    write_fixture_results(config, folder / "results", {"baseline": {"accuracies": [0.8, 0.84, 0.86]},
                                                      "other": {"accuracies": [0.7, 0.75, 0.8]}})
    return folder


def templates_with_marker(folder: Path, marker: str) -> Path:
    shutil.copytree(REPO_DIR / "templates", folder)
    title = folder / "sections" / "title.html.j2"
    title.write_text(title.read_text().replace("</h1>", f"</h1><p>{marker}</p>", 1))
    return folder


def test_a_study_folder_renders_with_the_shipped_templates(tmp_path, monkeypatch):
    monkeypatch.chdir(study(tmp_path / "study"))
    assert main(RENDER) == 0
    assert "Study" in (tmp_path / "study" / "build" / "report.html").read_text()


def test_a_templates_folder_in_the_working_folder_comes_first(tmp_path, monkeypatch):
    folder = study(tmp_path / "study")
    templates_with_marker(folder / "templates", "OWN-TEMPLATES")
    monkeypatch.chdir(folder)
    assert main(RENDER) == 0
    assert "OWN-TEMPLATES" in (folder / "build" / "report.html").read_text()


def test_the_templates_option_comes_first(tmp_path, monkeypatch):
    folder = study(tmp_path / "study")
    templates_with_marker(folder / "templates", "WORKING-FOLDER")
    templates_with_marker(tmp_path / "mine", "OPTION")
    monkeypatch.chdir(folder)
    assert main([*RENDER, "--templates", str(tmp_path / "mine")]) == 0
    html = (folder / "build" / "report.html").read_text()
    assert "OPTION" in html and "WORKING-FOLDER" not in html


# ---- installed copies of the package ----------------------------------------------------------------

def project_copy(folder: Path) -> Path:
    """The files a build reads, copied, so that building writes nothing into the source tree."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("report_builder", "templates"):
        shutil.copytree(REPO_DIR / name, folder / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO_DIR / name, folder / name)
    return folder


def venv_with_this_pythons_packages(folder: Path) -> Path:
    """A venv without report_builder that sees the packages of the Python running the tests (no network)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site_packages = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    # Plain paths: .pth files there (an editable report_builder of another checkout) are not run.
    # A .venv inside the checkout (make's own) counts too: only its .pth hooks are left behind.
    ours = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    Path(site_packages, "packages_of_the_test_python.pth").write_text("\n".join(ours) + "\n")
    return python


def pip(python: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check",
                           "--no-input", "--quiet", *args, "--no-deps", "--no-build-isolation", "--no-index"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def render_with(python: Path, folder: Path) -> tuple[str, str]:
    """(where report_builder was imported from, the rendered HTML), running the installed package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([python, "-c", "import report_builder; print(report_builder.__file__)"], cwd=folder,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    done = subprocess.run([python, "-m", "report_builder", *RENDER], cwd=folder, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return where, (folder / "build" / "report.html").read_text()


@pytest.mark.install
def test_a_built_wheel_carries_the_templates_and_renders_with_them(tmp_path):
    source = project_copy(tmp_path / "source")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("report_builder-*.whl")
    python = venv_with_this_pythons_packages(tmp_path / "venv")
    pip(python, "install", str(wheel))
    shutil.rmtree(source)  # the installed copy alone must do

    where, html = render_with(python, study(tmp_path / "study"))
    assert Path(where).is_relative_to(tmp_path / "venv")
    assert "Study" in html


@pytest.mark.install
def test_an_editable_install_renders_with_the_top_level_templates(tmp_path):
    source = project_copy(tmp_path / "source")
    templates_with_marker_in_place = source / "templates" / "sections" / "title.html.j2"
    templates_with_marker_in_place.write_text(
        templates_with_marker_in_place.read_text().replace("</h1>", "</h1><p>EDITED-IN-PLACE</p>", 1))
    python = venv_with_this_pythons_packages(tmp_path / "venv")
    pip(python, "install", "--editable", str(source))

    where, html = render_with(python, study(tmp_path / "study"))
    assert Path(where).is_relative_to(source)
    assert "EDITED-IN-PLACE" in html
