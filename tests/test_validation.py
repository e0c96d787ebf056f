"""The validation split (`validation = N`): held out of training, the best epoch picked on it and never on
the test set; off by default, and then no part of a result's identity."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import config_text, write_dataset

from report_builder.config import TrainConfig
from report_builder.config.parse import parse_suite
from report_builder.errors import ConfigError, DataError
from report_builder.analysis.views import experiment_view
from report_builder.results.identity import changes, identity_of
from report_builder.training.autograd import train_run
from report_builder.training.data import load_raw, normalize, prepare
from report_builder.training.engine import train_stack

CPU = torch.device("cpu")


@pytest.fixture
def raw(tmp_path):
    return load_raw(write_dataset(tmp_path / "d", n_train=256, n_test=64))


def config(**overrides) -> TrainConfig:
    return dataclasses.replace(TrainConfig(hidden=16, epochs=2, batch_size=32, device="cpu"), **overrides)


# ---- config and identity -------------------------------------------------------------------------------

def test_validation_is_off_by_default():
    assert TrainConfig().validation == 0


def test_validation_must_leave_training_images():
    with pytest.raises(ConfigError) as caught:
        parse_suite(config_text(experiments={"a": {"max_train": 1000, "validation": 1000}}), Path("experiments.toml"))
    assert caught.value.problems == ["experiments.toml: [experiments.a] validation: must be less than max_train "
                                     "(1000), the training images it is taken from, got 1000"]


def test_no_validation_keeps_the_identity_of_results_stored_before_the_key():
    now = identity_of(config(), "f" * 16, "cpu")
    assert "validation" not in now["config"]
    before = {**now, "config": {k: v for k, v in now["config"].items() if k != "validation"}}
    assert changes(before, now) == []


def test_a_validation_split_is_part_of_the_identity():
    off, on = identity_of(config(), "f" * 16, "cpu"), identity_of(config(validation=50), "f" * 16, "cpu")
    assert on["config"]["validation"] == 50
    assert changes(off, on) == ["validation is new"]
    assert changes(on, identity_of(config(validation=60), "f" * 16, "cpu")) == ["validation changed 50 → 60"]


# ---- the data ------------------------------------------------------------------------------------------

def test_the_split_is_the_last_training_images_and_is_not_trained_on(raw):
    data = prepare(raw, CPU, validation=56)
    assert data.train_x.shape[0] == 200 and data.val_x.shape[0] == 56
    assert torch.equal(data.val_x, normalize(raw.train_images[200:]))
    assert torch.equal(data.train_y, raw.train_labels[:200]) and torch.equal(data.val_y, raw.train_labels[200:])


def test_the_split_is_taken_from_the_capped_training_set(raw):
    data = prepare(raw, CPU, max_train=100, validation=20)
    assert torch.equal(data.val_x, normalize(raw.train_images[80:100]))


def test_no_split_trains_on_every_image(raw):
    data = prepare(raw, CPU)
    assert data.train_x.shape[0] == 256 and data.val_x is None


def test_a_split_of_every_image_is_one_clear_error(raw):
    with pytest.raises(DataError) as caught:
        prepare(raw, CPU, validation=256)
    assert "validation = 256 would hold out every one of the 256 training images" in str(caught.value)


# ---- both engines --------------------------------------------------------------------------------------

def test_both_engines_measure_the_split_alike(raw):
    data = prepare(raw, CPU, validation=56)
    (explicit,) = train_stack([config(validation=56)], [0], data, CPU)
    autograd = train_run(config(validation=56, engine="autograd"), data, 0, CPU)
    for a, b in zip(explicit.epochs, autograd.epochs):
        assert 0.0 <= a.val_accuracy <= 1.0 and a.val_loss > 0
        assert a.val_accuracy == pytest.approx(b.val_accuracy, abs=1 / 56 + 1e-9)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-3)


def test_without_a_split_no_validation_numbers_are_recorded(raw):
    (run,) = train_stack([config()], [0], prepare(raw, CPU), CPU)
    assert all(e.val_accuracy is None and e.val_loss is None for e in run.epochs)


# ---- the best epoch ------------------------------------------------------------------------------------

def result(test: list[float], val: list[float | None]) -> dict:
    epochs = [{"epoch": i + 1, "train_loss": 1.0, "test_loss": 1.0, "test_accuracy": t, "val_accuracy": v,
               "val_loss": None if v is None else 1.0, "train_seconds": 1.0, "eval_seconds": 0.1}
              for i, (t, v) in enumerate(zip(test, val))]
    return {"experiment": "e", "status": "done", "config": {"probes": []}, "provenance": {},
            "runs": [{"seed": 0, "repeat": 0, "diverged_at": None, "epochs": epochs}]}


def test_the_best_epoch_is_picked_on_the_validation_split_not_the_test_set():
    # the test set peaks at epoch 3, the validation split at epoch 1: the best epoch is 1
    view = experiment_view(result(test=[0.80, 0.81, 0.85], val=[0.84, 0.82, 0.83]))
    assert view.best.epoch == 1 and view.best.test_accuracy.mean == 0.80


def test_without_a_split_there_is_no_best_epoch():
    assert experiment_view(result(test=[0.80, 0.85, 0.81], val=[None, None, None])).best is None


# ---- the report ----------------------------------------------------------------------------------------



def render(tmp_path, validation: int) -> str:
    import re
    import shutil

    from conftest import REPO_DIR, fixture_result, write_config

    from report_builder.config import load_suite
    from report_builder.report.render import render_report
    from report_builder.results import store

    path = write_config(tmp_path / "experiments.toml",
                        config_text("two_experiments", defaults={"repeats": 2, "validation": validation}))
    for name in ("baseline", "other"):
        doc = fixture_result(path, name, [0.80, 0.84, 0.83], repeats=2)
        for run in doc["runs"]:
            for e in run["epochs"]:
                # the validation split peaks at epoch 2, the test set too: whichever picks, epoch 2 wins
                e["val_accuracy"] = e["test_accuracy"] + 0.01 if validation else None
        store.write_result(tmp_path / "results", {k: v for k, v in doc.items() if k != "format"})
    shutil.copytree(REPO_DIR / "templates", tmp_path / "templates")
    render_report(load_suite(path), tmp_path / "results", tmp_path / "build", tmp_path / "templates", pdf=False,
                  figure_files=False)  # the HTML alone: no figure files, no exports
    return re.sub(r"\s+", " ", (tmp_path / "build" / "report.html").read_text(encoding="utf-8"))


def test_without_a_split_the_report_claims_no_best_epoch(tmp_path):
    html = render(tmp_path, 0)
    assert "best" not in html.lower().replace("best-practice", "")


def test_with_a_split_the_best_epoch_is_labelled_as_picked_on_it(tmp_path):
    html = render(tmp_path, 50)
    assert "<em>Best-validation accuracy</em> is the test accuracy at the epoch with the highest mean validation " \
           "accuracy over seeds, on 50 training images held out from training; the test set never picks an epoch." \
           in html
    assert "Best-validation accuracy (epoch)" in html


def test_with_a_split_the_per_epoch_table_shows_what_the_pick_saw(tmp_path):
    html = render(tmp_path, 50)
    assert '<th scope="col">Validation accuracy</th>' in html


def test_without_a_split_the_per_epoch_table_has_no_validation_column(tmp_path):
    assert "Validation accuracy" not in render(tmp_path, 0)
