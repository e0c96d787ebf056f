"""Speed claims from recorded timing rounds (findings/speed.py): stated with ratio, interval and rounds, or
withheld with the reason; busy rounds left out whole, the all-rounds result kept beside."""

from __future__ import annotations

import pytest
from conftest import config_text, write_config

from report_builder.config import load_suite
from report_builder.findings.speed import headline, speed_claims, summary
from rounds_fixture import BUSY, QUIET, timing_document


@pytest.fixture
def suite_path(tmp_path):
    return write_config(tmp_path / "experiments.toml", config_text("timing"))


QUIET_ROUNDS = {"base": [2.0, 2.2, 1.9, 2.1, 2.0], "other": [1.0, 1.1, 1.0, 1.0, 1.05]}


def claims_of(suite_path, seconds=QUIET_ROUNDS, **more):
    suite = load_suite(suite_path)
    return speed_claims(suite, timing_document(suite_path, seconds, **more))


def test_a_quiet_machine_states_the_ratio_with_its_interval_over_rounds(suite_path):
    (c,) = claims_of(suite_path)
    assert c.kind == "speedup" and c.id == "speed/other-vs-base-speed" and c.experiments == ("other", "base")
    assert not c.withheld and c.reason is None and c.rounds == 5 == c.rounds_run and c.excluded == ()
    ratios = [b / o for b, o in zip(QUIET_ROUNDS["base"], QUIET_ROUNDS["other"])]
    geometric = 1.0
    for r in ratios:
        geometric *= r ** (1 / 5)
    assert c.ratio == pytest.approx(geometric)
    assert 1 < c.interval[0] < c.ratio < c.interval[1] and not c.equal_speed_possible


def test_the_faster_experiment_comes_first_whatever_the_declared_order(suite_path):
    (c,) = claims_of(suite_path, {"base": [1.0] * 5, "other": [3.0, 3.1, 2.9, 3.0, 3.0]})
    assert c.experiments == ("base", "other") and c.ratio == pytest.approx(3.0, rel=0.02)


def test_an_interval_that_reaches_equal_speed_says_so(suite_path):
    (c,) = claims_of(suite_path, {"base": [1.0, 1.3, 0.8, 1.2, 0.9], "other": [1.0, 1.0, 1.0, 1.0, 1.0]})
    assert not c.withheld and c.interval[0] <= 1.0 and c.equal_speed_possible


def test_busy_rounds_are_left_out_and_the_all_rounds_ratio_is_kept_beside(suite_path):
    # rounds 2 and 4 busy: other looked 3× faster there; the three quiet rounds say 2×
    seconds = {"base": [2.0, 6.0, 2.0, 6.0, 2.0], "other": [1.0, 2.0, 1.0, 2.0, 1.0]}
    readings = [(QUIET, QUIET), (BUSY, QUIET), (QUIET, QUIET), (QUIET, BUSY), (QUIET, QUIET)]
    (c,) = claims_of(suite_path, seconds, readings=readings)
    assert not c.withheld and c.excluded == (2, 4) and c.rounds == 3 and c.rounds_run == 5
    assert c.ratio == pytest.approx(2.0)
    assert c.all_rounds.rounds == 5 and c.all_rounds.estimate == pytest.approx((2 * 3 * 2 * 3 * 2) ** (1 / 5))


def test_three_busy_rounds_of_five_withhold_the_claim_as_busy(suite_path):
    readings = [(BUSY, QUIET), (QUIET, BUSY), (BUSY, BUSY), (QUIET, QUIET), (QUIET, QUIET)]
    (c,) = claims_of(suite_path, readings=readings)
    assert c.withheld and c.reason == "busy" and c.ratio is None and c.interval is None and c.rounds == 0
    assert c.all_rounds.rounds == 5  # measured, not stated
    timing = summary(timing_document(suite_path, QUIET_ROUNDS, readings=readings), load_suite(suite_path))
    assert timing.busy and timing.kept == 2 and "cpu_pressure" not in timing.over  # median of 10 readings: quiet


def test_a_machine_never_quiet_withholds_with_the_figures_that_show_it(suite_path):
    (c,) = claims_of(suite_path, readings=[(BUSY, BUSY)] * 5)
    assert c.withheld and c.reason == "busy"
    timing = summary(timing_document(suite_path, QUIET_ROUNDS, readings=[(BUSY, BUSY)] * 5), load_suite(suite_path))
    assert timing.excluded == (1, 2, 3, 4, 5) and set(timing.over) == {"load", "cpu_pressure", "others_share"}
    assert timing.figures["cpu_pressure"] == 60.0


def test_a_sample_disturbed_by_other_work_leaves_its_round_out(suite_path):
    (c,) = claims_of(suite_path, shares={1: 0.5, 3: 0.5, 5: 0.5})
    assert c.withheld and c.reason == "busy" and c.excluded == (1, 3, 5)


def test_a_reference_step_that_drifted_past_five_percent_withholds_the_claim(suite_path):
    (moved,) = claims_of(suite_path, drift=(1.0, 1.06))
    (held,) = claims_of(suite_path, drift=(1.0, 1.04))
    assert moved.withheld and moved.reason == "drift" and moved.ratio is None
    assert not held.withheld and held.ratio is not None


def test_without_timing_rounds_every_speed_claim_is_withheld_as_not_timed(suite_path):
    (c,) = speed_claims(load_suite(suite_path), None)
    assert c.withheld and c.reason == "not_timed" and c.rounds_run == 0 and c.all_rounds is None


def test_rounds_timed_with_other_settings_are_stale(suite_path, tmp_path):
    document = timing_document(suite_path, QUIET_ROUNDS)
    changed = write_config(tmp_path / "changed.toml", config_text("timing", experiments={"other": {"lr": 0.1}}))
    (c,) = speed_claims(load_suite(changed), document)
    assert c.withheld and c.reason == "stale"


def test_two_experiments_timed_on_different_devices_are_not_compared(suite_path):
    (c,) = claims_of(suite_path, devices={"other": "NVIDIA H100"})
    assert c.withheld and c.reason == "devices"


def test_every_pair_of_a_timing_group_is_claimed_and_the_headline_is_the_widest(tmp_path):
    path = write_config(tmp_path / "experiments.toml", config_text(
        "timing", experiments={"third": {"title": "Third", "batch_size": 64}},
        groups={"speed": {"experiments": ["base", "other", "third"]}}))
    seconds = {"base": [2.0] * 5, "other": [1.0, 1.02, 0.98, 1.0, 1.0], "third": [0.5, 0.51, 0.49, 0.5, 0.5]}
    claims = speed_claims(load_suite(path), timing_document(path, seconds))
    assert [c.experiments for c in claims] == [("other", "base"), ("third", "base"), ("third", "other")]
    assert headline(claims).experiments == ("third", "base") and headline(claims).ratio == pytest.approx(4.0, rel=0.01)


def test_a_group_that_is_no_timing_comparison_has_no_speed_claim(tmp_path):
    path = write_config(tmp_path / "experiments.toml", config_text("timing", groups={"speed": {"timing": False}}))
    assert speed_claims(load_suite(path), None) == []
