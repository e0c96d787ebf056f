"""build/claims.json: every kind of conclusion (baseline, spread, reproduction) and every kind of verdict, each
record valid against docs/claims-schema.json; the schema and the docs (statistics.md, exports.md) name the same kinds and
verdicts."""

from __future__ import annotations

import json
import re

import jsonschema
import numpy as np
import pytest
from conftest import REPO_DIR, config_text, write_config, write_fixture_results

from report_builder.analysis.statistics import VERDICTS
from report_builder.config import load_suite
from report_builder.report.render import render_report

SCHEMA = json.loads((REPO_DIR / "docs" / "claims-schema.json").read_text(encoding="utf-8"))
# The verdict words are defined on the statistics page; the kinds of claim on the exports page.
STATISTICS = (REPO_DIR / "docs" / "statistics.md").read_text(encoding="utf-8")
NOTES = STATISTICS + (REPO_DIR / "docs" / "exports.md").read_text(encoding="utf-8")
REFERENCE = {"file": "ref.csv", "label": "2021 writeup", "hardware": "Colab GPU"}


def marks(accuracy: float, seed: int, images: int = 128) -> bytes:
    """One prediction byte per image (class 3; the top bit where right), right on about `accuracy` of them."""
    right = np.random.default_rng(seed).random(images) < accuracy
    return bytes((right * 0x80 + 3).astype(np.uint8))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("claims")
    (tmp_path / "ref.csv").write_text("experiment,epoch,test_accuracy,train_seconds\n"
                                      "base,3,0.859,20.0\nthird,3,0.70,20.0\ntwo,3,0.86,20.0\n")
    suite = config_text("claims", reference=REFERENCE, experiments={"two": {"title": "Two seeds", "repeats": 2}},
                        groups={"pair": {"title": "Pair", "experiments": ["other", "third"]},
                                "small": {"title": "Small", "experiments": ["base", "two"], "baseline": "base"}})
    config = write_config(tmp_path / "experiments.toml", suite)
    three = {"accuracies": [0.80, 0.84, 0.86], "repeats": 3}
    write_fixture_results(config, tmp_path / "results", {
        "base": {**three, "predictions": [marks(0.86, s) for s in range(3)]},
        "other": {**three, "spread": 0.004, "predictions": [marks(0.87, 10 + s) for s in range(3)]},
        "third": {**three, "accuracies": [0.8, 0.84, 0.83]},
        "two": {**three, "repeats": 2}})
    render_report(load_suite(config), tmp_path / "results", tmp_path / "build", REPO_DIR / "templates", pdf=False)
    return tmp_path


@pytest.fixture(scope="module")
def claims(project) -> list[dict]:
    return json.loads((project / "build" / "claims.json").read_text(encoding="utf-8"))["claims"]


def test_an_independent_recomputation_matches_every_number(project, claims):
    from benchmarks.recompute_stats import compare, recompute

    ours = recompute(project / "experiments.toml", project / "results")
    assert compare(ours, claims) == []
    assert set(ours) == {c["id"] for c in claims if c["kind"] not in ("spread", "speedup")}


def test_every_record_is_valid_against_the_schema(claims):
    document = {"format": 1, "report": "Claims", "generated_at": "2026-01-01 00:00 UTC", "claims": claims}
    jsonschema.validate(document, SCHEMA)


def test_a_record_that_breaks_the_schema_is_refused(claims):
    wrong = {**claims[0], "verdict": "unknown"}
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.validate({"format": 1, "report": "", "generated_at": "", "claims": [wrong]}, SCHEMA)
    assert "unknown" in str(refused.value)


def test_each_kind_of_conclusion_is_there(claims):
    # the speed group's timing claim (kind speedup) is the timing rules' (tests/test_speed_report.py)
    assert {c["kind"] for c in claims} == {"baseline", "spread", "reproduction", "speedup"}
    spread = next(c for c in claims if c["kind"] == "spread")
    assert (spread["id"], spread["verdict"], spread["p"], spread["family"]) == ("pair/spread", "untestable", None, None)


