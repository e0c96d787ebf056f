"""The writeup: rendered from results files alone, numbers from the fixtures, clear errors, no network."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results
from rounds_fixture import write_timing
from pypdf import PdfReader

from report_builder.cli import main
from report_builder.config import load_suite
from report_builder.errors import RenderError
from report_builder.report.render import render_report

SUITE = config_text("render")


def render_project(folder: Path) -> Path:
    """A suite with fixture results and a private copy of the shipped templates."""
    config = write_config(folder / "experiments.toml", SUITE)
    write_fixture_results(config, folder / "results", {
        "baseline": {"accuracies": [0.80, 0.85, 0.8612], "seconds": 2.0},
        "fast": {"accuracies": [0.79, 0.84, 0.8534], "seconds": 1.0},
        "probed": {"accuracies": [0.80, 0.85, 0.86], "probes": {"relu_active": [3000, 2500, 2000],
                                                                 "relu_grad_sq": [4.0, 3.0, 2.5]}},
    })
    # Big batches 2× faster in every timing round, on a quiet machine
    write_timing(folder / "results", config, {"baseline": [2.0, 2.1, 1.9, 2.0, 2.0], "fast": [1.0, 1.05, 0.95, 1.0, 1.0]})
    shutil.copytree(REPO_DIR / "templates", folder / "templates")
    return folder


@pytest.fixture
def project(tmp_path):
    return render_project(tmp_path)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The project rendered once (HTML) for the tests that only read it: they never write into it."""
    project = render_project(tmp_path_factory.mktemp("render"))
    render(project)
    return project


def render(project, pdf=False):
    return render_report(load_suite(project / "experiments.toml"), project / "results", project / "build",
                         project / "templates", pdf=pdf)


def html_of(project) -> str:
    render(project)
    return (project / "build" / "report.html").read_text(encoding="utf-8")


def test_html_shows_the_fixture_numbers(rendered):
    html = (rendered / "build" / "report.html").read_text(encoding="utf-8")
    assert "86.1%" in html and "85.3%" in html          # final accuracies of one run, in percent
    assert "2.00×" in html                               # big batches: 2.0 s → 1.0 s per epoch in the rounds
    assert "−0.8" in html                                # Δ accuracy in points vs baseline
    assert "3,000" in html and "2,000" in html           # relu_active counts


def test_narrative_sentence_is_computed_from_results(rendered):
    html = (rendered / "build" / "report.html").read_text(encoding="utf-8")
    assert "Big batches trained 2.00× faster per epoch than Baseline run (95% CI" in html


def test_html_is_self_contained(rendered):
    html = (rendered / "build" / "report.html").read_text(encoding="utf-8")
    assert 'src="data:image/svg+xml;base64,' in html and "<style>" in html
    for external in ('src="http', "href=\"http", "url(http", "<link", "<script"):
        assert external not in html


def test_figures_are_also_files(rendered):
    names = {p.name for p in (rendered / "build" / "figures").iterdir()}
    assert {"batch_size-curves.svg", "batch_size-curves.png", "relu_gradient-probed-probes.png", "glance.svg",
            "glance.png", "glance.pdf"} <= names


def test_cpu_runs_say_so_before_any_result(rendered):
    html = (rendered / "build" / "report.html").read_text(encoding="utf-8")
    assert html.index("Run on a CPU (Test CPU), so times are CPU times.") < html.index('id="findings"')
    assert 'class="banner"' not in html  # nothing to warn about


def test_mixed_devices_get_a_banner(project):
    config = project / "experiments.toml"
    write_fixture_results(config, project / "results", {"fast": {"accuracies": [0.8, 0.84, 0.85],
                                                                "device_name": "NVIDIA H100"}})
    html = html_of(project)
    assert "Some experiments ran on the CPU" in html and "NVIDIA H100" in html


def test_repeats_show_mean_and_spread(project):
    write_fixture_results(project / "experiments.toml", project / "results",
                          {"baseline": {"accuracies": [0.80, 0.85, 0.86], "repeats": 3}})
    html = html_of(project)
    assert "86.2 ± 0.2%" in html
    assert "A value ± a spread is the mean ± the sample standard deviation over seeds" in html


