"""What the probes say about the gradient's flow: per activation layer, per experiment, and between them.

Every probe is a sum over an epoch's training batches, per activation layer (config.probe_key names layer
l's value). Approach 1 is Σ f′(x)² over the layer's inputs x (for a ReLU the count of positive inputs),
approach 2 is Σ (∂loss/∂x)². Since approach 2 = approach 1 × (approach 2 ÷ approach 1), the change of the
gradient over training splits into the change of the derivative (for a ReLU: how many inputs are active)
and of the squared gradient per unit of it ("per active input"); on a log scale the two add up exactly.

Comparisons between experiments or layers are described, not tested: the ratio of geometric means, and each
shared seed's own ratio (how many point the same way). They are exploratory looks at many layers and
experiments, outside the families the report tests (findings/claims.py), so no p-value is attached.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from report_builder.analysis.views import ExperimentView, Stat
from report_builder.config import APPROACH, probe_key


@dataclass(frozen=True)
class LayerProbes:
    """The probes one activation layer of one experiment recorded: the stored keys of each approach."""

    layer: int
    """1-based, input side first."""
    width: int
    activation: str
    derivative: str | None
    """The stored key of approach 1 (Σ f′(x)²), or None when not recorded."""
    gradient: str | None
    """The stored key of approach 2 (Σ (∂loss/∂x)²), or None when not recorded."""


def activation_of(view: ExperimentView) -> str:
    """The experiment's activation; results written before the setting existed used a ReLU."""
    return view.config.get("activation", "relu")


def activations_of(views: list[ExperimentView]) -> list[str]:
    """The distinct activations of `views`, in order."""
    return list(dict.fromkeys(activation_of(v) for v in views))


def widths_of(view: ExperimentView) -> list[int]:
    hidden = view.config.get("hidden", 128)
    return list(hidden) if isinstance(hidden, (list, tuple)) else [hidden]


ACTIVATION_NAMES = {"relu": "ReLU", "leaky_relu": "LeakyReLU(0.01)", "tanh": "Tanh", "sigmoid": "Sigmoid",
                    "gelu": "GELU"}
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST", "kmnist": "KMNIST"}


def network_of(view: ExperimentView) -> str:
    """The experiment's network as the report writes it: "Linear(784, 128) → ReLU → Linear(128, 10)"."""
    widths, act = widths_of(view), ACTIVATION_NAMES.get(activation_of(view), activation_of(view))
    dropout = view.config.get("dropout", 0.0)
    parts = [f"Linear({a}, {b}) → {act}" + (f" → Dropout({dropout:g})" if dropout else "")
             for a, b in zip([784, *widths], widths)]
    return " → ".join(parts + [f"Linear({widths[-1]}, 10)"])


def dataset_of(view: ExperimentView) -> str:
    """The dataset's name for people; results from before the setting existed used Fashion-MNIST."""
    return DATASET_NAMES.get(view.config.get("dataset", "fashion-mnist"), view.config.get("dataset"))


def layers_of(view: ExperimentView) -> list[LayerProbes]:
    """One entry per activation layer that recorded a probe, input side first."""
    names = view.probe_names
    first = next((n for n in names if APPROACH.get(n) == 1), None)
    second = next((n for n in names if APPROACH.get(n) == 2), None)
    recorded = {key for e in view.epochs for key in e.probes}
    layers = []
    for layer, width in enumerate(widths_of(view), start=1):
        d = probe_key(first, layer) if first and probe_key(first, layer) in recorded else None
        g = probe_key(second, layer) if second and probe_key(second, layer) in recorded else None
        if d or g:
            layers.append(LayerProbes(layer, width, activation_of(view), d, g))
    return layers


def _seed_values(view: ExperimentView, epoch: int, key: str) -> dict[int, float | None]:
    """{seed: the probe's value at `epoch`} for each run that recorded it."""
    values = {}
    for seed, probes in view.probes_by_seed.items():
        if epoch - 1 < len(probes) and probes[epoch - 1].get(key) is not None:
            values[seed] = probes[epoch - 1][key]
    return values


