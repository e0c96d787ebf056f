"""The identity a result is cached under holds only what decides this run's numbers: a setting that its
optimizer, pipeline or device ignores re-runs nothing."""

from __future__ import annotations

import io

import pytest
from conftest import write_config

from report_builder.config import TrainConfig, load_suite
from report_builder.execution.runner import run_suite
from report_builder.progress import Progress
from report_builder.results import store


@pytest.fixture
def trained(monkeypatch):
    """Every (experiment, seed) that training is asked for, in order."""
    import report_builder.training.train as training

    calls, real = [], training.train

    def spy(configs, repeats, *args, **kwargs):
        calls.extend((c.optimizer, c.seed + r) for c, r in zip(configs, repeats))
        return real(configs, repeats, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    return calls


def run(config, results_dir) -> list[str]:
    stream = io.StringIO()
    run_suite(load_suite(config), [], results_dir, progress=Progress(stream, bars=False))
    return stream.getvalue().splitlines()


def change(config, old: str, new: str) -> None:
    assert old in config.read_text()
    write_config(config, config.read_text().replace(old, new))


def test_momentum_under_adam_reruns_nothing_and_under_sgd_reruns(tiny_config, tmp_path, trained):
    run(tiny_config, tmp_path / "r")
    trained.clear()
    change(tiny_config, 'title = "Baseline"', 'title = "Baseline"\nmomentum = 0.9')
    assert run(tiny_config, tmp_path / "r") == ["baseline: cached", "sgd: cached"]
    change(tiny_config, 'title = "SGD"', 'title = "SGD"\nmomentum = 0.9')
    lines = run(tiny_config, tmp_path / "r")
    assert lines[:2] == ["baseline: cached", "sgd: re-run, momentum changed 0 → 0.9"]
    assert trained == [("sgd", 0)]


def test_loader_workers_under_the_tensor_pipeline_reruns_nothing(tiny_config, tmp_path, trained):
    run(tiny_config, tmp_path / "r")
    trained.clear()
    change(tiny_config, "[defaults]", "[defaults]\nloader_workers = 2")
    assert run(tiny_config, tmp_path / "r") == ["baseline: cached", "sgd: cached"]
    assert trained == []


def test_cuda_graphs_on_a_cpu_reruns_nothing(tiny_config, tmp_path, trained):
    run(tiny_config, tmp_path / "r")
    trained.clear()
    change(tiny_config, "[defaults]", "[defaults]\ncuda_graphs = false")
    assert run(tiny_config, tmp_path / "r") == ["baseline: cached", "sgd: cached"]
    assert trained == []


def test_a_setting_that_counts_still_reruns(tiny_config, tmp_path):
    run(tiny_config, tmp_path / "r")
    change(tiny_config, "hidden = 16", "hidden = 8")
    assert run(tiny_config, tmp_path / "r")[0] == "baseline: re-run, hidden changed 16 → 8"


def test_an_ignored_setting_does_not_make_rendered_results_stale(tiny_config, tmp_path):
    from conftest import REPO_DIR

    from report_builder.report.render import render_report

    run(tiny_config, tmp_path / "r")
    change(tiny_config, "[defaults]", "[defaults]\ncuda_graphs = false\nloader_workers = 1\nmomentum = 0.5")
    change(tiny_config, "lr = 0.05", "lr = 0.05\nmomentum = 0.0")  # sgd keeps its own momentum
    render_report(load_suite(tiny_config), tmp_path / "r", tmp_path / "b", REPO_DIR / "templates", pdf=False,
                  figure_files=False)  # the HTML alone
    assert (tmp_path / "b" / "report.html").exists()


def test_results_written_with_the_full_settings_stay_cached(tiny_config, tmp_path, trained):
    """Results files from before this rule hold every setting in their identity: still current."""
    run(tiny_config, tmp_path / "r")
    for name, exp in load_suite(tiny_config).experiments.items():
        result = store.read_result(tmp_path / "r" / f"{name}.json")
        result["identity"]["config"] = exp.config.identity()
        store.write_result(tmp_path / "r", result)
    trained.clear()
    assert run(tiny_config, tmp_path / "r") == ["baseline: cached", "sgd: cached"]
    assert trained == []


@pytest.mark.parametrize("settings, device_kind, left_out", [
    ({"optimizer": "adam"}, "cpu", {"momentum", "loader_workers", "cuda_graphs", "validation"}),
    ({"optimizer": "sgd"}, "cuda", {"loader_workers", "validation"}),
    ({"optimizer": "sgd", "pipeline": "dataloader"}, "cuda", {"cuda_graphs", "validation"}),
    ({"optimizer": "adam", "pipeline": "dataloader"}, "cpu", {"momentum", "cuda_graphs", "validation"}),
    ({"optimizer": "sgd", "validation": 500}, "cuda", {"loader_workers"}),
])
def test_the_identity_leaves_out_exactly_what_the_run_ignores(settings, device_kind, left_out):
    from report_builder.results.identity import LATER_KEYS, run_settings

    full = TrainConfig(**settings).identity()
    kept = run_settings(full, device_kind)
    # Settings added later are left out at the value every run had before they existed.
    assert set(full) - set(kept) == left_out | {"seed", "repeats"} | set(LATER_KEYS)
