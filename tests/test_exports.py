"""The exports (report.md, tables/*.tex, figures/*.pdf): the same tables and digits as the HTML, published with it."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import EVENT_TIMEOUT, REPO_DIR, config_text, write_config, write_fixture_results
from markdown_it import MarkdownIt

from report_builder.config import load_suite
from report_builder.errors import OutputError, RenderError
from report_builder.report import export
from report_builder.report.render import make_environment, render_report

SUITE = config_text("exports")


def exports_project(folder: Path) -> Path:
    """Fixture results (three seeds, a failed member, probes) and a private copy of the shipped templates."""
    config = write_config(folder / "experiments.toml", SUITE)
    write_fixture_results(config, folder / "results", {
        "baseline": {"accuracies": [0.80, 0.85, 0.8612], "seconds": 2.0, "repeats": 3},
        "fast": {"accuracies": [0.79, 0.84, 0.8534], "seconds": 1.0, "repeats": 3},
        "broken": {"accuracies": [], "status": "failed"},
        "probed": {"accuracies": [0.80, 0.85, 0.86], "probes": {"relu_active": [3000, 2500, 2000],
                                                                 "relu_grad_sq": [4.0, 3.0, 2.5]}},
    })
    shutil.copytree(REPO_DIR / "templates", folder / "templates")
    return folder


def whole_exports_project(folder: Path) -> Path:
    """A group, a reference and a sweep (tests/fixtures/exports_full.toml), three seeds each."""
    config = write_config(folder / "experiments.toml", config_text("exports_full"))
    (folder / "ref.csv").write_text("experiment,epoch,test_accuracy,train_seconds\nbaseline,3,0.85,20.0\n"
                                    "fast,3,0.95,12.5\n", encoding="utf-8")
    write_fixture_results(config, folder / "results", {
        "baseline": {"accuracies": [0.80, 0.85, 0.8612], "repeats": 3},
        "fast": {"accuracies": [0.79, 0.84, 0.8534], "repeats": 3},
        "lr-lr-0p01": {"accuracies": [0.80, 0.86, 0.87], "repeats": 3},
        "lr-lr-0p1": {"accuracies": [0.70, 0.75], "repeats": 2, "spread": 0.01},
        "probed_a": {"accuracies": [0.80, 0.85], "repeats": 2, "probes": {"relu_active": [3000, 2500],
                                                                          "relu_grad_sq": [4.0, 3.0]}},
        "probed_b": {"accuracies": [0.81, 0.86], "repeats": 2, "probes": {"relu_active": [2000, 1500],
                                                                          "relu_grad_sq": [0.5, 0.25]}},
    })
    shutil.copytree(REPO_DIR / "templates", folder / "templates")
    return folder


@pytest.fixture
def project(tmp_path):
    return exports_project(tmp_path)


@pytest.fixture
def whole_project(tmp_path):
    return whole_exports_project(tmp_path)


# A render takes seconds: the tests that only read a build share one, rendered once per module. They never
# write into it; a test that changes the project or its build renders its own.

@pytest.fixture(scope="module")
def project_build(tmp_path_factory) -> Path:
    return render(exports_project(tmp_path_factory.mktemp("exports")))


@pytest.fixture(scope="module")
def whole_project_build(tmp_path_factory) -> Path:
    return render(whole_exports_project(tmp_path_factory.mktemp("exports-whole")))


def render(project: Path) -> Path:
    render_report(load_suite(project / "experiments.toml"), project / "results", project / "build",
                  project / "templates", pdf=False)
    return project / "build"


class _Tables(HTMLParser):
    """The HTML's report tables (those with an id), each as rows of cell texts; captions left out."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = self._cell = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id", "").startswith("tab-"):
            self._table = self.tables.setdefault(attrs["id"], [])
        elif self._table is not None and tag == "tr":
            self._table.append([])
        elif self._table is not None and tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None and not self._in_caption:
            self._cell.append(data)


