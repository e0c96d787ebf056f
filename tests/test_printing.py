"""What the commands print: every printing command survives a reader that goes away (`plan | head -1`),
a run that trains nothing does not say how long it took, hints name commands that work where they are
given, and counts agree with their nouns ("1 task", "1 epoch", "1 comparison")."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text, fixture_result, write_config, write_fixture_results

from report_builder.cli import main
from report_builder.config import load_suite
from report_builder.errors import RenderError
from report_builder.execution.runner import run_suite
from report_builder.progress import Progress
from report_builder.report.render import render_report
from report_builder.results import store


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: how `ls | head` ends when head has gone."""


class ClosedPipe(io.TextIOBase):
    """A stream whose reader has gone: every write fails as a pipe's does (EPIPE)."""

    def __init__(self):
        self.read_end, self.write_end = os.pipe()  # its own descriptors: the CLI points them at /dev/null

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        return self.write_end

    def close_pipe(self):
        os.close(self.read_end)
        os.close(self.write_end)


@contextlib.contextmanager
def closed_pipes():
    """stdout and stderr both go to a pipe nobody reads any more (`cmd 2>&1 | head -0`). Set in the test's
    body: pytest puts its own capture back in place between a fixture's set-up and the test."""
    pipe = ClosedPipe()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = pipe
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        pipe.close_pipe()


@pytest.mark.parametrize("command", ["list", "plan", "run", "render", "report"])
def test_every_printing_command_stops_quietly_when_its_reader_goes(command, tiny_config, tmp_path):
    if command == "render":
        write_fixture_results(tiny_config, tmp_path / "r", {"baseline": {"accuracies": [0.5, 0.6]},
                                                            "sgd": {"accuracies": [0.4, 0.5]}})
    with closed_pipes():
        status = main([command, "--config", str(tiny_config), "--results-dir", str(tmp_path / "r"),
                       "--build-dir", str(tmp_path / "b"), "--no-pdf", "--no-progress"])
    assert status == EXIT_BROKEN_PIPE


def test_help_piped_into_a_reader_that_has_gone_ends_without_a_traceback():
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "report_builder", "--help"], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(write_end)
    assert done.stderr == "" and done.returncode in (0, EXIT_BROKEN_PIPE)


def test_plan_piped_into_head_ends_without_a_traceback(tmp_path):
    """A real pipe, closed before `plan` writes: as `report_builder plan | head -1` after head has exited."""
    config = write_config(tmp_path / "e.toml", config_text("tiny", defaults={"data_dir": str(tmp_path)}))
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "report_builder", "plan", "--config", str(config), "--results-dir",
                           str(tmp_path / "r")], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode == EXIT_BROKEN_PIPE


# ---- a run that trains nothing ------------------------------------------------------------------------

def test_a_result_rebuilt_from_kept_runs_gives_no_time(tiny_config, tmp_path):
    def run_sgd(repeats: int) -> list[str]:
        write_config(tiny_config, tiny_config.read_text().replace('title = "SGD"', f'title = "SGD"\nrepeats = {repeats}')
                     if "repeats" not in tiny_config.read_text() else
                     re.sub(r"repeats = \d", f"repeats = {repeats}", tiny_config.read_text()))
        stream = io.StringIO()
        run_suite(load_suite(tiny_config), ["sgd"], tmp_path / "r", progress=Progress(stream, bars=False))
        return stream.getvalue().splitlines()

    assert re.fullmatch(r"sgd: done in \d+\.\d s, final test accuracy 0\.\d+ \(mean of 2\)", run_sgd(2)[-1])
    lines = run_sgd(1)
    assert re.fullmatch(r"sgd: done, nothing trained, final test accuracy 0\.\d+", lines[-1])
    assert " s," not in lines[-1]


# ---- hints name a command that works here ----------------------------------------------------------

