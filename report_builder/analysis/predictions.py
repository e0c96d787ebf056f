"""Per-image predictions (results/store.py's layout) → which test images each run got right, and the
comparisons that treat the test images as a sample: the seeds-and-images interval and McNemar's check."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np

from report_builder.analysis.statistics import McNemar, SeedsAndImages, mcnemar, seeds_and_images_interval
from report_builder.analysis.views import ExperimentView
from report_builder.results.store import PREDICTION_CORRECT


def correct_images(view: ExperimentView) -> dict[int, np.ndarray]:
    """{seed: a boolean per test image, True where that run's final prediction is right}, for the runs that
    stored their predictions (a damaged string is left out, as if not stored)."""
    found = {}
    for seed, text in view.test_predictions.items():
        try:
            marks = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
        except (binascii.Error, ValueError):
            continue
        found[seed] = (marks & PREDICTION_CORRECT) != 0
    return found


@dataclass(frozen=True)
class ImageComparison:
    """a − b where both stored per-image predictions on the same test images."""

    seeds: tuple[int, ...]
    """The shared seeds with predictions on both sides."""
    images: int
    interval: SeedsAndImages | None
    """The 95% interval over seeds and test images; None below statistics.MIN_SEEDS shared seeds."""
    check_seed: int
    """The seed of the one-run-against-one-run check."""
    check: McNemar
    """McNemar's exact test of a's and b's runs with check_seed."""


def compare_images(a: ExperimentView, b: ExperimentView) -> ImageComparison | None:
    """None unless the two were tested on the same images (one dataset and test subset) and share a seed whose
    runs both stored their predictions."""
    if any(a.config.get(key) != b.config.get(key) for key in ("dataset", "max_test")):
        return None
    mine, theirs = correct_images(a), correct_images(b)
    seeds = tuple(s for s in sorted(mine) if s in theirs and len(mine[s]) == len(theirs[s]))
    if not seeds or len({len(mine[s]) for s in seeds}) > 1:
        return None
    a_right = np.stack([mine[s] for s in seeds])
    b_right = np.stack([theirs[s] for s in seeds])
    return ImageComparison(seeds=seeds, images=a_right.shape[1], interval=seeds_and_images_interval(a_right, b_right),
                             check_seed=seeds[0], check=mcnemar(a_right[0], b_right[0]))
