"""The numbers the report states, computed on the results side: per-epoch accessors, the ReLU probes' split,
the like-for-like seed comparison and the rule that decides whether speeds may be ranked."""

from __future__ import annotations

import pytest

from report_builder.analysis.views import experiment_view, falls_every_epoch
from report_builder.findings.speed import SpeedClaim
from report_builder.findings.comparison import (
    compare,
    least_accurate,
    like_for_like,
    most_accurate,
    speed_unranked,
)


def view(name: str = "a", accuracies=(0.8, 0.85), seeds=(0,), seconds: float = 1.0, probes: dict | None = None,
         stacked_with: int = 1, stack=(), device: str = "CPU", disturbed: bool = False, losses=None):
    """An ExperimentView from a results document with these numbers (each seed's run the same)."""
    runs = [{"seed": seed, "repeat": i, "diverged_at": None, "stacked_with": stacked_with,
             "epochs": [{"epoch": e + 1, "train_loss": 1.0, "test_loss": losses[e] if losses else 0.5,
                         "test_accuracy": accuracy, "train_seconds": seconds, "eval_seconds": 0.1,
                         "timing_disturbed": disturbed,
                         "probes": {p: values[e] for p, values in (probes or {}).items()}}
                        for e, accuracy in enumerate(accuracies)]}
            for i, seed in enumerate(seeds)]
    provenance = {"device_name": device, **({"stacked_experiments": list(stack)} if stack else {})}
    return experiment_view({"experiment": name, "status": "done", "config": {"probes": list(probes or {})},
                            "runs": runs, "provenance": provenance})


# ---- one epoch, one experiment ----------------------------------------------------------------

def test_an_epoch_reads_metrics_and_probes_by_one_name():
    epoch = view(probes={"relu_active": [100, 50], "relu_grad_sq": [2.0, 0.5]}).epochs[1]
    assert epoch.stat("test_accuracy").mean == 0.85
    assert epoch.stat("relu_active").mean == 50
    assert epoch.stat("relu_grad_sq").mean == 0.5


def test_an_epoch_without_a_probe_reads_none_for_it():
    assert view().epochs[0].stat("relu_active") is None


def test_a_misspelt_metric_is_an_error_not_a_missing_value():
    with pytest.raises(KeyError) as caught:
        view().epochs[0].stat("test_acuracy")
    assert "test_acuracy" in str(caught.value)


def test_per_active_is_the_squared_gradient_over_the_active_count():
    epochs = view(probes={"relu_active": [100, 50], "relu_grad_sq": [2.0, 0.5]}).epochs
    assert [e.per_active for e in epochs] == [0.02, 0.01]


def test_per_active_is_unknown_without_an_active_input():
    assert view(probes={"relu_active": [0, 50], "relu_grad_sq": [2.0, 0.5]}).epochs[0].per_active is None


def test_falling_every_epoch_needs_every_step_down():
    assert falls_every_epoch(view(accuracies=(0.8, 0.8, 0.8), losses=[3.0, 2.0, 1.0]), "test_loss")
    assert not falls_every_epoch(view(accuracies=(0.8, 0.8, 0.8), losses=[3.0, 2.0, 2.0]), "test_loss")


# ---- one seed against the same seed ------------------------------------------------------------

def test_like_for_like_compares_the_lowest_shared_seed_after_the_epochs_both_reached():
    a = view("a", accuracies=(0.80, 0.84, 0.90), seeds=(0,))
    b = view("b", accuracies=(0.81, 0.8578), seeds=(2, 1, 0))
    c = like_for_like(a, b)
    assert (c.seed, c.epoch) == (0, 2)
    assert c.a["test_accuracy"] == 0.84 and c.b["test_accuracy"] == 0.8578
    assert c.accuracy_points == pytest.approx(1.78) and c.same is False


def test_like_for_like_calls_equal_numbers_the_same():
    c = like_for_like(view("a"), view("b"))
    assert c.accuracy_points == 0.0 and c.same is True


def test_like_for_like_is_none_without_a_shared_seed():
    assert like_for_like(view("a", seeds=(0,)), view("b", seeds=(1, 2))) is None


# ---- whether speeds may be ranked ---------------------------------------------------------------

def test_runs_alone_on_one_device_are_ranked_by_speed():
    assert speed_unranked([view("a", seconds=2.0), view("b", seconds=1.0)]) is None


def test_members_of_one_stack_are_not_ranked_by_speed():
    pair = [view(n, stacked_with=2, stack=("a", "b")) for n in ("a", "b")]
    assert speed_unranked(pair) == "stacked"


def test_runs_alone_against_runs_in_a_stack_were_not_timed_alike():
    assert speed_unranked([view("a"), view("b", stacked_with=3, stack=("b", "c", "d"))]) == "not_alike"


def test_runs_on_two_devices_were_not_timed_alike():
    assert speed_unranked([view("a"), view("b", device="NVIDIA H100")]) == "not_alike"


def test_a_run_without_an_undisturbed_epoch_is_not_ranked_by_speed():
    assert speed_unranked([view("a"), view("b", disturbed=True)]) == "disturbed"


def speed_claim(faster: str, slower: str, ratio: float | None, interval=(3.0, 5.0), reason=None) -> SpeedClaim:
    return SpeedClaim(id=f"g/{faster}-vs-{slower}-speed", kind="speedup", group="g", section="group-g",
                      experiments=(faster, slower), titles=(faster, slower), ratio=ratio,
                      interval=interval if ratio else None, rounds=5 if ratio else 0, withheld=ratio is None,
                      reason=reason)


def test_a_speed_up_comes_from_the_speed_claim_not_from_the_runs_seconds():
    # the runs say 4× (2.0 s against 0.5 s); the timing rounds said 3.5×
    c = compare(view("b", seconds=0.5), view("a", seconds=2.0), speed=speed_claim("b", "a", 3.5))
    assert c.speedup == 3.5 and (c.speed.low, c.speed.high, c.speed.rounds) == (3.0, 5.0, 5)


def test_a_baseline_faster_than_the_member_gives_a_speed_up_below_one():
    c = compare(view("b"), view("a"), speed=speed_claim("a", "b", 2.0, interval=(1.6, 2.5)))
    assert c.speedup == pytest.approx(0.5) and c.speed.low == pytest.approx(0.4) and c.speed.high == pytest.approx(0.625)


def test_a_withheld_speed_claim_gives_no_speed_up():
    c = compare(view("b", seconds=0.5), view("a", seconds=2.0), speed=speed_claim("b", "a", None, reason="busy"))
    assert c.speedup is None and c.speed is None and c.speed_claim.reason == "busy"


# ---- rankings ---------------------------------------------------------------------------------------

def test_a_tie_in_accuracy_names_two_different_experiments():
    tied = [view("a"), view("b"), view("c")]
    assert (most_accurate(tied).name, least_accurate(tied).name) == ("a", "c")
