"""Every figure beside the report is written as SVG, PNG and PDF (the PDF for LaTeX's \\includegraphics),
a sweep's figure too."""

from __future__ import annotations

from conftest import write_config, write_fixture_results

from report_builder.config import load_suite
from report_builder.report.render import render_report


def test_a_sweeps_figure_has_the_formats_of_every_other_figure(tmp_path):
    config = write_config(tmp_path / "experiments.toml", '[defaults]\nepochs = 2\ndevice = "cpu"\n'
                          '[experiments.baseline]\n[groups.g]\nexperiments = ["baseline"]\n'
                          '[sweeps.lr]\nvary = { lr = [0.1, 0.01] }\n')
    suite = load_suite(config)
    write_fixture_results(config, tmp_path / "results", {name: {"accuracies": [0.5, 0.6]} for name in suite.experiments})
    render_report(suite, tmp_path / "results", tmp_path / "build", None, pdf=False)
    figures = tmp_path / "build" / "figures"
    formats = lambda stem: sorted(p.suffix for p in figures.glob(f"{stem}.*"))  # noqa: E731
    assert formats("g-curves") == [".pdf", ".png", ".svg"]
    assert formats("_sweep-lr") == formats("g-curves")
    assert (figures / "_sweep-lr.pdf").read_bytes().startswith(b"%PDF")
