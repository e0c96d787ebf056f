"""Results → build/report.html (self-contained) → build/report.pdf (WeasyPrint, from that same HTML)."""

from __future__ import annotations

import contextlib
import re
import traceback
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import jinja2

from report_builder import paths
from report_builder.config import Suite
from report_builder.errors import NoPdfWarning, RenderError, ReportBuilderWarning
from report_builder.report import export, publish
from report_builder.report.context import build_context
from report_builder.report.escape import ESCAPES
from report_builder.report.filters import FILTERS, HELPERS, Numbering
from report_builder.results import store
from report_builder.results.timing_file import read_rounds
from report_builder.analysis.load import load_views
from report_builder.analysis.statistics import MIN_SEEDS
from report_builder.findings.changes import what_changed
from report_builder.findings.report_findings import report_findings

ENTRY_TEMPLATE = "report.html.j2"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The top-level templates/ is the one copy people edit: a source tree (an editable install, or PYTHONPATH)
# renders with it in place, and a built wheel carries it as report_builder/templates (setup.py).
SHIPPED_TEMPLATES_DIRS = (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates")


def shipped_templates_dir() -> Path:
    """The templates that come with the package, however it is installed."""
    for candidate in SHIPPED_TEMPLATES_DIRS:
        if (candidate / ENTRY_TEMPLATE).is_file():
            return candidate
    raise RenderError(f"no shipped templates: {ENTRY_TEMPLATE} is in neither "
                      f"{' nor '.join(str(d) for d in SHIPPED_TEMPLATES_DIRS)}; reinstall report_builder, or pass "
                      f"--templates DIR")


def default_templates_dir() -> Path:
    """./templates when run from a project that has its own, else the templates shipped with the package."""
    local = Path("templates")
    return local if (local / ENTRY_TEMPLATE).is_file() else shipped_templates_dir()


UNESCAPED = (".md.j2", ".tex.j2", ".txt.j2")
"""The exports' templates: Markdown, LaTeX and plain text escape with the `md` and `tex` filters instead."""


def _autoescape(name: str | None) -> bool:
    return name is None or not name.endswith(UNESCAPED)


class _CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per process (a preview, a test session or an export renders many times): Jinja
    keys each by its name and file and recompiles it when its source's checksum changes."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()
"""Shared by every environment: make_environment's options are always the same, and autoescape is decided by
the template's name, which is part of the key."""


def make_environment(templates_dir: Path) -> jinja2.Environment:
    """The one Jinja environment: undefined names are errors, HTML is escaped (the exports' templates escape
    for their own formats)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_COMPILED,
    )
    env.filters.update(FILTERS)
    env.filters.update(ESCAPES)
    env.globals.update(HELPERS)
    return env


def _template_location(error: BaseException, templates_dir: Path) -> str:
    """'templates/x.html.j2:12' for the innermost template frame of a rendering error."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        try:
            Path(frame.filename).resolve().relative_to(templates_dir.resolve())
        except ValueError:
            continue
        return f"{frame.filename}:{frame.lineno}"
    return str(templates_dir / ENTRY_TEMPLATE)


@contextlib.contextmanager
def template_errors(templates_dir: Path):
    """Jinja's errors as one RenderError naming the template file and line."""
    try:
        yield
    except jinja2.TemplateSyntaxError as e:
        raise RenderError(f"{e.filename or e.name}:{e.lineno}: template syntax error: {e.message}") from e
    except jinja2.TemplateNotFound as e:
        raise RenderError(f"template not found: {e.name} (looked in {templates_dir})") from e
    except jinja2.UndefinedError as e:
        raise RenderError(f"{_template_location(e, templates_dir)}: undefined in template: {e.message}") from e
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise RenderError(f"{_template_location(e, templates_dir)}: template error: {e}") from e


VERDICT_TEMPLATE = "claims/verdict.txt.j2"
"""The one place verdicts are worded; its `cell` words the tables' verdict cells."""


def verdict_words(templates_dir: Path):
    """A verdict code → its table cell's words, from the templates (so that a user's templates word them too)."""
    env = make_environment(templates_dir)
    with template_errors(templates_dir):
        cell = env.get_template(VERDICT_TEMPLATE).make_module({"min_seeds": MIN_SEEDS}).cell
    return lambda code: str(cell(code)).strip()


def render_html(context: dict[str, Any], templates_dir: Path) -> str:
    """Render twice: the first pass numbers figures and tables, the second can refer to any of them."""
    env = make_environment(templates_dir)
    with template_errors(templates_dir):
        template = env.get_template(ENTRY_TEMPLATE)
        first = Numbering()
        template.render(**context, numbering=first, ref=first.ref)
        final = Numbering(known=first.assigned)
        return template.render(**context, numbering=final, ref=final.ref)


def render_exports(context: dict[str, Any], templates_dir: Path, version_dir: Path) -> None:
    """report.md, tables/*.tex (with their README) and claims.json into a render's version directory (export.py)."""
    env = make_environment(templates_dir)
    with template_errors(templates_dir):
        export.write_markdown(env, context, version_dir)
        export.write_latex_tables(env, context, version_dir)
        export.write_claims(env, context, version_dir)


def _allowed(url: str, roots: list[Path]) -> bool:
    parsed = urlparse(url)
    if parsed.scheme == "data":
        return True
    if parsed.scheme != "file":
        return False
    path = Path(url2pathname(parsed.path)).resolve()
    return any(path == root or root in path.parents for root in roots)


def local_only_fetcher(allowed_dirs: list[Path]):
    """A WeasyPrint URL fetcher that serves files under `allowed_dirs` (and data: URLs), refusing the rest."""
    import weasyprint.urls

    roots = [d.resolve() for d in allowed_dirs]
    refusal = "report_builder fetches only local project files, refused {}"
    base = getattr(weasyprint.urls, "URLFetcher", None)
    if base is None:  # WeasyPrint < 68: fetchers are plain functions
        def fetch(url: str, *args, **kwargs):
            if not _allowed(url, roots):
                raise ValueError(refusal.format(url))
            return weasyprint.default_url_fetcher(url, *args, **kwargs)

        return fetch

    class LocalOnlyFetcher(base):
        def fetch(self, url, headers=None):
            if not _allowed(url, roots):
                raise ValueError(refusal.format(url))
            return super().fetch(url, headers)

    return LocalOnlyFetcher(allowed_protocols={"file", "data"})


_PARAGRAPH_EDGES = re.compile(r"(<p(?:\s[^>]*)?>)\s+|\s+(</p>)")


def write_pdf(html: str, pdf_path: Path, base_dir: Path, allowed_dirs: list[Path]) -> None:
    """The PDF from the same HTML; written to a temporary name first so a failure leaves no half PDF."""
    import weasyprint

    tmp = pdf_path.with_name(f".{pdf_path.name}.tmp")
    try:
        # PDF/UA-1: a tagged PDF (structure tree, figures' alt text as /Alt, table headers), with the
        # HTML's <title> as its title, its lang as its language, and bookmarks from the headings.
        # WeasyPrint 70 breaks a paragraph that nearly fills its line and ends in whitespace after its first word
        # ("After" | "5 epochs, Baseline reached …"); the whitespace at a paragraph's edges is never printed.
        html = _PARAGRAPH_EDGES.sub(lambda m: m.group(1) or m.group(2), html)
        weasyprint.HTML(string=html, base_url=str(base_dir.resolve()) + "/",
                        url_fetcher=local_only_fetcher(allowed_dirs)).write_pdf(str(tmp), pdf_variant="pdf/ua-1")
        complete_table_tags(tmp, html)
        tmp.replace(pdf_path)
    finally:
        tmp.unlink(missing_ok=True)


def complete_table_tags(pdf_path: Path, html: str) -> None:
    """Scope, Headers and whole split tables in the PDF's structure tree (pdf_tables.py, until WeasyPrint
    writes them itself); if that fails, the PDF stays as WeasyPrint wrote it, which is still a whole report."""
    try:
        from report_builder.report import pdf_tables

        pdf_tables.complete(pdf_path, html)
    except Exception as e:  # pikepdf missing, or a table this fix-up does not handle: a warning, not a failure
        warnings.warn(f"the PDF's table headers are tagged as WeasyPrint left them, not linked to their cells "
                      f"({e.__class__.__name__}: {e})", ReportBuilderWarning, stacklevel=2)


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: WeasyPrint installed but Pango missing
        return False
    return True


def render_report(suite: Suite, results_dir: Path, build_dir: Path, templates_dir: Path | None = None,
                  pdf: bool = True, partial: bool = False, figure_files: bool = True,
                  compare_dir: Path | None = None) -> list[Path]:
    """Render build_dir/report.html (+ .pdf), build_dir/figures/* and the exports from results alone, published
    together (publish.py): a render that fails or is killed leaves the previous report as it was.
    `compare_dir`: a results folder to say what changed against (else each result's previous one)."""
    templates_dir = templates_dir or default_templates_dir()
    views, missing = load_views(suite, results_dir, partial)
    if not views:
        raise RenderError(f"nothing to render: no experiment has current results in {results_dir}", missing)
    changed = what_changed(suite, results_dir, views, compare_dir)
    timing_rounds = read_rounds(results_dir)
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        version = publish.stage(build_dir)
    except OSError as e:
        raise RenderError(f"cannot write the report to {build_dir}: {e.strerror or e}") from e
    try:
        context = build_context(suite, report_findings(suite, views, timing_rounds), version / "figures",
                                paths.inside(build_dir, ".cache", "figures"), missing, figure_files, changed,
                                verdict_words(templates_dir))
        html = render_html(context, templates_dir)
        store.write_atomic(paths.build_file(version, "report.html"), html)
        if figure_files:  # the exports link to the figure files
            render_exports(context, templates_dir, version)
        pdf_note = None
        if pdf and not pdf_available():
            pdf_note = ("WeasyPrint is not installed here (pip install weasyprint); `make render` on a machine with "
                        "WeasyPrint makes the PDF from the same results")
        elif pdf:
            try:
                write_pdf(html, paths.build_file(version, "report.pdf"), version, [version, templates_dir])
            except Exception as e:  # WeasyPrint's own errors have no common base; none may replace the report
                raise RenderError(f"the PDF could not be made ({e.__class__.__name__}: {e}); the previous report "
                                  f"in {build_dir} is unchanged") from e
        else:
            pdf_note = "--no-pdf"
        publish.publish(build_dir, version)
    except BaseException:
        publish.discard(version)
        raise
    if pdf_note is not None:
        # Machines that only train (a GPU box without WeasyPrint) still get the HTML; no older PDF is left
        # beside it, since it would say something else.
        warnings.warn(f"no PDF ({pdf_note}); {paths.build_file(build_dir, 'report.html')} is the report, and no "
                      f"older report.pdf is left beside it", NoPdfWarning, stacklevel=2)
    written = [paths.build_file(build_dir, "report.html"), paths.build_file(build_dir, "figures")]
    written += [paths.build_file(build_dir, name) for name in publish.EXPORTS if (version / name).exists()]
    if (version / "report.pdf").exists():
        written.append(paths.build_file(build_dir, "report.pdf"))
    return written
