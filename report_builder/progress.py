"""What the user sees while experiments run: status lines always, progress bars only on a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, bars: bool | None = None):
        self.stream = stream or sys.stderr
        self.bars = self.stream.isatty() if bars is None else bars
        if self.bars:
            try:
                import tqdm  # noqa: F401
            except ImportError:  # an interpreter used as it is (PYTHON=python3) may lack it: lines only
                self.bars = False

    def say(self, text: str) -> None:
        """One status line ("sgd: cached"), shown whether or not bars are."""
        if self.bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def bar(self, description: str, total: int, unit: str = "step",
            steps_per_epoch: int | None = None) -> Iterator[Callable[[int], None]]:
        """A live bar with rate, ETA and the current epoch; yields the function that advances it."""
        if not self.bars:
            yield lambda n: None
            return
        from tqdm import tqdm

        epochs = -(-total // steps_per_epoch) if steps_per_epoch else None
        with tqdm(total=total, desc=description, unit=unit, file=self.stream, leave=False,
                  dynamic_ncols=True, smoothing=0.1) as bar:
            def advance(n: int) -> None:
                bar.update(n)
                if epochs:
                    epoch = min(bar.n // steps_per_epoch + 1, epochs)
                    bar.set_postfix_str(f"epoch {epoch}/{epochs}", refresh=False)

            yield advance
