"""Progress: a bar on a terminal, short lines at an interval elsewhere, nothing when off."""

from __future__ import annotations

import io

from manifold_cae.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_off_a_terminal_name_the_count_the_values_and_the_time_left():
    out = io.StringIO()
    bar = Progress(range(5), total=10, desc="train cae", unit="epoch", initial=5, stream=out,
                   interval=0.0)  # fmt: skip
    for epoch in bar:
        bar.note(loss=0.5 / (epoch + 1))
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("train cae: epoch 6/10, loss 0.5, 0:00 elapsed, about")
    assert lines[-1].startswith("train cae: epoch 10/10, loss 0.1, ")
    assert "left" not in lines[-1]  # done: no estimate


def test_lines_are_spaced_by_the_interval_and_the_last_is_always_written():
    out = io.StringIO()
    assert list(Progress(range(50), total=50, desc="x", unit="run", stream=out)) == list(range(50))
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[-1]]
    assert "run 50/50" in out.getvalue()


def test_a_terminal_gets_a_bar_and_off_means_silent():
    term = Terminal()
    assert list(Progress(range(3), total=3, desc="x", unit="chunk", stream=term)) == [0, 1, 2]
    assert "3/3" in term.getvalue() and "\r" in term.getvalue()
    quiet = io.StringIO()
    list(Progress(range(3), total=3, desc="x", unit="run", stream=quiet, enabled=False))
    assert quiet.getvalue() == ""
