"""What the report says about speed, from recorded timing rounds: each sentence of templates/claims/speed.txt.j2
rendered with rounds that make it true and rounds that point the other way, section 1's note on the machine,
the table's speed-up column, and the speed claims of claims.json against docs/claims-schema.json."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape

import jsonschema
import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import render_report
from rounds_fixture import BUSY, QUIET, write_timing

ACC = [0.80, 0.84, 0.86]
RUNS = {"base": {"accuracies": ACC, "repeats": 3, "seconds": 2.0}, "other": {"accuracies": ACC, "repeats": 3, "seconds": 1.0}}
TWICE = {"base": [2.0, 2.2, 1.9, 2.1, 2.0], "other": [1.0, 1.05, 1.0, 1.0, 1.0]}  # 2.02× [1.92, 2.12]
SCHEMA = json.loads((REPO_DIR / "docs" / "claims-schema.json").read_text(encoding="utf-8"))


def render(tmp_path, seconds: dict | None = TWICE, suite: str | None = None, runs: dict = RUNS, **timing) -> str:
    config = write_config(tmp_path / "experiments.toml", suite or config_text("timing"))
    write_fixture_results(config, tmp_path / "results", runs)
    if seconds is not None:
        write_timing(tmp_path / "results", config, seconds, **timing)
    if not (tmp_path / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False)
    html = (tmp_path / "build" / "report.html").read_text(encoding="utf-8")
    return unescape(re.sub(r"\s+", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S)))


def section(html: str, title: str) -> str:
    start = html.index(f". {title}</h2>")
    return html[start:html.find("<h2>", start)]


def speed_claims(tmp_path) -> list[dict]:
    document = json.loads((tmp_path / "build" / "claims.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA)
    return [c for c in document["claims"] if c["kind"] == "speedup"]


# ---- stated --------------------------------------------------------------------------------------------

def test_a_speed_up_is_stated_with_its_interval_and_rounds_in_the_section_table_and_claims(tmp_path):
    html = render(tmp_path)
    speed = section(html, "Speed study")
    assert "Other trained 2.02× faster per epoch than Base (95% CI 1.92× to 2.12×, paired over 5 interleaved " \
           "timing rounds)." in speed
    assert "<td>2.02× [1.92, 2.12]</td>" in speed and "is withheld" not in speed
    (claim,) = speed_claims(tmp_path)
    assert claim["experiments"] == ["other", "base"] and claim["ratio"] == pytest.approx(2.0177, abs=1e-4)
    assert claim["rounds"] == 5 and claim["withheld"] is False and claim["reason"] is None
    assert claim["sentence"].startswith("Other trained 2.02× faster per epoch than Base (95% CI 1.92×")
    assert "The machine was quiet before and after every round." in section(html, "Environment")


def test_a_speed_up_whose_interval_reaches_equal_speed_says_so(tmp_path):
    html = render(tmp_path, {"base": [1.0, 1.3, 0.8, 1.2, 0.9], "other": [1.0] * 5})
    speed = section(html, "Speed study")
    assert re.search(r"Other trained 1\.02× faster per epoch than Base, not shown to differ \(95% CI 0\.\d\d× to "
                     r"1\.\d\d×, which includes equal speed, paired over 5 interleaved timing rounds\)", speed)


def test_busy_rounds_left_out_are_named_and_the_all_rounds_ratio_is_stated_beside(tmp_path):
    seconds = {"base": [2.0, 6.0, 2.0, 6.0, 2.0], "other": [1.0, 2.0, 1.0, 2.0, 1.0]}
    readings = [(QUIET, QUIET), (BUSY, QUIET), (QUIET, QUIET), (QUIET, BUSY), (QUIET, QUIET)]
    html = render(tmp_path, seconds, readings=readings)
    assert re.search(r"Other trained 2\.00× faster per epoch than Base \(95% CI 2\.00× to 2\.00×, paired over 3 "
                     r"interleaved timing rounds; 2 busy rounds left out, all 5 give 2\.4× \[1\.8, 3\.1\]\)",
                     section(html, "Speed study"))
    assert "The machine was busy in 2 of 5 timing rounds; those rounds are left out of every speed-up" in \
           section(html, "Environment")


# ---- withheld ------------------------------------------------------------------------------------------

def test_a_machine_busy_in_every_round_withholds_the_speed_up_and_shows_why(tmp_path):
    html = render(tmp_path, readings=[(BUSY, BUSY)] * 5)
    speed = section(html, "Speed study")
    assert "The speed of Other against Base is withheld: the machine was busy in 5 of 5 timing rounds, and a " \
           "speed-up needs 3 quiet ones (the Environment section gives the readings)." in speed
    assert "faster per epoch" not in speed and "2.02×" not in speed
    environment = section(html, "Environment")
    assert "The machine was busy in 5 of 5 timing rounds; after waiting 0 s for it to quiet down (at most 60 s) the " \
           "rounds ran anyway, and every speed claim is withheld. Medians over the phase's readings: other work's " \
           "load 1.80 per CPU (quiet: at most 0.25); CPU pressure 60% (quiet: at most 10%); other processes on 95% " \
           "of the CPUs (quiet: at most 10%)." in environment
    # and before any result, in the paragraph on what was run
    assert "The machine was busy in 5 of 5 timing rounds, so every speed-up is withheld" in html[:html.index('id="findings"')]
    (claim,) = speed_claims(tmp_path)
    assert claim["withheld"] is True and claim["reason"] == "busy" and claim["ratio"] is None
    assert claim["all_rounds"]["rounds"] == 5 and "CPU pressure 60%" in claim["sentence"]


def test_a_reference_step_that_moved_more_than_five_percent_withholds_and_says_by_how_much(tmp_path):
    html = render(tmp_path, drift=(1.0, 1.07))
    assert "The speed of Other against Base is withheld: the time of the reference step (Base) moved by 7.0% " \
           "between the start and the end of the timing rounds, more than 5%" in section(html, "Speed study")
    assert "moved by 7.0% between the start and the end of the rounds (more than 5%), so every speed claim is " \
           "withheld" in section(html, "Environment")
    kept = render(tmp_path, drift=(1.0, 1.04))
    assert "is withheld" not in section(kept, "Speed study") and "withheld" not in section(kept, "Environment")


def test_rounds_timed_again_after_a_drift_say_how_often_and_why(tmp_path):
    once = section(render(tmp_path, retried=[0.086]), "Environment")
    assert "They were timed 2 times: the reference step moved by 8.6% in the first attempt (more than 5%), and " \
           "the last attempt counts." in once
    twice = section(render(tmp_path, retried=[0.086, 0.07]), "Environment")
    assert "timed 3 times: the reference step moved by 8.6%, 7.0% in the first 2 attempts" in twice
    assert "timed" not in section(render(tmp_path), "Environment").split("interleaved timing rounds")[1]


def test_without_timing_rounds_no_speed_up_is_stated(tmp_path):
    html = render(tmp_path, seconds=None)
    assert "No timing rounds were run, so the report states no speed-up." in section(html, "Environment")
    assert "The speed of Base against Other is withheld: no interleaved timing rounds measured them; `make report` " \
           "times them." in section(html, "Speed study")
    (claim,) = speed_claims(tmp_path)
    assert claim["reason"] == "not_timed" and claim["all_rounds"] is None and claim["rounds_run"] == 0


def test_rounds_timed_before_a_setting_changed_are_not_used(tmp_path):
    render(tmp_path)
    changed = config_text("timing", experiments={"other": {"lr": 0.02}})
    write_config(tmp_path / "experiments.toml", changed)
    html = render(tmp_path, seconds=None, suite=changed)  # the stored rounds stay, the results are rewritten
    assert "their timing rounds predate a change to their settings or to the training code" in \
           section(html, "Speed study")


# ---- groups of three, and the pipeline ------------------------------------------------------------------

THREE = config_text("timing", experiments={"third": {"title": "Third", "batch_size": 64}},
                    groups={"speed": {"experiments": ["base", "other", "third"]}})
RUNS3 = {**RUNS, "third": {"accuracies": ACC, "repeats": 3, "seconds": 0.5}}
FOUR_X = {"base": [2.0] * 5, "other": [1.0, 1.02, 0.98, 1.0, 1.0], "third": [0.5, 0.51, 0.49, 0.5, 0.5]}


def test_a_group_of_three_leads_with_its_widest_speed_up_and_claims_every_pair(tmp_path):
    html = render(tmp_path, FOUR_X, suite=THREE, runs=RUNS3)
    assert "Third trained 4.00× faster per epoch than Base" in section(html, "Speed study")
    assert [c["id"] for c in speed_claims(tmp_path)] == ["speed/other-vs-base-speed", "speed/third-vs-base-speed",
                                                          "speed/third-vs-other-speed"]


def test_a_group_of_three_withheld_says_so_once(tmp_path):
    html = render(tmp_path, FOUR_X, suite=THREE, runs=RUNS3, readings=[(BUSY, BUSY)] * 5)
    speed = section(html, "Speed study")
    assert "The speeds of these settings are withheld: the machine was busy in 5 of 5 timing rounds" in speed
    assert speed.count("withheld") == 2  # the sentence, and the table caption's key to its dashes


def test_the_pipeline_section_states_its_speed_from_the_rounds(tmp_path):
    runs = {"dataloader": {"accuracies": [0.84, 0.85], "seconds": 8.0, "engine": "autograd"},
            "base": {"accuracies": [0.84, 0.85], "repeats": 3, "seconds": 1.0}}
    html = render(tmp_path, {"dataloader": [8.0, 8.4, 7.8, 8.1, 8.0], "base": [1.0, 1.0, 1.0, 1.0, 1.0]},
                  suite=config_text("claims_pipeline"), runs=runs)
    pipeline = section(html, "Pipeline")
    # the runs' own seconds stand in the table, each with its n; the speed-up is the rounds'
    assert "<td>8.00 s (n = 1)</td>" in pipeline and "<td>1.00 ± 0 s (n = 3)</td> <td>8.06× [" in pipeline
    assert re.search(r"Tensors trained 8\.06× faster per epoch than DataLoader \(95% CI 7\.\d\d× to 8\.\d\d×, paired "
                     r"over 5 interleaved timing rounds\)\.", pipeline)


def pipeline_answer(tmp_path, base_engine: str) -> str:
    runs = {"dataloader": {"accuracies": [0.84, 0.85], "seconds": 8.0, "engine": "autograd"},
            "base": {"accuracies": [0.84, 0.85], "repeats": 3, "seconds": 1.0, "engine": base_engine}}
    html = render(tmp_path, {"dataloader": [8.0, 8.4, 7.8, 8.1, 8.0], "base": [1.0, 1.0, 1.0, 1.0, 1.0]},
                  suite=config_text("claims_pipeline"), runs=runs)
    row = re.search(r'<th scope="row" class="text">Pipeline</th> <td[^>]*>(.*?)<a', html)
    return re.sub(r"<[^>]+>", "", row.group(1)).strip()


def test_the_findings_credit_the_backward_pass_too_only_where_the_engines_differ(tmp_path):
    assert re.fullmatch(r"Input pipeline and backward pass: Tensors \(tensors in memory, written-out backward\) trains "
                        r"8\.06× faster per epoch than DataLoader \(DataLoader, autograd\) \[7\.\d+, 8\.\d+\]\.",
                        pipeline_answer(tmp_path, "explicit"))
    assert re.fullmatch(r"Input pipeline: Tensors \(tensors in memory\) trains 8\.06× faster per epoch than DataLoader "
                        r"\(DataLoader\) \[7\.\d+, 8\.\d+\]\.", pipeline_answer(tmp_path, "autograd"))
