"""[sweeps.NAME] → ordinary experiments: one per combination of the values in `vary` (their product, or
with `zip = true` the lists paired item by item), each the base experiment with those values.

Generated names follow one scheme, so that they name files like any experiment and read at a glance:
SWEEP-KEY-VALUE per varied key, joined by "-", e.g. lr_sweep-lr-0p01 or grid-lr-1e-05-batch_size-64. A
value is written as Python's `g` format writes it, with "." as "p", a leading "-" as "m" and "+" left out
(0.01 → 0p01, 1e-05 → 1e-05, -0.5 → m0p5, 1e+06 → 1e06); booleans as true/false, strings as they are.
A combination whose settings equal an experiment already declared (or generated earlier in the file) is
that experiment: it is not declared twice, and its results serve both.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from report_builder.config.keys import check_table, check_value, plain, suggest
from report_builder.config.schema import (
    MAX_SWEEP,
    Experiment,
    Sweep,
    SweepConfig,
    SweepPoint,
    TrainConfig,
)

NOT_SWEPT = {
    "seed": "a sweep's seeds are its experiments' repeats (set seed and repeats in the base)",
    "repeats": "a sweep's seeds are its experiments' repeats (set seed and repeats in the base)",
    "probes": "probes measure, they do not change what is measured (set them in the base)",
    "device": "where a run trains does not change its numbers",
    "data_dir": "where the data lives does not change the numbers",
    "stack": "stacking does not change the numbers",
}
"""Training settings a sweep may not vary, and why: none of them is a setting whose effect can be plotted."""

SWEEPABLE = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in NOT_SWEPT)


def value_label(value: Any) -> str:
    """A value as titles and sentences write it: 0.01, 1e-05, 64, true, "sgd" → sgd."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):  # hidden layer widths
        return "[" + ", ".join(value_label(v) for v in value) + "]"
    return plain(value)


def name_part(value: Any) -> str:
    """A value as generated names write it (see the module's docstring)."""
    if isinstance(value, tuple):  # hidden = [64, 32] → 64x32: names may hold only letters, digits, _ and -
        return "x".join(name_part(v) for v in value)
    text = value_label(value).replace("+", "").replace(".", "p")
    return "m" + text[1:] if text.startswith("-") else text


def _values(where: str, vary: dict[str, list], problems: list[str]) -> dict[str, tuple] | None:
    """Each varied key's checked values, or None with the problems added."""
    checked: dict[str, tuple] = {}
    if not vary:
        problems.append(f"{where} vary: must name at least one training setting, e.g. vary = {{ lr = [0.01, 0.001] }}")
        return None
    for name, values in vary.items():
        at = f"{where} vary.{name}"
        if name in NOT_SWEPT:
            problems.append(f"{at}: cannot be varied: {NOT_SWEPT[name]}")
            continue
        if name not in SWEEPABLE:
            problems.append(f"{at}: unknown training setting{suggest(name, SWEEPABLE)}")
            continue
        if not values:
            problems.append(f"{at}: must be a non-empty list of values, got []")
            continue
        found: list[str] = []
        items = [check_value(TrainConfig, name, v, f"{where} vary.", found) for v in values]
        # check_value writes "where key: problem"; here the key is written vary.KEY
        problems += [p.replace(f"{where} vary. {name}:", f"{at}:", 1) for p in found]
        if found:
            continue
        repeated = [v for i, v in enumerate(items) if v in items[:i]]
        if repeated:
            problems.append(f"{at}: lists {value_label(repeated[0])} more than once")
            continue
        checked[name] = tuple(items)
    return checked if len(checked) == len(vary) else None


def _combinations(where: str, values: dict[str, tuple], zipped: bool, allow_large: bool,
                  problems: list[str]) -> list[tuple[tuple[str, Any], ...]] | None:
    keys = list(values)
    if zipped and len({len(v) for v in values.values()}) > 1:
        problems.append(f"{where} zip: with zip = true the lists of vary must have equal lengths, got "
                        + ", ".join(f"{k}: {len(v)}" for k, v in values.items()))
        return None
    count = len(next(iter(values.values()))) if zipped else math.prod(len(v) for v in values.values())
    if count > MAX_SWEEP and not allow_large:
        problems.append(f"{where} vary: would declare {count} experiments, more than {MAX_SWEEP}; set "
                        f"allow_large = true if that is meant")
        return None
    rows = zip(*values.values()) if zipped else itertools.product(*values.values())
    return [tuple(zip(keys, row)) for row in rows]