@pytest.fixture
def study_folder(tmp_path, monkeypatch):
    """A study kept in a folder of its own (no Makefile), rendered from there with the default paths."""
    config = write_config(tmp_path / "experiments.toml", config_text("tiny"))
    write_fixture_results(config, tmp_path / "results", {"baseline": {"accuracies": [0.5, 0.6]}})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_a_makefile_a_missing_result_is_brought_up_to_date_by_the_cli(study_folder):
    with pytest.raises(RenderError) as caught:
        render_report(load_suite("experiments.toml"), Path("results"), Path("build"), None, pdf=False)
    assert caught.value.problems == [
        "sgd: no results in results — run `python -m report_builder run sgd --config experiments.toml "
        "--results-dir results`"]
    assert "make " not in str(caught.value)


def test_beside_report_builders_makefile_the_hint_is_the_make_target(study_folder):
    shutil.copy(REPO_DIR / "Makefile", study_folder / "Makefile")
    with pytest.raises(RenderError) as caught:
        render_report(load_suite("experiments.toml"), Path("results"), Path("build"), None, pdf=False)
    assert caught.value.problems == ["sgd: no results in results — run `make experiment NAME=sgd`"]


# ---- counts and their nouns -------------------------------------------------------------------------

def test_plan_of_one_task_says_one_task_and_one_epoch(tmp_path, capsys, tiny_data_dir):
    config = write_config(tmp_path / "e.toml", f'[defaults]\nepochs = 1\ndevice = "cpu"\ndata_dir = "{tiny_data_dir}"\n'
                                               '[experiments.a]\n')
    main(["plan", "--config", str(config), "--results-dir", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert "order (1 task, run alone): a[0]" in out
    assert "1 tasks" not in out and "1 epochs" not in out and "each one" not in out


def rendered_markdown(tmp_path: Path, epochs: int, validation: int = 0, other: list[float] | None = None) -> str:
    config = write_config(tmp_path / "experiments.toml", config_text(
        "one_comparison", defaults={"epochs": epochs, **({"validation": validation} if validation else {})}))
    for name, accuracies in (("baseline", [0.80, 0.84, 0.86][:epochs]), ("other", other or [0.70, 0.74, 0.76][:epochs])):
        doc = fixture_result(config, name, accuracies, repeats=3)
        for run in doc["runs"]:
            for e in run["epochs"]:
                e["val_accuracy"] = e["test_accuracy"] + 0.01 if validation else None
        store.write_result(tmp_path / "results", {k: v for k, v in doc.items() if k != "format"})
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", None, pdf=False)
    return (tmp_path / "build" / "report.md").read_text(encoding="utf-8")


def test_one_epoch_and_one_comparison_are_written_in_the_singular(tmp_path):
    text = rendered_markdown(tmp_path, epochs=1)
    assert "1 epochs" not in text and "1 comparisons" not in text
    assert "lr 0.01, 1 epoch |" in text and "this group's 1 comparison)" in text
    assert "for 1 epoch;" in text  # what was run, before the Findings


def test_sentences_of_the_epoch_tables_caption_do_not_run_together(tmp_path):
    text = rendered_markdown(tmp_path, epochs=3, validation=20)
    assert "Best-validation accuracy (epoch)" in text
    assert re.findall(r"[a-z]\.[A-Z]", text) == []  # "pick.Values"


def test_a_swept_value_is_written_alike_in_sentences_and_table(tmp_path):
    config = write_config(tmp_path / "experiments.toml", '[defaults]\nepochs = 1\ndevice = "cpu"\n'
                          '[sweeps.drop]\nvary = { dropout = [0.0, 0.25], hidden = [[16, 8]] }\n')
    suite = load_suite(config)
    write_fixture_results(config, tmp_path / "results", {p.experiment: {"accuracies": [0.5 + i / 10]}
                                                         for i, p in enumerate(suite.sweeps["drop"].points)})
    render_report(suite, tmp_path / "results", tmp_path / "build", None, pdf=False)
    text = (tmp_path / "build" / "report.md").read_text(encoding="utf-8")
    assert "dropout = 0," in text and "| 0 | \\[16, 8\\] |" in text
    assert re.findall(r"(?<![\d.])0\.0(?!\d)", text) == [] and "(16, 8)" not in text