def per_unit(view: ExperimentView, epoch: int, layer: LayerProbes) -> Stat | None:
    """approach 2 ÷ approach 1 per run, mean ± SD over runs: the squared gradient per active input (ReLU),
    per unit of f′² otherwise. None unless both were recorded and the derivative is not zero."""
    if layer.derivative is None or layer.gradient is None:
        return None
    d, g = _seed_values(view, epoch, layer.derivative), _seed_values(view, epoch, layer.gradient)
    return Stat.of(g[s] / d[s] for s in d if s in g and d[s])


@dataclass(frozen=True)
class ProbeChange:
    """How one layer's approach 2 changed from the first to the last epoch, split into its two factors, each
    as the natural log of last ÷ first, per run and then mean ± SD over runs: total = derivative + per_unit
    (exactly, run by run)."""

    layer: LayerProbes
    epochs: tuple[int, int]
    total: Stat
    derivative: Stat
    """For a ReLU: the change of the count of active inputs."""
    per_unit: Stat
    """For a ReLU: the change of the squared gradient per active input."""

    @property
    def factor(self) -> float:
        """last ÷ first of approach 2, as the geometric mean over runs (exp of the mean log change)."""
        return math.exp(self.total.mean)

    @property
    def driver(self) -> str:
        """"derivative" or "per_unit": the factor with the larger share of the change on the log scale;
        "both" when they are within 10% of each other."""
        a, p = abs(self.derivative.mean), abs(self.per_unit.mean)
        if max(a, p) == 0 or abs(a - p) <= 0.1 * max(a, p):
            return "both"
        return "derivative" if a > p else "per_unit"

    @property
    def opposite(self) -> bool:
        """Whether the two factors moved in opposite directions."""
        return self.derivative.mean * self.per_unit.mean < 0

    @property
    def offset(self) -> float | None:
        """With opposite moves: the share of the larger move that the smaller one cancelled (0.36: about a third)."""
        if not self.opposite:
            return None
        a, p = abs(self.derivative.mean), abs(self.per_unit.mean)
        return min(a, p) / max(a, p)

    @property
    def derivative_share(self) -> float | None:
        """With moves in one direction: the derivative's share of the total's log change (0 to 1)."""
        if self.opposite or self.total.mean == 0:
            return None
        return self.derivative.mean / self.total.mean


def probe_change(view: ExperimentView, layer: LayerProbes | None = None) -> ProbeChange | None:
    """The change of `layer` (the first when not given) from the first to the last epoch both approaches
    recorded, or None unless every run has a non-zero derivative and gradient at both ends."""
    layers = layers_of(view)
    layer = layer or (layers[0] if layers else None)
    if layer is None or layer.derivative is None or layer.gradient is None:
        return None
    epochs = [e.epoch for e in view.epochs if e.probes.get(layer.derivative) and e.probes.get(layer.gradient)]
    if len(epochs) < 2:
        return None
    first, last = epochs[0], epochs[-1]
    logs: dict[str, list[float]] = {"derivative": [], "per_unit": []}
    d0, d1 = _seed_values(view, first, layer.derivative), _seed_values(view, last, layer.derivative)
    g0, g1 = _seed_values(view, first, layer.gradient), _seed_values(view, last, layer.gradient)
    for seed in d0:
        values = (d0[seed], d1.get(seed), g0.get(seed), g1.get(seed))
        if any(not v for v in values):
            return None  # a zero or missing value: no log change to split
        logs["derivative"].append(math.log(values[1] / values[0]))
        logs["per_unit"].append(math.log(values[3] / values[1]) - math.log(values[2] / values[0]))
    if not logs["derivative"]:
        return None
    total = [a + b for a, b in zip(logs["derivative"], logs["per_unit"])]
    return ProbeChange(layer=layer, epochs=(first, last), total=Stat.of(total),
                       derivative=Stat.of(logs["derivative"]), per_unit=Stat.of(logs["per_unit"]))


@dataclass(frozen=True)
class GradientRow:
    """One activation layer of one experiment at its final epoch, scaled per input value so that layers and
    experiments of different widths compare: mean f′(x)² (for a ReLU the share of active inputs) and mean
    (∂loss/∂x)², each the epoch's sum ÷ (training examples × the layer's width), mean ± SD over runs."""

    view: ExperimentView
    layer: LayerProbes
    epoch: int
    derivative: Stat | None
    gradient: Stat | None
    log10_gradient: dict[int, float]
    """log10 of mean (∂loss/∂x)² by seed: what comparisons of size use (gradients span decades)."""