def test_a_two_seed_comparison_is_untestable_and_says_what_it_needs(claims):
    two = next(c for c in claims if c["id"] == "small/two-vs-base")
    assert (two["verdict"], two["interval"], two["p"], two["detectable"]) == ("untestable", None, None, None)
    assert "no test with 2 seeds: 3 or more are needed" in two["sentence"]


def test_a_tested_claim_names_its_family_and_adjusted_p(claims):
    other = next(c for c in claims if c["id"] == "speed/other-vs-base")
    assert (other["family"], other["family_size"]) == ("group:speed", 1)
    assert other["adjusted_p"] == pytest.approx(other["p"])
    assert "over this group's 1 comparison" in other["sentence"]


def test_stored_predictions_give_the_seeds_and_images_interval_and_the_check(claims):
    other = next(c for c in claims if c["id"] == "speed/other-vs-base")
    low, high = other["seeds_and_images"]
    assert low < high and other["check"]["seed"] == 0
    assert "over seeds and test images" in other["sentence"].lower()
    third = next(c for c in claims if c["id"] == "accuracy/third-vs-base")
    assert third["seeds_and_images"] is None and third["check"] is None  # third stored none


def test_reproductions_are_one_holm_family(claims):
    found = [c for c in claims if c["kind"] == "reproduction"]
    tested = [c for c in found if c["p"] is not None]
    assert {c["id"] for c in found} == {"reproduction/base", "reproduction/third", "reproduction/two"}
    assert {c["family_size"] for c in tested} == {2} and {c["family"] for c in tested} == {"reproduction"}
    two = next(c for c in found if c["id"] == "reproduction/two")
    assert (two["verdict"], two["family"]) == ("untestable", None)
    base, third = (next(c for c in found if c["id"] == f"reproduction/{n}") for n in ("base", "third"))
    # Holm over two: the smaller p doubled, the larger kept (and never below the one before it)
    assert third["adjusted_p"] == pytest.approx(2 * third["p"]) and base["adjusted_p"] == pytest.approx(base["p"])
    assert third["verdict"] == "not_reproduced" and base["verdict"] == "inconclusive"


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def test_the_difference_printed_adds_up_from_the_values_printed(claims):
    for c in (c for c in claims if c["kind"] != "speedup"):
        if c["kind"] == "baseline":
            found = re.search(r": ([−+]?[\d.]+) points (?:\[[^\]]*\] )?\(([\d.]+)% against ([\d.]+)%\)", c["sentence"])
            d, a, b = (_number(x) for x in found.groups())
        elif c["kind"] == "spread":
            found = re.search(r"\(([\d.]+)%\) and .*? \(([\d.]+)%\), ([\d.]+) points apart", c["sentence"])
            a, b, d = (_number(x) for x in found.groups())
        elif c["kind"] == "reproduction":
            found = re.search(r"reached ([\d.]+)% against the .*?'s ([\d.]+)%, ([−+]?[\d.]+) points", c["sentence"])
            a, b, d = (_number(x) for x in found.groups())
        assert round(a - b, c["decimals"]) == pytest.approx(d), c["sentence"]
        values, difference = (found.groups()[:2] if c["kind"] != "baseline" else found.groups()[1:]), \
            (found.groups()[2] if c["kind"] != "baseline" else found.groups()[0])
        assert all(len(x.split(".")[-1]) == c["value_decimals"] for x in values if "." in x)
        assert "." not in difference or len(difference.split(".")[-1]) == c["decimals"]


def test_the_schema_and_the_notes_name_the_same_kinds_and_verdicts():
    item = SCHEMA["properties"]["claims"]["items"]["else"]["properties"]  # "then": a speedup's own fields
    assert set(item["verdict"]["enum"]) >= set(VERDICTS)
    for word in item["kind"]["enum"] + item["verdict"]["enum"]:
        assert f"`{word}`" in NOTES, word
    named = set(re.findall(r"^\| `(\w+)` \|", STATISTICS, re.M))
    assert named <= set(item["kind"]["enum"] + item["verdict"]["enum"])