def html_tables(build_dir: Path) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed((build_dir / "report.html").read_text(encoding="utf-8"))
    return parser.tables


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table of a Markdown text as rows of cell texts, as a Markdown renderer reads them."""
    tables, row = [], None
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
            tables[-1].append(row)
        elif token.type == "inline" and row is not None:
            row.append("".join(child.content for child in token.children or []
                               if child.type in ("text", "code_inline")))
        elif token.type == "tr_close":
            row = None
    return tables


def strip_empty(rows: list[list[str]]) -> list[list[str]]:
    """Rows without trailing empty cells: a Markdown row spans nothing, it fills the rest with empty cells."""
    stripped = []
    for cells in rows:
        while cells and cells[-1] == "":
            cells = cells[:-1]
        stripped.append(cells)
    return stripped


def test_markdown_tables_state_the_html_tables_cell_for_cell(project_build):
    build = project_build
    ours = html_tables(build)
    theirs = [strip_empty(t) for t in markdown_tables((build / "report.md").read_text(encoding="utf-8"))]
    assert len(ours) == 4 and len(theirs) == len(ours) + 1  # and the Findings
    for key, rows in ours.items():
        assert rows in theirs, key


def test_markdown_states_reproduction_sweep_gradient_flow_and_provenance_tables_cell_for_cell(whole_project_build):
    build = whole_project_build
    ours = html_tables(build)
    theirs = [strip_empty(t) for t in markdown_tables((build / "report.md").read_text(encoding="utf-8"))]
    assert {"tab-reproduction", "tab-_sweep-lr", "tab-relu_gradient-gradient-flow", "tab-provenance"} <= set(ours)
    assert len(theirs) == len(ours) + 1  # and the Findings
    for key, rows in ours.items():
        assert rows in theirs, key


class _Headings(HTMLParser):
    """The text of every <h2>: the HTML's sections."""

    def __init__(self):
        super().__init__()
        self.headings: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._text = []

    def handle_endtag(self, tag):
        if tag == "h2":
            self.headings.append(" ".join("".join(self._text).split()))
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def test_markdown_has_a_heading_for_every_html_section_in_its_order(whole_project_build):
    build = whole_project_build
    parser = _Headings()
    parser.feed((build / "report.html").read_text(encoding="utf-8"))
    tokens = MarkdownIt("commonmark").parse((build / "report.md").read_text(encoding="utf-8"))
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert "Methods" in " ".join(headings) and "Learning rate sweep" in " ".join(headings)
    assert headings == [h for h in parser.headings if h != "Contents"]


def test_markdown_states_a_sections_sentences_as_the_html_does(whole_project_build):
    build = whole_project_build
    text = " ".join((build / "report.md").read_text(encoding="utf-8").split())
    assert "The mean falls with every step up in lr, so the best value is the smallest swept" in text
    assert "Not reproduced: Baseline and Big batches." in text
    assert "Seeds. Each experiment trains once per seed" in text
    assert "In Probed B, the first layer's mean squared gradient is" in text
    # what the HTML says before any result: the network and the device
    assert "An MLP, Linear(784, 128) → ReLU → Linear(128, 10), trained on Fashion-MNIST" in text
    assert "Run on a CPU (Test CPU), so times are CPU times." in text
    assert "- Code: git abc1234def; training code " in text


def test_markdown_prose_leaves_out_the_html_figure_captions_and_text_alternatives(whole_project_build):
    build = whole_project_build
    html = " ".join((build / "report.html").read_text(encoding="utf-8").split())
    text = " ".join((build / "report.md").read_text(encoding="utf-8").split())
    assert "hollow markers are single seeds" in html and "Chart of final test accuracy" in html
    assert "hollow markers are single seeds" not in text.split("](figures/")[0].lower()
    assert "Chart of final test accuracy" not in text


def test_markdown_keeps_a_title_with_table_and_emphasis_characters_as_written(project_build):
    build = project_build
    comparison = markdown_tables((build / "report.md").read_text(encoding="utf-8"))[1]  # after the Findings
    assert [row[0] for row in comparison[1:]] == ["Baseline | R&D_1 50% $x$", "Big *batches*", "Broken"]


@pytest.mark.parametrize("suite", ["project_build", "whole_project_build"], ids=["project", "whole_project"])
def test_markdown_links_every_figure_file_relative_to_itself(suite, request):
    build = request.getfixturevalue(suite)
    text = (build / "report.md").read_text(encoding="utf-8")
    links = [token.attrs["src"] for block in MarkdownIt("commonmark").parse(text) if block.type == "inline"
             for token in block.children if token.type == "image"]
    assert sorted(links) == sorted(f"figures/{p.name}" for p in (build / "figures").glob("*.svg"))
    assert all((build / link).is_file() for link in links)