def _scaled(view: ExperimentView, epoch: int, key: str | None, width: int) -> dict[int, float]:
    inputs = view.provenance.get("train_examples")
    if key is None or not inputs:
        return {}
    return {s: v / (inputs * width) for s, v in _seed_values(view, epoch, key).items() if v is not None}


def gradient_rows(view: ExperimentView) -> list[GradientRow]:
    """Every probed activation layer of the experiment at its final epoch, input side first."""
    if view.final is None:
        return []
    rows, epoch = [], view.final.epoch
    for layer in layers_of(view):
        derivative = _scaled(view, epoch, layer.derivative, layer.width)
        gradient = _scaled(view, epoch, layer.gradient, layer.width)
        rows.append(GradientRow(view, layer, epoch, Stat.of(derivative.values()), Stat.of(gradient.values()),
                                {s: math.log10(v) for s, v in gradient.items() if v > 0}))
    return rows


@dataclass(frozen=True)
class GradientComparison:
    """Layer 1's mean squared gradient of one experiment against another's (or a layer's against another
    layer of the same experiment), described: the ratio of geometric means over runs and, seed by seed, each
    shared seed's own ratio. No test (the module's docstring says why)."""

    a: GradientRow
    b: GradientRow
    ratio: float
    """a ÷ b, of geometric means (over the shared seeds where there are any): 0.01 is a hundred times smaller."""
    per_seed: dict[int, float]
    """a ÷ b for each seed both have."""

    @property
    def smaller(self) -> bool:
        return self.ratio < 1

    @property
    def factor(self) -> float:
        """How many times larger the larger one is (≥ 1)."""
        return 1 / self.ratio if self.ratio < 1 else self.ratio

    @property
    def seeds(self) -> int:
        """The shared seeds."""
        return len(self.per_seed)

    @property
    def agreeing(self) -> int:
        """Shared seeds whose own ratio points the same way as `ratio` (below 1 where it is, else above)."""
        return sum(1 for r in self.per_seed.values() if (r < 1) == self.smaller and r != 1)

    @property
    def seed_range(self) -> tuple[float, float] | None:
        """(smallest, largest) per-seed ratio; None without a shared seed."""
        return (min(self.per_seed.values()), max(self.per_seed.values())) if self.per_seed else None


def compare_rows(a: GradientRow, b: GradientRow) -> GradientComparison | None:
    """a against b from their log10 values: paired over shared seeds, else the ratio of geometric means over
    every run of each; None where either has no value."""
    if not a.log10_gradient or not b.log10_gradient:
        return None
    shared = [s for s in a.log10_gradient if s in b.log10_gradient]
    per_seed = {s: 10 ** (a.log10_gradient[s] - b.log10_gradient[s]) for s in shared}
    if shared:
        log_ratio = statistics.fmean(a.log10_gradient[s] - b.log10_gradient[s] for s in shared)
    else:
        log_ratio = statistics.fmean(a.log10_gradient.values()) - statistics.fmean(b.log10_gradient.values())
    return GradientComparison(a, b, 10 ** log_ratio, per_seed)


def first_vs_last(view: ExperimentView) -> GradientComparison | None:
    """The first activation layer's mean squared gradient against the last's, seed by seed (vanishing or
    exploding gradients show as a ratio far from 1). None with one probed layer."""
    rows = [r for r in gradient_rows(view) if r.gradient is not None]
    return compare_rows(rows[0], rows[-1]) if len(rows) > 1 else None


def against_baseline(view: ExperimentView, baseline: ExperimentView | None) -> GradientComparison | None:
    """The first layer's mean squared gradient of `view` against the baseline's first layer."""
    if baseline is None or baseline is view:
        return None
    mine = [r for r in gradient_rows(view) if r.gradient is not None]
    theirs = [r for r in gradient_rows(baseline) if r.gradient is not None]
    return compare_rows(mine[0], theirs[0]) if mine and theirs else None

