"""The report lint (tests/report_lint.py): the default report and a study with a sweep read as an edited writeup —
no sentence of 8+ words printed twice, captions and sentences short, tables that fit the page, one Findings
line per question — and each measure catches a report that breaks it."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from conftest import REPO_DIR, config_text, fixture_result, write_config

import report_lint as lint
from rounds_fixture import write_timing
from report_builder.config import load_suite
from report_builder.report.render import render_report
from report_builder.results import store

# Numbers shaped like the default run's (3 seeds; the DataLoader loop one run of 2 epochs).
BASE = [0.840, 0.855, 0.864, 0.868, 0.871]
DEFAULT_RESULTS = {
    "baseline": {"accuracies": BASE, "repeats": 3, "seconds": 1.0},
    "batch16": {"accuracies": [a - 0.002 for a in BASE], "repeats": 3, "seconds": 1.7, "spread": 0.004},
    "batch64": {"accuracies": [a - 0.001 for a in BASE], "repeats": 3, "seconds": 0.55, "spread": 0.0005},
    "lr_high": {"accuracies": [a - 0.04 for a in BASE], "repeats": 3, "spread": 0.006},
    "lr_low": {"accuracies": [a - 0.015 for a in BASE], "repeats": 3, "spread": 0.003},
    "sgd": {"accuracies": [a - 0.075 for a in BASE], "repeats": 3, "spread": 0.0025},
    "relu_grad": {"accuracies": BASE, "repeats": 3, "probes": {"relu_active": [5e6, 4e6, 3.5e6, 3.1e6, 2.8e6],
                                                               "relu_grad_sq": [40, 35, 32, 30, 27.6]}},
    "no_zero_grad": {"accuracies": [0.3, 0.2, 0.18, 0.17, 0.16], "repeats": 3, "spread": 0.03,
                     "test_losses": [2.5, 3.0, 3.2, 3.4, 3.6]},
    "dataloader": {"accuracies": [0.84, 0.858], "seconds": 13.0, "engine": "autograd"},
}


# Quiet timing rounds shaped like the default run's: batch 64 about 3× faster than batch 16, the DataLoader loop 13×
# slower than tensors on the device.
DEFAULT_ROUNDS = {"baseline": [1.0, 1.02, 0.98, 1.0, 1.01], "batch16": [1.7, 1.75, 1.68, 1.72, 1.7],
                  "batch64": [0.55, 0.56, 0.54, 0.55, 0.56], "dataloader": [13.0, 13.4, 12.8, 13.1, 13.0]}


TEST_IMAGES = 10_000


def _as_run_today(result: dict) -> dict:
    """A fixture result with what a run records today beside its numbers, so that every sentence a real report
    prints is linted: the torch threads and why, the subnormal flush, and each final epoch's per-image
    predictions (right on the first accuracy × 10,000 images: what the seeds-and-images interval reads)."""
    per_run = {"cpu_threads": 2, "threads_reason": "2 of 2 cores free", "flush_denormal": True}
    for run in result["runs"]:
        for epoch in run["epochs"]:
            epoch["threads"] = 2
        run["threads"] = 2
        right = round(run["epochs"][-1]["test_accuracy"] * TEST_IMAGES)
        run["test_predictions"] = base64.b64encode(bytes([128] * right + [1] * (TEST_IMAGES - right))).decode()
    result["provenance"].update(per_run, threads_setting="auto",
                                repeat_provenance=[{"device_name": "CPU", **per_run}] * len(result["runs"]))
    return result


def _render(folder: Path, config: Path, results: dict, pdf: bool, rounds: dict | None = None) -> Path:
    for name, spec in results.items():
        document = _as_run_today(fixture_result(config, name, **spec))
        store.write_result(folder / "results", {k: v for k, v in document.items() if k != "format"})
    if rounds:
        write_timing(folder / "results", config, rounds)
    render_report(load_suite(config), folder / "results", folder / "build", REPO_DIR / "templates", pdf=pdf)
    return folder / "build"


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> Path:
    """The shipped experiments.toml (its questions and the 2021 reference) with results shaped like a real run."""
    folder = tmp_path_factory.mktemp("default")
    shutil.copy(REPO_DIR / "experiments.toml", folder / "experiments.toml")
    shutil.copytree(REPO_DIR / "reference", folder / "reference")
    return _render(folder, folder / "experiments.toml", DEFAULT_RESULTS, pdf=True, rounds=DEFAULT_ROUNDS)


@pytest.fixture(scope="module")
def study_report(tmp_path_factory) -> Path:
    """A sweep of four learning rates and a group of five members (tests/fixtures/lint_study.toml)."""
    folder = tmp_path_factory.mktemp("study")
    config = write_config(folder / "experiments.toml", config_text("lint_study"))
    results = {name: {"accuracies": [0.80, 0.84, acc], "repeats": 3, "spread": spread}
               for name, acc, spread in (("base", 0.86, 0.002), ("sgd", 0.79, 0.003), ("small", 0.85, 0.004),
                                         ("wide", 0.865, 0.002), ("deep", 0.862, 0.005))}
    results.update({f"lr-lr-{tag}": {"accuracies": [0.7, 0.75, acc], "repeats": 3, "spread": 0.003}
                    for tag, acc in (("0p0001", 0.84), ("0p01", 0.83), ("0p1", 0.6))})
    return _render(folder, config, results, pdf=False)


REPORTS = ["default_report", "study_report"]


# ---- the limits, on real reports -----------------------------------------------------------------------

@pytest.mark.slow  # renders whole reports (the default one with its PDF)
@pytest.mark.parametrize("report", REPORTS)
def test_no_sentence_of_eight_words_is_printed_twice(report, request):
    assert lint.measure(request.getfixturevalue(report)).repeated == []


@pytest.mark.slow  # renders whole reports (the default one with its PDF)
@pytest.mark.parametrize("report", REPORTS)
def test_captions_and_sentences_are_short(report, request):
    m = lint.measure(request.getfixturevalue(report))
    assert m.longest_caption[0] <= lint.MAX_CAPTION_WORDS, m.longest_caption
    assert m.longest_sentence[0] <= lint.MAX_SENTENCE_WORDS, m.longest_sentence


@pytest.mark.slow  # renders whole reports (the default one with its PDF)
@pytest.mark.parametrize("report", REPORTS)
def test_tables_fit_the_page(report, request):
    m = lint.measure(request.getfixturevalue(report))
    assert m.widest_table[0] <= lint.MAX_COLUMNS, m.widest_table


@pytest.mark.slow  # renders whole reports (the default one with its PDF)
@pytest.mark.parametrize("report", REPORTS)
def test_the_findings_answer_each_question_in_one_short_line(report, request):
    m = lint.measure(request.getfixturevalue(report))
    assert m.findings_words <= lint.MAX_FINDINGS_WORDS
    assert max(lint.words(line) for line in m.findings_lines) <= lint.MAX_FINDING_WORDS


@pytest.mark.slow  # renders whole reports (the default one with its PDF)
@pytest.mark.parametrize("report, sections", [
    ("default_report", ["group-baseline", "group-batch_size", "group-learning_rate", "group-optimizer",
                        "group-relu_gradient", "group-zero_grad", "reproduction", "group-pipeline"]),
    ("study_report", ["group-study", "sweep-lr"]),
])
def test_every_group_sweep_reproduction_and_timing_section_has_one_findings_line(report, sections, request):
    html = (request.getfixturevalue(report) / "report.html").read_text(encoding="utf-8")
    assert lint.findings_links(html) == sections


@pytest.mark.slow  # renders whole reports (the default one with its PDF)
def test_the_default_report_is_at_most_4000_words_and_12_pages_with_no_number_wrapped(default_report):
    m = lint.measure(default_report)
    assert m.words <= 4000 and m.pages <= 12
    assert m.wrapped == [] and m.overflowing == []


@pytest.mark.slow  # renders whole reports (the default one with its PDF)
def test_the_findings_answers_stand_beside_the_declared_questions(default_report):
    m = lint.measure(default_report)
    assert m.findings_questions[:3] == ["The baseline?", "Batch size 16 / 32 / 64?",
                                        "Learning rate 0.01 / 0.001 / 0.0001?"]
    assert m.findings_questions[6:] == ["Did the 2021 writeup reproduce?", "Where does the time go?"]
    assert m.findings_lines[1].startswith("No difference detected: 16: ")
    assert "64 trains 3.10× faster per epoch than 16 [3.05, 3.15]." in m.findings_lines[1]  # from the timing rounds
    assert m.findings_lines[2].startswith("Baseline is best: 0.01 ends 3.6 points lower [2.6, 4.6]; 0.0001 ends 1.40 "
                                          "points lower")


# ---- each measure fails on a report that breaks it -----------------------------------------------------

def page(body: str) -> str:
    return f"<html><body><main>{body}</main></body></html>"


def test_a_sentence_printed_twice_is_caught():
    sentence = "Lines are means over seeds and bands span one SD."
    m = lint.measure_html(page(f"<p>{sentence}</p><figure><figcaption>Figure 1. {sentence}</figcaption></figure>"))
    assert m.repeated == [(sentence, 2)]
    assert lint.measure_html(page("<p>Short one. Short one.</p>")).repeated == []  # under 8 words


def test_a_long_caption_is_caught():
    caption = " ".join(["word"] * (lint.MAX_CAPTION_WORDS + 1))
    m = lint.measure_html(page(f"<table><caption>Table 1. {caption}</caption><tr><td>1</td></tr></table>"))
    assert m.longest_caption[0] == lint.MAX_CAPTION_WORDS + 1


def test_a_wide_table_is_caught_and_a_collapsed_one_is_not():
    row = "".join(f"<td>{i}</td>" for i in range(lint.MAX_COLUMNS + 1))
    assert lint.measure_html(page(f"<table><tr>{row}</tr></table>")).widest_table[0] == lint.MAX_COLUMNS + 1
    hidden = page(f"<details><table><tr>{row}</tr></table></details>")
    assert lint.measure_html(hidden).widest_table[0] == 0


def test_a_long_sentence_is_caught():
    sentence = "A " + " ".join(["clause"] * lint.MAX_SENTENCE_WORDS) + "."
    assert lint.measure_html(page(f"<p>{sentence}</p>")).longest_sentence[0] == lint.MAX_SENTENCE_WORDS + 1


def test_findings_words_and_lines_are_counted():
    rows = "".join(f'<tr><th>Q{i}?</th><td>{" ".join(["w"] * 40)} <a href="#group-g{i}">§{i}</a></td></tr>'
                   for i in range(7))
    m = lint.measure_html(page(f'<section id="findings"><h2>Findings</h2><table>{rows}</table></section>'))
    assert m.findings_words > lint.MAX_FINDINGS_WORDS
    assert len(m.findings_lines) == 7 and lint.words(m.findings_lines[0]) == 40
    assert lint.findings_links(page(f'<section id="findings"><table>{rows}</table></section>')) == \
        [f"group-g{i}" for i in range(7)]


def test_a_number_wrapped_in_a_pdf_cell_is_caught(tmp_path):
    import weasyprint

    narrow = ('<table style="width: 30mm"><tr><td style="width: 12mm">86.7 ± 0.3%</td>'
              '<td>−0.2 points [−1.7, +1.5]</td></tr></table>')
    pdf = tmp_path / "wrapped.pdf"
    weasyprint.HTML(string=page(narrow)).write_pdf(str(pdf))
    assert lint.wrapped_numbers(pdf) != []


def test_a_p_value_wrapped_in_a_pdf_cell_is_caught(tmp_path):
    import weasyprint

    narrow = '<table style="width: 14mm"><tr><td>not after Holm (p = 0.0502)</td></tr></table>'
    pdf = tmp_path / "wrapped.pdf"
    weasyprint.HTML(string=page(narrow)).write_pdf(str(pdf))
    assert lint.wrapped_numbers(pdf) != []


def test_a_paragraph_that_opens_on_a_new_line_keeps_its_first_words_together_in_the_pdf(tmp_path):
    import subprocess

    from report_builder.report.render import write_pdf

    opening = "<p>\nAfter 5 epochs, Baseline reached 87.1 ± 0.3% test accuracy,\ntraining at 0.873 ± 0.007 s per epoch.\n\n</p>"
    style = (REPO_DIR / "templates" / "style.css").read_text(encoding="utf-8")
    write_pdf(f"<html><head><style>{style}</style></head><body>{opening}</body></html>", tmp_path / "p.pdf",
              tmp_path, [tmp_path])
    text = subprocess.run(["pdftotext", str(tmp_path / "p.pdf"), "-"], capture_output=True, text=True).stdout
    assert text.startswith("After 5 epochs, Baseline reached")


@pytest.mark.parametrize("cells, past", [(8, True), (2, False)])
def test_a_table_wider_than_the_text_is_caught(tmp_path, cells, past):
    import weasyprint

    style = (REPO_DIR / "templates" / "style.css").read_text(encoding="utf-8")
    row = "<td>123456.789 ± 0.001 s</td>" * cells
    html = (f'<html lang="en"><head><style>{style}</style></head><body><h1>Title</h1>'
            f'<p style="break-after: page">First page.</p><h2>Wide</h2><table><tr>{row}</tr></table></body></html>')
    weasyprint.HTML(string=html).write_pdf(str(tmp_path / "wide.pdf"))
    assert bool(lint.overflowing(tmp_path / "wide.pdf")) is past
