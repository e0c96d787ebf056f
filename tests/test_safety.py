"""An experiments file from someone else is safe to run: names are confined, every written path stays in
its directory, a killed render leaves a whole report, other scripts' titles draw, files are readable."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import config_text, two_experiment_project, write_config

from report_builder import paths
from report_builder.config import load_suite, parse_suite
from report_builder.errors import ConfigError, NoPdfWarning, OutputError, ReportBuilderWarning
from report_builder.report.render import pdf_available, render_report
from report_builder.results import store


# The parse_suite inputs below stay inline TOML: each test is about how the quoted name it shows is refused.
@pytest.mark.parametrize("name, suggestion", [
    ("/tmp/zz_abs", "tmp_zz_abs"), ("../../zz_pwned", "zz_pwned"), ("a/zz_b", "a_zz_b"), ("a\nb", "a_b"),
    ("-starts-with-dash", "starts-with-dash"), ("x" * 65, "x" * 64), ("名前", "experiment")])
def test_unsafe_experiment_names_are_config_errors_with_a_safe_suggestion(name, suggestion):
    escaped = name.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    with pytest.raises(ConfigError) as caught:
        parse_suite(f'[experiments."{escaped}"]\n', Path("experiments.toml"))
    (problem,) = caught.value.problems
    assert problem.startswith('experiments.toml: [experiments."')
    assert f"rename it, e.g. to '{suggestion}'" in problem


@pytest.mark.parametrize("declared", ["[experiments.{taken}]", '[experiments.a]\n[groups.{taken}]\nexperiments = ["a"]'])
def test_a_suggested_safe_name_is_not_one_already_declared(declared):
    long_name, taken = "x" * 65, "x" * 64
    with pytest.raises(ConfigError) as caught:
        parse_suite(declared.format(taken=taken) + f'\n[experiments."{long_name}"]\n', Path("experiments.toml"))
    (problem,) = caught.value.problems
    assert problem.endswith(f"rename it, e.g. to '{'x' * 62}_2'")


def test_two_unsafe_names_get_different_suggestions():
    with pytest.raises(ConfigError) as caught:
        parse_suite('[experiments."a b"]\n[experiments."a/b"]\n', Path("experiments.toml"))
    suggestions = [p.rsplit("e.g. to ", 1)[1] for p in caught.value.problems]
    assert suggestions == ["'a_b'", "'a_b_2'"]


def test_unsafe_group_names_are_config_errors():
    with pytest.raises(ConfigError) as caught:
        parse_suite('[experiments.a]\n[groups."../g"]\nexperiments = ["a"]\n', Path("experiments.toml"))
    assert "group names may hold only letters, digits" in caught.value.problems[0]


@pytest.mark.slow  # the CLI as a process
def test_a_refused_name_stops_the_run_before_anything_is_written(tmp_path):
    config = write_config(tmp_path / "experiments.toml", config_text(experiments={"../../zz_pwned": {}}))
    done = subprocess.run([sys.executable, "-m", "report_builder", "run", "--config", str(config), "--results-dir",
                           str(tmp_path / "results")], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "rename it, e.g. to 'zz_pwned'" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.parent.glob("zz_pwned*"))
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["/tmp/zz_abs", "../../zz_pwned", "a/zz_b", "..", ".", "", "a\0b"])
def test_the_path_guard_refuses_names_the_config_check_would_refuse(tmp_path, name):
    """Each path is refused, or (".." + ".json" is the harmless file name "...json") stays in its folder."""
    builders = {lambda: paths.result_file(tmp_path, name): tmp_path,
                lambda: paths.repeat_file(tmp_path, name, 0): tmp_path / ".repeats" / name,
                lambda: paths.repeats_dir(tmp_path, name): tmp_path / ".repeats",
                lambda: paths.figure_file(tmp_path, name, "svg"): tmp_path,
                lambda: paths.build_file(tmp_path, name): tmp_path}
    for build, folder in builders.items():
        try:
            path = build()
        except OutputError as e:
            assert "one plain path component" in str(e) or "outside" in str(e)
        else:
            assert path.parent == folder and path.name not in (".", "..")


def test_the_path_guard_alone_keeps_writes_inside(tmp_path):
    with pytest.raises(OutputError, match="one plain path component"):
        store.write_result(tmp_path, {"experiment": "../escaped", "status": "done"})
    assert not (tmp_path.parent / "escaped.json").exists()
    assert paths.result_file(tmp_path, "ok") == tmp_path / "ok.json"


def test_new_files_get_the_umask_mode_not_mkstemp_private_mode(tmp_path):
    old = os.umask(0o022)
    try:
        store._umask.cache_clear()
        store.write_atomic(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
        store._umask.cache_clear()
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


# ---- a render killed at any moment ------------------------------------------------------------------




@pytest.fixture
def killable(tmp_path):
    return two_experiment_project(tmp_path, "Kill test")


def set_marker(project: Path, marker: str) -> None:
    title = project / "templates" / "sections" / "title.html.j2"
    text = re.sub(r"<!--marker-->.*?<!--/marker-->", "", title.read_text())
    title.write_text(text.replace("</h1>", f"</h1><p><!--marker-->{marker}<!--/marker--></p>", 1))


def marker_of(project: Path) -> tuple[str | None, str | None]:
    """The marker of the published HTML and of the published PDF (None where absent)."""
    build = project / "build"
    html = (build / "report.html").read_text() if (build / "report.html").exists() else None
    pdf = None
    if (build / "report.pdf").exists():
        from pypdf import PdfReader

        pdf = PdfReader(build / "report.pdf").pages[0].extract_text()
    found = [re.search(r"MARKER-(\w+)", t).group(1) if t and re.search(r"MARKER-(\w+)", t) else None
             for t in (html, pdf)]
    return found[0], found[1]


@pytest.mark.skipif(not pdf_available(), reason="WeasyPrint is not installed")
@pytest.mark.slow  # renders the PDF
def test_a_render_killed_at_any_moment_leaves_one_whole_report(killable):
    set_marker(killable, "MARKER-old")
    render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                  killable / "templates")
    assert marker_of(killable) == ("old", "old")
    set_marker(killable, "MARKER-new")
    outcomes = set()
    for delay in (0.3, 0.8, 1.5, 2.2, 3.0, 4.5):
        process = subprocess.Popen([sys.executable, "-m", "report_builder", "render", "--config",
                                    str(killable / "experiments.toml"), "--results-dir", str(killable / "results"),
                                    "--build-dir", str(killable / "build"), "--templates", str(killable / "templates")],
                                   cwd=killable, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        html, pdf = marker_of(killable)
        assert html == pdf and html in ("old", "new"), (delay, html, pdf)
        figures = os.path.realpath(killable / "build" / "figures")
        assert os.path.dirname(figures) == os.path.dirname(os.path.realpath(killable / "build" / "report.html"))
        outcomes.add(html)
        if html == "new":  # published: start again from the old report for the next delay
            set_marker(killable, "MARKER-old")
            render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                          killable / "templates")
            set_marker(killable, "MARKER-new")
    assert "old" in outcomes  # at least one kill landed before the publish


@pytest.mark.slow  # renders the PDF
def test_a_failing_pdf_keeps_the_previous_report(killable, monkeypatch):
    from report_builder.errors import RenderError
    from report_builder.report import render

    set_marker(killable, "MARKER-old")
    render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                  killable / "templates", pdf=False)
    set_marker(killable, "MARKER-new")

    def broken(*args, **kwargs):
        raise ValueError("no fonts at all")

    monkeypatch.setattr(render, "pdf_available", lambda: True)
    monkeypatch.setattr(render, "write_pdf", broken)
    with pytest.raises(RenderError, match="the PDF could not be made .*previous report .* is unchanged"):
        render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                      killable / "templates")
    assert "MARKER-old" in (killable / "build" / "report.html").read_text()
    assert len(list((killable / "build" / ".versions").iterdir())) == 1


@pytest.mark.slow  # renders the PDF
def test_no_pdf_leaves_no_older_pdf_beside_the_new_html(killable):
    if pdf_available():
        render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                      killable / "templates")
        assert (killable / "build" / "report.pdf").exists()
    with pytest.warns(NoPdfWarning) as caught:
        render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                      killable / "templates", pdf=False)
    assert not (killable / "build" / "report.pdf").exists()
    assert [str(w.message) for w in caught] == [
        f"no PDF (--no-pdf); {killable / 'build' / 'report.html'} is the report, and no older report.pdf is left "
        f"beside it"]


@pytest.mark.slow  # renders whole reports
def test_figures_of_removed_groups_do_not_linger(killable):
    render_report(load_suite(killable / "experiments.toml"), killable / "results", killable / "build",
                  killable / "templates", pdf=False)
    assert (killable / "build" / "figures" / "g-curves.svg").exists()
    config = killable / "experiments.toml"
    config.write_text(config.read_text().replace("[groups.g]", "[groups.h]"))
    render_report(load_suite(config), killable / "results", killable / "build", killable / "templates", pdf=False)
    names = {p.name for p in (killable / "build" / "figures").iterdir()}
    assert "h-curves.svg" in names and not any(n.startswith("g-") for n in names)


# ---- titles in other scripts ------------------------------------------------------------------------

@pytest.mark.slow  # the CLI as a process
def test_titles_in_other_scripts_draw_with_a_fallback_font_or_one_warning(killable):
    from report_builder.report import fonts as plots

    config = killable / "experiments.toml"
    config.write_text(config.read_text().replace('title = "Baseline"', 'title = "기준선 基线"'))
    # A process of its own: what a user sees is decided by its warning filters, not by pytest's.
    done = subprocess.run([sys.executable, "-m", "report_builder", "render", "--no-pdf", "--config", str(config),
                           "--results-dir", str(killable / "results"), "--build-dir", str(killable / "build"),
                           "--templates", str(killable / "templates")], capture_output=True, text=True)
    err = done.stderr
    assert done.returncode == 0, err
    assert "Glyph" not in err
    if plots._missing(["기준선 基线"]):
        assert err.count("warning: figures: no installed font has the characters") == 1
        assert "fonts-noto-cjk" in err
    else:
        assert "no installed font" not in err
        assert len(plots.font_families()) > 1
    assert "기준선 基线" in (killable / "build" / "report.html").read_text()


def test_characters_no_font_has_are_one_project_warning(monkeypatch):
    from report_builder.report import fonts

    monkeypatch.setattr(fonts, "_warned_missing", set())
    unmapped = "\U0010fffd"  # a private-use character: no font draws it
    with pytest.warns(ReportBuilderWarning) as caught:
        fonts.check_glyphs([f"a {unmapped}"])
        fonts.check_glyphs([unmapped])
    assert [str(w.message) for w in caught] == [
        f"figures: no installed font has the characters {unmapped!r} (1 missing, drawn as boxes); install "
        f"{fonts.FONT_PACKAGE_HINT}"]


@pytest.mark.slow  # renders whole reports
def test_hostile_titles_stay_inert(killable):
    config = killable / "experiments.toml"
    config.write_text(config.read_text().replace('title = "Baseline"', 'title = "<script>alert(1)</script>{{ 7*7 }}"'))
    render_report(load_suite(config), killable / "results", killable / "build", killable / "templates", pdf=False)
    html = (killable / "build" / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "{{ 7*7 }}" in html and ">49<" not in html
