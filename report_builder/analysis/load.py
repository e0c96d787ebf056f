"""The suite's results on disk → one ExperimentView per experiment with current results, and why the others
have none (missing, unfinished, edited by hand, out of date)."""

from __future__ import annotations

from pathlib import Path

from report_builder.config import Suite
from report_builder.errors import RenderError, ResultsError
from report_builder.results import store
from report_builder.analysis.views import ExperimentView, experiment_view


def load_views(suite: Suite, results_dir: Path, partial: bool = False) -> tuple[dict[str, ExperimentView], list[str]]:
    """Every declared experiment's current results, and one line per experiment that has none.

    Missing, partial, damaged or stale results are a RenderError, unless `partial` asks to render the rest.
    """
    views, problems = {}, []
    for name, exp in suite.experiments.items():
        how = f"run `{store.rerun_command(suite.path, results_dir, name)}`"
        path = store.result_path(results_dir, name)
        try:
            result = store.read_result(path)
        except FileNotFoundError:
            problems.append(f"{name}: no results in {results_dir} — {how}")
            continue
        except ResultsError as e:
            problems.append(f"{name}: {e} — {how} to re-run it")
            continue
        if result["status"] == "partial":
            problems.append(f"{name}: unfinished ({len(result['runs'])} of {exp.config.repeats} repeats) — {how} "
                            f"to finish it")
            continue
        if store.edited(result):
            problems.append(f"{name}: its numbers were edited after the run (the digest written with them does not "
                            f"match), so they are not shown as measured — {how} to measure them again")
            continue
        if result["status"] == "done":
            stale = store.stale_reasons(result, exp.config.identity())
            if stale:
                problems.append(f"{name}: results are out of date ({', '.join(stale)}) — {how}")
                continue
        views[name] = experiment_view({**result, "title": exp.title, "description": exp.description})
    if problems and not partial:
        raise RenderError(f"cannot render: {len(problems)} experiment(s) lack current results "
                          f"(`{store.rerun_command(suite.path, results_dir)}` runs everything that is missing; "
                          f"`render --partial` renders the rest)",
                          problems)
    return views, problems
