"""Results history, the "What changed" section (against the replaced results or --compare DIR) and claims.json."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO_DIR, config_text, fixture_result, write_config, write_fixture_results

from report_builder.cli import main
from report_builder.config import load_suite
from report_builder.report.render import render_report
from report_builder.results import history, store

BASELINE = [0.80, 0.84, 0.86]


def project_with(tmp_path: Path, other: list[float], lr: float = 0.01, spread: float = 0.002) -> Path:
    """Baseline (three seeds, 0.002 apart) and Other (three seeds, `spread` apart) with Other's accuracies as
    given: with a spread other than 0.002 the per-seed differences vary, as real seeds' do."""
    config = write_config(tmp_path / "experiments.toml", config_text("what_changed", experiments={"other": {"lr": lr}}))
    write_fixture_results(config, tmp_path / "results", {"baseline": {"accuracies": BASELINE, "repeats": 3},
                                                         "other": {"accuracies": other, "repeats": 3,
                                                                   "spread": spread}})
    if not (tmp_path / "templates").exists():
        shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    return tmp_path


def rerun_other(project: Path, other: list[float], lr: float = 0.01, spread: float = 0.002) -> None:
    """Other trained again (with lr as given, seeds `spread` apart): its new result replaces the old one."""
    config = write_config(project / "experiments.toml", config_text("what_changed", experiments={"other": {"lr": lr}}))
    write_fixture_results(config, project / "results", {"other": {"accuracies": other, "repeats": 3, "spread": spread}})


def html_of(project: Path, compare: Path | None = None) -> str:
    render_report(load_suite(project / "experiments.toml"), project / "results", project / "build",
                  project / "templates", pdf=False, compare_dir=compare)
    return html.unescape(" ".join((project / "build" / "report.html").read_text(encoding="utf-8").split()))


def section(page: str) -> str:
    start = page.find('<section id="what-changed">')
    return page[start:page.index("</section>", start)] if start >= 0 else ""


# ---- history -------------------------------------------------------------------------------------------

