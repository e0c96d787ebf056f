"""experiments.toml → validated, frozen dataclasses (schema.py). Every problem in the file is collected
and reported at once, with the file, table and key, and the nearest valid name for a typo."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from pathlib import Path

from report_builder.config.keys import check_table, suggest
from report_builder.config.reference import Reference, read_reference_csv
from report_builder.config.sweeps import expand_sweep
from report_builder.config.schema import (
    ExecutorConfig,
    Experiment,
    ExperimentText,
    Group,
    GroupConfig,
    ReferenceConfig,
    ReportConfig,
    Suite,
    Sweep,
    TimingConfig,
    TrainConfig,
)
from report_builder.errors import ConfigError

TOP_LEVEL = ("report", "defaults", "experiments", "sweeps", "groups", "executor", "reference", "timing")


def _table(doc: dict, key: str, where: str, problems: list[str]) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a table, got {value!r}")
        return {}
    return value


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""Experiment and group names: they name files (results/NAME.json, figures), so letters, digits, _ and -,
starting with a letter or digit, at most 64 characters."""


def _quoted(name: str) -> str:
    return name if NAME_PATTERN.fullmatch(name) else f'"{name.encode("unicode_escape").decode("ascii")}"'


def safe_name(name: str, kind: str, taken: Collection[str] = ()) -> str:
    """A name that follows NAME_PATTERN, as close to `name` as it can be, and none of `taken`."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:64].strip("_-") or kind
    candidate, number = cleaned, 2
    while candidate in taken:
        suffix = f"_{number}"
        candidate = cleaned[:64 - len(suffix)].rstrip("_-") + suffix
        number += 1
    return candidate


def _valid_name(name: str, kind: str, where: str, taken: set[str], problems: list[str]) -> bool:
    """Whether `name` may name files; if not, the problem suggests a name not in `taken` (then taken too)."""
    if NAME_PATTERN.fullmatch(name):
        return True
    suggestion = safe_name(name, kind, taken)
    taken.add(suggestion)  # a second refused name gets another suggestion
    problems.append(f"{where}: {kind} names may hold only letters, digits, _ and -, start with a letter or digit "
                    f"and have at most 64 characters (they name files); rename it, e.g. to '{suggestion}'")
    return False


def _named_tables(doc: dict, key: str, kind: str, taken: set[str], problems: list[str]):
    """(name, where, table) for each valid [key.NAME] table; problems with the others are collected."""
    for name, table in _table(doc, key, f"[{key}]", problems).items():
        where = f"[{key}.{_quoted(name)}]"
        if not _valid_name(name, kind, where, taken, problems):
            continue
        if not isinstance(table, dict):
            problems.append(f"{where}: must be a table, got {table!r}")
            continue
        yield name, where, table


def _name_clashes(doc: dict, generated: dict[str, str]) -> list[str]:
    """Names that two things share, ignoring case: experiments name results files, groups and sweeps name
    report sections and figures, and a file system or a reader may not tell "Opt" from "opt". Experiments
    (declared and generated) and sweeps are one namespace, groups and sweeps another; a group may share
    its name with an experiment (the shipped file's "baseline" group holds the "baseline" experiment).
    `generated`: the experiments sweeps declared, by name, with their sweep's name."""
    def declared(kind: str) -> list[str]:
        return list(doc[kind]) if isinstance(doc.get(kind), dict) else []

    things = ([(n, f"[experiments.{_quoted(n)}]", ("experiment",)) for n in declared("experiments")]
              + [(n, f"[sweeps.{_quoted(n)}]", ("experiment", "section")) for n in declared("sweeps")]
              + [(n, f"[sweeps.{_quoted(s)}] (its experiment {n})", ("experiment",)) for n, s in generated.items()]
              + [(n, f"[groups.{_quoted(n)}]", ("section",)) for n in declared("groups")])
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for name, where, spaces in things:
        clashes = [seen[(space, name.casefold())] for space in spaces if (space, name.casefold()) in seen]
        if clashes:
            problems.append(f"{where}: the name '{name}' is already taken by {clashes[0]} (names are compared "
                            f"ignoring case; only a group may share an experiment's name); rename one")
            continue
        for space in spaces:
            seen[(space, name.casefold())] = where
    return problems


def _check_probes(config: TrainConfig, where: str, problems: list[str]) -> None:
    """The relu_ probes name a ReLU's measurements; under another activation the general names say what is meant."""
    if config.activation == "relu":
        return
    general = {"relu_active": "derivative_sq", "relu_grad_sq": "grad_sq"}
    for probe in config.probes:
        if probe in general:
            problems.append(f"{where} probes: {probe!r} measures a ReLU, but activation is {config.activation!r}; "
                            f"use {general[probe]!r}")


def parse_suite(text: str, path: Path) -> Suite:
    """Validate the text of an experiments file; raise ConfigError listing every problem."""
    # A byte-order mark is how some Windows editors start a UTF-8 file; TOML does not allow it, but it
    # means nothing, so it is read past instead of failing as "invalid statement at line 1, column 1".
    text = text.removeprefix("\ufeff")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from e
    problems: list[str] = []
    for key in doc:
        if key not in TOP_LEVEL:
            problems.append(f"[{key}]: unknown table{suggest(key, TOP_LEVEL)}; valid: {', '.join(TOP_LEVEL)}")

    (report,) = check_table(_table(doc, "report", "[report]", problems), "[report]", problems, ReportConfig)
    (defaults,) = check_table(_table(doc, "defaults", "[defaults]", problems), "[defaults]", problems, TrainConfig)
    (executor,) = check_table(_table(doc, "executor", "[executor]", problems), "[executor]", problems,
                              ExecutorConfig)
    (timing,) = check_table(_table(doc, "timing", "[timing]", problems), "[timing]", problems, TimingConfig)

    # A suggested name for a refused one must not be one the file already uses, for either kind.
    taken = {name for kind in ("experiments", "groups", "sweeps") if isinstance(doc.get(kind), dict)
             for name in doc[kind]}
    experiments: dict[str, Experiment] = {}
    for name, where, table in _named_tables(doc, "experiments", "experiment", taken, problems):
        text, own = check_table(table, where, problems, ExperimentText, TrainConfig)
        experiments[name] = Experiment(name=name, **{"title": name, **text},
                                       config=TrainConfig(**{**defaults, **own}))
        _check_probes(experiments[name].config, where, problems)
        cfg = experiments[name].config
        # A relation between two keys, which no single key's declaration states.
        if cfg.max_train is not None and cfg.validation >= cfg.max_train:
            problems.append(f"{where} validation: must be less than max_train ({cfg.max_train}), the training "
                            f"images it is taken from, got {cfg.validation}")
    # Sweeps add ordinary experiments, which groups and the reference may then name.
    sweeps: dict[str, Sweep] = {}
    declared = set(experiments)
    for name, where, table in _named_tables(doc, "sweeps", "sweep", taken, problems):
        sweep, added = expand_sweep(name, where, table, defaults, experiments, declared, problems)
        if sweep is not None:
            sweeps[name] = sweep
            experiments.update(added)
            for point in added.values():
                _check_probes(point.config, f"{where} ({point.name})", problems)
    if not experiments and not problems:
        problems.append("[experiments]: declares no experiment; add e.g. [experiments.baseline] (or a [sweeps.NAME])")

    groups: dict[str, Group] = {}
    for name, where, table in _named_tables(doc, "groups", "group", taken, problems):
        (settings,) = check_table(table, where, problems, GroupConfig, names={"experiment": experiments})
        if "experiments" not in settings:
            continue
        baseline = settings.get("baseline")
        # A relation between two keys of one table, which no single key's declaration states.
        if baseline is not None and baseline not in settings["experiments"]:
            problems.append(f"{where} baseline: {baseline!r} is not one of this group's experiments "
                            f"{list(settings['experiments'])!r}")
        groups[name] = Group(name=name, **{"title": name, **settings})

    problems += _name_clashes(doc, {n: s.name for s in sweeps.values() for n in (p.experiment for p in s.points)
                                    if n not in declared})
    reference = _reference(doc, path, experiments, problems)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ConfigError(f"{path}: {count}", [f"{path.name}: {p}" for p in problems])
    return Suite(path=path, **report, experiments=experiments, groups=groups, executor=ExecutorConfig(**executor),
                 reference=reference, sweeps=sweeps, timing=TimingConfig(**timing))


def _reference(doc: dict, path: Path, experiments: dict[str, Experiment], problems: list[str]) -> Reference | None:
    if "reference" not in doc:
        return None
    (settings,) = check_table(_table(doc, "reference", "[reference]", problems), "[reference]", problems,
                              ReferenceConfig)
    config = ReferenceConfig(**settings)
    if not config.file:
        problems.append("[reference] file: must name the CSV file of reference results")
        return None
    values = read_reference_csv(path.parent / config.file, "[reference]", problems, experiments)
    return Reference(label=config.label, hardware=config.hardware, tolerance_points=config.tolerance_points,
                     source=config.file, values=values, question=config.question)


def load_suite(path: Path | str) -> Suite:
    """Read and validate an experiments file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such experiments file (pass --config PATH)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    return parse_suite(text, path)
