"""Progress: a bar with the epoch on a terminal, plain status lines elsewhere."""

from __future__ import annotations

import io
import time

from report_builder.progress import Progress


def test_bar_shows_label_steps_and_current_epoch():
    stream = io.StringIO()
    progress = Progress(stream, bars=True)
    with progress.bar("sgd [2/3]", total=40, steps_per_epoch=20) as advance:
        for _ in range(4):
            advance(10)
            time.sleep(0.15)  # past tqdm's refresh interval
    out = stream.getvalue()
    assert "sgd [2/3]" in out and "40/40" in out and "epoch 2/2" in out and "epoch 1/2" in out


def test_no_bar_when_not_a_terminal_but_status_lines_stay():
    stream = io.StringIO()
    progress = Progress(stream)  # StringIO is not a terminal
    with progress.bar("sgd", total=10, steps_per_epoch=5) as advance:
        advance(10)
    progress.say("sgd: cached")
    assert stream.getvalue() == "sgd: cached\n"
