"""The Makefile's variables carry any path: spaces and quotes reach the CLI as one argument each."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_DIR, config_text, write_config, write_fixture_results


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(REPO_DIR), *args, f"PYTHON={sys.executable}"], capture_output=True,
                          text=True, timeout=300)


def test_render_reads_and_writes_folders_whose_names_hold_spaces_and_quotes(tmp_path):
    folder = tmp_path / "my study's files"
    folder.mkdir()
    config = write_config(folder / "experiments.toml", config_text("tiny"))
    write_fixture_results(config, folder / "results dir", {"baseline": {"accuracies": [0.5, 0.6]},
                                                           "sgd": {"accuracies": [0.4, 0.5]}})
    done = make("render", f"CONFIG={config}", f"RESULTS={folder / 'results dir'}", f"BUILD={folder / 'build dir'}",
                "ARGS=--no-pdf")
    assert done.returncode == 0, done.stderr
    assert (folder / "build dir" / "report.html").is_file()


def test_clean_removes_exactly_the_folders_named(tmp_path):
    (tmp_path / "my").mkdir()  # what `rm -rf my dir/results` would take with it
    (tmp_path / "my dir" / "results").mkdir(parents=True)
    done = make("clean", f"RESULTS={tmp_path / 'my dir' / 'results'}", f"BUILD={tmp_path / 'my dir' / 'build'}")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "my").is_dir() and not (tmp_path / "my dir" / "results").exists()