def test_cross_references_match_numbering(rendered):
    html = (rendered / "build" / "report.html").read_text(encoding="utf-8")
    # "See Figure N" in the batch-size section points at that section's figure (Figure 1 is at a glance)
    assert 'href="#fig-batch_size-curves">Figure 2</a>' in html
    assert '<figure id="fig-batch_size-curves">' in html
    assert "Figure 2.</span> Batch size study, per epoch: test accuracy, training loss and test loss" in html


def test_pdf_has_every_section_and_numbers(project):
    render(project, pdf=True)
    reader = PdfReader(project / "build" / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2
    for heading in ("Findings", "1. Batch size study", "2. ReLU gradient", "3. Methods", "4. Environment",
                    "5. Appendix: per-epoch results and provenance"):
        assert heading in text
    assert "86.1%" in text and "Page 1 of" in text


def test_editing_a_template_changes_the_report_without_training(project):
    speed = project / "templates" / "claims" / "speed.txt.j2"
    speed.write_text(speed.read_text().replace("trained {{ c.ratio|times(c.decimals) }} faster",
                                               "was quicker by {{ c.ratio|times(c.decimals) }}"))
    html = html_of(project)
    assert "Big batches was quicker by 2.00×" in html
    assert not (project / "results" / "summary.csv").exists()  # nothing ran


def test_new_group_appears_without_python_change(project):
    config = project / "experiments.toml"
    write_config(config, config_text(config, groups={"extra": {"title": "A brand new comparison",
                                                               "experiments": ["fast", "probed"]}}))
    html = html_of(project)
    assert "A brand new comparison" in html and 'id="fig-extra-curves"' in html


def test_template_typo_names_file_and_line(project):
    generic = project / "templates" / "groups" / "_generic.html.j2"
    lines = generic.read_text().splitlines()
    lines.insert(3, "{{ group.titel }}")
    generic.write_text("\n".join(lines) + "\n")
    with pytest.raises(RenderError) as caught:
        render(project)
    assert f"{generic}:4" in str(caught.value) and "titel" in str(caught.value)


def test_template_syntax_error_names_file_and_line(project):
    generic = project / "templates" / "groups" / "_generic.html.j2"
    generic.write_text("{% if %}\n" + generic.read_text())
    with pytest.raises(RenderError) as caught:
        render(project)
    assert "_generic.html.j2:1: template syntax error" in str(caught.value)


def test_missing_experiment_names_it_and_how_to_run_it(project):
    (project / "results" / "fast.json").unlink()
    with pytest.raises(RenderError) as caught:
        render(project)
    assert caught.value.problems == [f"fast: no results in {project / 'results'} — run `python -m report_builder run fast "
                                     f"--config {project / 'experiments.toml'} --results-dir {project / 'results'}`"]


def test_the_hint_is_the_make_target_where_the_paths_are_the_defaults(project, monkeypatch):
    shutil.copy(REPO_DIR / "Makefile", project / "Makefile")
    monkeypatch.chdir(project)
    (project / "results" / "fast.json").unlink()
    with pytest.raises(RenderError) as caught:
        render_report(load_suite("experiments.toml"), Path("results"), Path("build"), Path("templates"), pdf=False)
    assert caught.value.problems == ["fast: no results in results — run `make experiment NAME=fast`"]
    assert "`make report` runs everything that is missing" in str(caught.value)


def test_numbers_edited_by_hand_are_never_shown_as_measured(project):
    path = project / "results" / "fast.json"
    path.write_text(path.read_text().replace('"test_accuracy": 0.8534', '"test_accuracy": 0.99'))
    with pytest.raises(RenderError) as caught:
        render(project)
    assert caught.value.problems[0].startswith("fast: its numbers were edited after the run")
    render_report(load_suite(project / "experiments.toml"), project / "results", project / "build",
                  project / "templates", pdf=False, partial=True)
    html = (project / "build" / "report.html").read_text()
    assert "0.99" not in html and "its numbers were edited after the run" in html


def test_stale_results_are_not_rendered(project):
    config = project / "experiments.toml"
    config.write_text(config.read_text().replace("batch_size = 64", "batch_size = 128"))
    with pytest.raises(RenderError) as caught:
        render(project)
    assert "fast: results are out of date (batch_size changed 64 → 128)" in caught.value.problems[0]


def test_failed_experiment_is_shown_as_failed(project):
    write_fixture_results(project / "experiments.toml", project / "results",
                          {"fast": {"accuracies": [], "status": "failed"}})
    html = html_of(project)
    assert "1 experiment failed" in html and "RuntimeError: boom" in html


def test_hostile_titles_are_escaped(project):
    config = project / "experiments.toml"
    config.write_text(config.read_text().replace('title = "Big batches"', 'title = "<script>alert(1)</script>"'))
    html = html_of(project)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_rendering_uses_no_network(project, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access during rendering")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    render(project, pdf=True)
    assert (project / "build" / "report.pdf").stat().st_size > 10_000


def test_pdf_fetcher_refuses_remote_urls(project):
    config = project / "experiments.toml"
    templates = project / "templates" / "sections" / "title.html.j2"
    templates.write_text(templates.read_text() + '<img src="http://example.invalid/x.png">')
    render(project, pdf=True)  # the image is refused, the PDF is still written
    assert (project / "build" / "report.pdf").exists() and config.exists()


def test_render_command_reports_missing_results_with_status_2(project, capsys):
    (project / "results" / "baseline.json").unlink()
    status = main(["render", "--config", str(project / "experiments.toml"), "--results-dir",
                   str(project / "results"), "--build-dir", str(project / "build"), "--templates",
                   str(project / "templates"), "--no-pdf"])
    err = capsys.readouterr().err
    assert status == 2
    assert "cannot render" in err and "python -m report_builder run baseline --config" in err and "Traceback" not in err


def test_unchanged_figures_are_not_drawn_again(project, monkeypatch):
    from report_builder.report import plots

    render(project)
    plots._DRAWN.clear()  # as a new process finds it: only the cache folder
    drawn = []
    for name in ("_draw_lines", "_draw_bars"):
        real = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda *a, _real=real, **k: drawn.append(a[0][0].label) or _real(*a, **k))
    render(project)
    assert drawn == []  # every figure came from the cache folder
    config = project / "experiments.toml"
    config.write_text(config.read_text().replace('title = "Big batches"', 'title = "Huge batches"'))
    render(project)
    assert drawn and all(label in ("Baseline run", "Huge batches") for label in drawn)
    assert len(drawn) == 1  # the batch-size group's curves, with the new legend; not the probe figures


def test_a_process_that_renders_again_draws_nothing_it_has_drawn(project, monkeypatch):
    from report_builder.report import plots

    render(project)
    shutil.rmtree(project / "build" / ".cache")  # not from the cache folder: from memory
    drawn = []
    real = plots._draw_lines
    monkeypatch.setattr(plots, "_draw_lines", lambda *a, **k: drawn.append(a[0][0].label) or real(*a, **k))
    render(project)
    assert drawn == [] and any((project / "build" / ".cache" / "figures").iterdir())


def test_a_group_named_other_and_the_ungrouped_experiments_are_two_sections(project):
    config = project / "experiments.toml"
    config.write_text(config.read_text().replace("[groups.relu_gradient]", "[groups.other]")
                      .replace('title = "ReLU gradient"', 'title = "Declared other"')
                      .replace('experiments = ["probed"]', 'experiments = ["baseline", "probed"]'))
    write_config(config, config_text(config, experiments={"loner": {"title": "Loner", "lr": 0.01}}))
    write_fixture_results(config, project / "results", {"loner": {"accuracies": [0.7, 0.75, 0.77], "seconds": 3.0}})
    html = html_of(project)
    assert html.count('id="group-other"') == 1 and html.count('id="fig-other-probed-probes"') == 1
    declared = html.split('id="group-other"')[1].split("</section>")[0]
    assert "Declared other" in declared and "Probed run" in declared and "Loner" not in declared
    ungrouped = html.split("Other experiments</h2>")[1].split("</section>")[0]
    assert "Loner" in ungrouped and "Probed run" not in ungrouped
    assert len(set(re.findall(r'<figure id="([^"]+)"', html))) == len(re.findall(r'<figure id="', html))
    figures = {p.name for p in (project / "build" / "figures").iterdir()}
    assert "other-probed-probes.svg" in figures and "_ungrouped-curves.svg" in figures



def test_no_template_line_is_longer_than_160_characters():
    long = {f"{path.relative_to(REPO_DIR)}:{number}": len(line)
            for path in sorted((REPO_DIR / "templates").rglob("*.j2"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > 160}
    assert long == {}