def test_latex_tables_carry_the_html_cells_with_booktabs_caption_and_label(project_build):
    build = project_build
    tex = (build / "tables" / "batch_size-comparison.tex").read_text(encoding="utf-8")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "\\caption{Batch size study against Baseline" in tex and "\\label{tab:batch_size-comparison}" in tex
    big = html_tables(build)["tab-batch_size-comparison"][2]
    assert big[1] == "85.5 ± 0.2%"
    assert "Big *batches* & 85.5 $\\pm$ 0.2\\% & $-$0.78 [$-$0.78, $-$0.78] & 0 of 3 & " in tex  # no error: two decimals
    assert "\\multicolumn{6}{l}{failed: RuntimeError: boom}" in tex


def test_every_table_has_a_tex_file_and_the_readme_says_how_to_include_them(project_build):
    build = project_build
    names = sorted(p.name for p in (build / "tables").iterdir())
    assert names == ["README", "batch_size-comparison.tex", "epochs.tex", "provenance.tex",
                     "relu_gradient-probed-probes.tex"]
    readme = (build / "tables" / "README").read_text(encoding="utf-8")
    assert len(readme.splitlines()) == 1 and "\\usepackage{booktabs" in readme and "\\input{tables/NAME}" in readme


def test_reproduction_sweep_gradient_flow_and_provenance_tables_have_tex_files(whole_project_build):
    build = whole_project_build
    names = {p.name for p in (build / "tables").iterdir()}
    assert {"reproduction.tex", "_sweep-lr.tex", "relu_gradient-gradient-flow.tex", "provenance.tex"} <= names
    sweep = (build / "tables" / "_sweep-lr.tex").read_text(encoding="utf-8")
    assert "\\label{tab:_sweep-lr}" in sweep and "\\caption{Learning rate sweep: each value's final test accuracy" in sweep
    assert "0.1 & 0: 75.0\\%, 1: 76.0\\% & 75.5\\% & " in sweep
    reproduction = (build / "tables" / "reproduction.tex").read_text(encoding="utf-8")
    assert "Big batches & 95.0\\% & 85.5 $\\pm$ 0.2\\% & $-$9.5 & " in reproduction


def _pdflatex_or_skip() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdflatex is missing under CI=true (.ci/run installs texlive-latex-base)")
        pytest.skip("pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)")
    return found


@pytest.mark.parametrize("suite", ["project", "whole_project"])
def test_latex_tables_and_figures_compile_with_pdflatex(suite, request):
    pdflatex = _pdflatex_or_skip()
    build = render(request.getfixturevalue(suite))
    inputs = "\n".join(f"\\input{{tables/{p.stem}}}" for p in sorted((build / "tables").glob("*.tex")))
    figure = "\\noindent\\includegraphics[width=\\linewidth]{figures/batch_size-curves.pdf}"
    doc = build / "current" / "paper.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n"
                   f"{inputs}\n{figure}\nSee Table~\\ref{{tab:batch_size-comparison}}.\n\\end{{document}}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=doc.parent,
                          capture_output=True, text=True, timeout=EVENT_TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (doc.parent / "paper.pdf").read_bytes().startswith(b"%PDF")
    assert "Overfull \\hbox" not in done.stdout


def test_every_figure_is_also_a_vector_pdf(project_build):
    build = project_build
    svgs = sorted(p.stem for p in (build / "figures").glob("*.svg"))
    pdfs = sorted(p.stem for p in (build / "figures").glob("*.pdf"))
    assert svgs == pdfs and svgs
    assert all((build / "figures" / f"{s}.pdf").read_bytes().startswith(b"%PDF") for s in pdfs)


def test_a_failed_export_leaves_the_previous_set_whole(project):
    build = render(project)
    before = {name: (build / name).read_text(encoding="utf-8") for name in ("report.html", "report.md")}
    (project / "templates" / "exports" / "report.md.j2").write_text("{{ no_such_name }}")
    with pytest.raises(RenderError) as caught:
        render(project)
    assert "report.md.j2:1: undefined in template" in str(caught.value)
    assert {name: (build / name).read_text(encoding="utf-8") for name in before} == before
    assert (build / "tables" / "batch_size-comparison.tex").is_file()


def test_a_table_file_name_never_leaves_the_tables_folder(project, tmp_path):
    env = make_environment(project / "templates")
    (tmp_path / "version").mkdir()

    class Escaping:
        name = "../../outside"

    with pytest.raises(OutputError):
        export.write_latex_tables(env, {"report_tables": [Escaping()]}, tmp_path / "version")
    assert not (tmp_path / "outside.tex").exists()