def expand_sweep(name: str, where: str, table: dict, defaults: dict[str, Any], experiments: dict[str, Experiment],
                 taken: set[str], problems: list[str]) -> tuple[Sweep | None, dict[str, Experiment]]:
    """One [sweeps.NAME] table → the sweep and the experiments it adds (none for a combination equal to an
    experiment of `experiments`, which it then names). `taken`: the experiment names the file declares; a
    generated name that one of them holds with other settings is a problem."""
    (settings,) = check_table(table, where, problems, SweepConfig, names={"experiment": experiments})
    if "vary" not in settings:
        return None, {}
    config = SweepConfig(**settings)
    values = _values(where, config.vary, problems)
    combinations = values and _combinations(where, values, config.zip, config.allow_large, problems)
    if not combinations:
        return None, {}
    base = experiments[config.base] if config.base else None
    base_config = base.config if base else TrainConfig(**defaults)
    # Settings already declared: a combination equal to one of them is that experiment.
    by_identity = {_settings(e.config): e.name for e in experiments.values()}
    added: dict[str, Experiment] = {}
    points = []
    swept: dict[tuple, tuple[tuple[str, Any], ...]] = {}  # settings → the first combination that declared them
    for combination in combinations:
        cfg = dataclasses.replace(base_config, **dict(combination))
        label = ", ".join(f"{k} = {value_label(v)}" for k, v in combination)
        earlier = swept.setdefault(_settings(cfg), combination)
        if earlier is not combination:
            # Values that differ as written but mean one experiment (hidden = 16 and [16]) would train it
            # once and show it twice; the file should say it once.
            problems.append(_same_experiment(where, earlier, combination))
            return None, {}
        same = by_identity.get(_settings(cfg))
        if same is None:
            generated = "-".join([name] + [f"{k}-{name_part(v)}" for k, v in combination])
            if len(generated) > 64:
                problems.append(f"{where} vary: generated experiment name '{generated}' is longer than 64 characters; "
                                f"give the sweep a shorter name")
                return None, {}
            if generated in taken or generated in added:
                problems.append(f"{where} vary: generates experiment '{generated}' ({label}), a name the file "
                                f"already uses for other settings; rename the sweep or that experiment")
                return None, {}
            description = (f"{base.title} with {label}." if base else f"[defaults] with {label}.")
            added[generated] = Experiment(name=generated, title=label, description=description, config=cfg)
            by_identity[_settings(cfg)] = generated
            same = generated
        points.append(SweepPoint(values=combination, experiment=same, label=label))
    sweep = Sweep(name=name, title=config.title or name, description=config.description, base=config.base,
                  question=config.question,
                  keys=tuple(values), points=tuple(points))
    return sweep, added


def _same_experiment(where: str, first: tuple[tuple[str, Any], ...], second: tuple[tuple[str, Any], ...]) -> str:
    """The problem of two combinations that declare one experiment, naming the keys whose values differ."""
    differing = [(k, a, b) for (k, a), (_, b) in zip(first, second) if a != b] or list(
        (k, a, b) for (k, a), (_, b) in zip(first, second))
    keys = ", ".join(f"vary.{k}" for k, _, _ in differing)
    values = "; ".join(f"{_written(a)} and {_written(b)}" for _, a, b in differing)
    return f"{where} {keys}: {values} declare the same experiment; list it once"


def _written(value: Any) -> str:
    """A value as the file writes it (TOML): 16, [16], 0.01, "sgd", true."""
    if isinstance(value, tuple):
        return "[" + ", ".join(_written(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return plain(value)


def _settings(cfg: TrainConfig) -> tuple:
    """What must be equal for two experiments to be one: the settings that decide their runs' numbers and
    seeds (TrainConfig.identity(); results/identity.py then reuses stored runs seed by seed)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in cfg.identity().items()))