def test_a_rerun_keeps_the_result_it_replaces_as_small_json(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    replaced = store.read_result(project / "results" / "other.json")
    rerun_other(project, [0.71, 0.76, 0.81])
    [entry] = history.entries(project / "results", "other")
    kept = json.loads(entry.read_text())
    assert kept["digest"] == replaced["digest"] and kept["identity"] == replaced["identity"]
    assert [e["test_accuracy"] for e in kept["runs"][0]["epochs"]] == [0.70, 0.75, 0.80]
    assert "provenance" not in kept and entry.stat().st_size < 4000


def test_writing_the_same_result_again_keeps_nothing(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    rerun_other(project, [0.70, 0.75, 0.80])
    assert history.entries(project / "results", "other") == []


def test_a_result_edited_by_hand_is_not_kept(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    path = project / "results" / "other.json"
    doc = json.loads(path.read_text())
    doc["runs"][0]["epochs"][-1]["test_accuracy"] = 0.99
    path.write_text(json.dumps(doc))
    rerun_other(project, [0.71, 0.76, 0.81])
    assert history.entries(project / "results", "other") == []


def test_an_unfinished_result_is_not_kept(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    write_fixture_results(project / "experiments.toml", project / "results",
                          {"other": {"accuracies": [0.70, 0.75, 0.80], "status": "partial"}})
    kept_before = history.entries(project / "results", "other")
    assert len(kept_before) == 1  # the finished result the unfinished one replaced
    rerun_other(project, [0.71, 0.76, 0.81])
    assert history.entries(project / "results", "other") == kept_before


def test_history_keeps_the_five_newest_results_of_each_experiment(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.700])
    for i in range(1, 7):  # six re-runs replace six results: the oldest is pruned
        rerun_other(project, [0.70, 0.75, 0.700 + i / 1000])
    kept = [json.loads(p.read_text())["runs"][0]["epochs"][-1]["test_accuracy"]
            for p in history.entries(project / "results", "other")]
    assert kept == [0.701, 0.702, 0.703, 0.704, 0.705]


def test_list_shows_which_experiments_have_a_previous_result(tmp_path, capsys):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    rerun_other(project, [0.71, 0.76, 0.81])
    assert main(["list", "--config", str(project / "experiments.toml"), "--results-dir",
                 str(project / "results")]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["other"].endswith("[1 previous result kept]") and "previous" not in lines["baseline"]


# ---- What changed ---------------------------------------------------------------------------------------

@pytest.mark.slow  # renders a whole report
def test_without_any_replaced_result_there_is_no_what_changed_section(tmp_path):
    page = html_of(project_with(tmp_path, [0.70, 0.75, 0.80]))
    assert section(page) == "" and "#what-changed" not in page


@pytest.mark.slow  # renders a whole report
def test_a_changed_setting_is_named_with_the_moved_number_beyond_seed_noise(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    rerun_other(project, [0.70, 0.75, 0.83], lr=0.02, spread=0.003)  # +3.0, +3.1, +3.2 points by seed
    text = section(html_of(project))
    assert "<h3>Other</h3>" in text and "What differs: lr changed 0.01 → 0.02." in text
    assert ("Final test accuracy: 80.2% → 83.3%, +3.1 points over seeds 0, 1, 2: more than the seed-to-seed spread"
            " (paired t-test over seeds 0, 1, 2, p < 0.001, 95% CI [2.9, 3.3] points" in text)
    assert "Baseline" not in text.split("<h3>Other</h3>")[0].split("</p>", 1)[1]


@pytest.mark.slow  # renders a whole report
def test_a_move_within_seed_noise_is_said_to_be_within_noise(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    rerun_other(project, [0.70, 0.75, 0.801], spread=0.02)  # +0.1, +1.9, +3.7 points by seed
    text = section(html_of(project))
    assert "The same settings, code and data; a new run." in text
    assert "80.2% → 82.1%, +1.9 points over seeds 0, 1, 2: within seed noise (paired t-test over seeds 0, 1, 2, " \
           "p = 0.2" in text


@pytest.mark.slow  # renders a whole report
def test_a_flipped_verdict_is_listed_before_and_now(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80], spread=0.003)   # far below the baseline
    rerun_other(project, [0.80, 0.84, 0.8603], spread=0.02)              # now within noise of it
    text = section(html_of(project))
    assert "Conclusions that flipped:" in text
    assert ("Before: Other against Baseline: −5.90 points [−6.15, −5.65] (80.30% against 86.20%), above on 0 of 3 "
            "seeds; beyond seed noise (paired t-test, Holm-adjusted p < 0.001 over this group's 1 comparison).") in text
    assert ("Now: Other against Baseline: +1.8 points [−2.6, +6.3] (88.0% against 86.2%), above on 3 of 3 seeds; "
            "within seed noise (paired t-test, Holm-adjusted p = 0.2") in text


@pytest.mark.slow  # renders a whole report
def test_a_reversed_difference_beyond_noise_is_a_flip(tmp_path):
    project = project_with(tmp_path, [0.80, 0.84, 0.84], spread=0.003)  # −2.0, −1.9, −1.8 points by seed
    rerun_other(project, [0.80, 0.84, 0.88], spread=0.003)              # +2.0, +2.1, +2.2
    text = section(html_of(project))
    assert "Conclusions that flipped:" in text and "Other against Baseline: −1.90 points [−2.15, −1.65]" in text
    assert "Other against Baseline: +2.10 points [+1.85, +2.35]" in text


@pytest.mark.slow  # renders a whole report
def test_a_move_with_the_same_verdict_flips_nothing(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    rerun_other(project, [0.70, 0.75, 0.79])
    assert "No conclusion flipped" in section(html_of(project))


@pytest.mark.slow  # renders a whole report
def test_compare_with_an_identical_snapshot_says_nothing_changed_in_one_line(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    shutil.copytree(project / "results", tmp_path / "snapshot")
    text = section(html_of(project, tmp_path / "snapshot"))
    assert "nothing changed in the 2 experiments both have" in text and "<h3>" not in text


@pytest.mark.slow  # renders a whole report
def test_compare_with_a_snapshot_lists_what_differs_from_it(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    shutil.copytree(project / "results", tmp_path / "snapshot")
    shutil.rmtree(project / "results" / ".history", ignore_errors=True)
    rerun_other(project, [0.70, 0.75, 0.83], lr=0.02)
    text = section(html_of(project, tmp_path / "snapshot"))
    assert "over the 2 experiments both have" in text and "lr changed 0.01 → 0.02" in text


@pytest.mark.slow  # renders a whole report
def test_a_snapshot_sharing_no_experiment_is_said_in_the_section(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    snapshot = tmp_path / "snapshot"
    other_suite = write_config(tmp_path / "elsewhere.toml",
                               '[experiments.solo]\ntitle = "Solo"\n[defaults]\nepochs = 3\n')
    doc = fixture_result(other_suite, "solo", [0.5, 0.6, 0.7])
    store.write_result(snapshot, {k: v for k, v in doc.items() if k != "format"})
    text = section(html_of(project, snapshot))
    assert "they share no experiment with this report (theirs: solo; ours: baseline, other)" in text


def _render_cli(project: Path, compare: Path, capsys) -> tuple[int, str]:
    status = main(["render", "--config", str(project / "experiments.toml"), "--results-dir", str(project / "results"),
                   "--build-dir", str(project / "build"), "--templates", str(project / "templates"), "--no-pdf",
                   "--compare", str(compare)])
    return status, capsys.readouterr().err


def test_a_missing_compare_folder_is_one_line_and_status_2(tmp_path, capsys):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    status, err = _render_cli(project, tmp_path / "nowhere", capsys)
    assert status == 2 and err == f"error: --compare {tmp_path / 'nowhere'}: no such folder\n"


def test_a_compare_folder_without_results_is_one_line_and_status_2(tmp_path, capsys):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "x.json").write_text('{"not": "a result"}')
    status, err = _render_cli(project, tmp_path / "notes", capsys)
    assert status == 2 and err.startswith(f"error: --compare {tmp_path / 'notes'}: not a results folder")
    assert len(err.splitlines()) == 1


def test_results_of_another_dataset_entirely_are_one_line_and_status_2(tmp_path, capsys):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    snapshot = tmp_path / "snapshot"
    doc = fixture_result(project / "experiments.toml", "other", [0.70, 0.75, 0.80])
    doc["identity"]["data_fingerprint"] = "0" * 16
    store.write_result(snapshot, {k: v for k, v in doc.items() if k != "format"})
    status, err = _render_cli(project, snapshot, capsys)
    assert status == 2 and "results of another configuration entirely" in err and len(err.splitlines()) == 1


# ---- claims.json ----------------------------------------------------------------------------------------

SCHEMA = json.loads((REPO_DIR / "docs" / "claims-schema.json").read_text(encoding="utf-8"))


@pytest.mark.slow  # renders a whole report
def test_claims_json_holds_every_claim_with_the_documented_fields(tmp_path):
    project = project_with(tmp_path, [0.70, 0.75, 0.80])
    html_of(project)
    document = json.loads((project / "build" / "claims.json").read_text(encoding="utf-8"))
    claim_schema = SCHEMA["properties"]["claims"]["items"]["else"]  # "then": a speed claim (test_speed_report.py)
    assert set(document) == set(SCHEMA["required"])
    assert [c["id"] for c in document["claims"]] == ["g/other-vs-baseline"]
    jsonschema.validate(document, SCHEMA)
    for claim in document["claims"]:
        assert set(claim) == set(claim_schema["properties"])
    c = document["claims"][0]
    assert c["experiments"] == ["other", "baseline"] and c["verdict"] == "beyond_noise"
    assert c["test"] == "paired t-test" and c["family_size"] == 1 and c["adjusted_p"] == c["p"]
    assert c["values"] == {"other": pytest.approx(0.802), "baseline": pytest.approx(0.862)}
    assert c["difference"] == pytest.approx(-0.06) and c["p"] < 0.05 and c["seeds"] == [0, 1, 2]
    assert c["family"] == "group:g" and c["decimals"] == 2  # every seed −6.00 points: no error
    assert c["sentence"] == ("Other against Baseline: −6.00 points [−6.00, −6.00] (80.20% against 86.20%), above on "
                             "0 of 3 seeds; beyond seed noise (paired t-test, Holm-adjusted p < 0.001 over this "
                             "group's 1 comparison).")


@pytest.mark.slow  # renders a whole report
def test_a_claim_within_noise_says_so_in_claims_json(tmp_path):
    project = project_with(tmp_path, [0.80, 0.84, 0.8603], spread=0.02)
    html_of(project)
    c = json.loads((project / "build" / "claims.json").read_text())["claims"][0]
    assert c["verdict"] == "within_noise" and c["p"] >= 0.05 and "within seed noise" in c["sentence"]


@pytest.mark.slow  # renders a whole report
def test_a_claim_over_one_seed_is_untestable_in_claims_json(tmp_path):
    config = write_config(tmp_path / "experiments.toml", config_text("what_changed", defaults={"repeats": 1}))
    write_fixture_results(config, tmp_path / "results", {"baseline": {"accuracies": BASELINE},
                                                         "other": {"accuracies": [0.7, 0.75, 0.8]}})
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    html_of(tmp_path)
    c = json.loads((tmp_path / "build" / "claims.json").read_text())["claims"][0]
    assert c["verdict"] == "untestable" and c["p"] is None and c["test"] is None
    assert c["sentence"] == ("Other against Baseline: −6.0 points (80.0% against 86.0%), above on 0 of 1 seed; no "
                             "test with 1 seed: 3 or more are needed.")
