"""Progress that suits where the output goes: a tqdm bar on a terminal, else a line now and then.

A job whose output is piped to a file or a CI log gets one short line every
``interval`` seconds (and at the end): what it is doing, how far it is, the
elapsed time and an estimate of the time left. On a terminal it gets tqdm's
bar. ``progress=False`` silences both.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

LINE_INTERVAL = 10.0  # seconds between progress lines when not on a terminal


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Wraps an iterable; ``note(**values)`` sets what the next line or the bar shows.

    Args:
        items: what to iterate over.
        total: its length.
        desc: what is being done, e.g. "train cae".
        unit: what one item is ("epoch", "run", "chunk").
        enabled: ``None`` shows a bar on a terminal and lines elsewhere; False shows nothing.
        initial: items already done before this call (a resumed run).
        stream: where the lines go (default: standard error).
        interval: seconds between lines.
    """

    def __init__(
        self, items: Iterable[T], *, total: int, desc: str, unit: str,
        enabled: bool | None = None, initial: int = 0, stream: IO[str] | None = None,
        interval: float = LINE_INTERVAL,
    ) -> None:  # fmt: skip
        self.items, self.total, self.desc, self.unit = items, total, desc, unit
        self.done, self.initial, self.interval = initial, initial, interval
        self.stream = stream or sys.stderr
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.mode = "off" if enabled is False else "bar" if terminal or enabled else "lines"
        self.values: dict[str, Any] = {}
        self._bar: Any = None
        self._t0 = self._last = time.perf_counter()

    def note(self, **values: Any) -> None:
        """Values shown beside the count (e.g. loss=0.12)."""
        self.values = values
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=False)

    def __iter__(self) -> Iterator[T]:
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(self.items, total=self.total, initial=self.initial, desc=self.desc,
                             unit=self.unit, file=self.stream)  # fmt: skip
            yield from self._bar
            self._bar.close()
            return
        for item in self.items:
            yield item
            self.done += 1
            now = time.perf_counter()
            if self.mode == "lines" and (
                now - self._last >= self.interval or self.done == self.total
            ):
                self._last = now
                self.stream.write(self.line(now) + "\n")
                self.stream.flush()

    def line(self, now: float) -> str:
        """e.g. ``train cae: epoch 40/200, loss 0.0123, 0:12 elapsed, about 0:48 left``."""
        elapsed = now - self._t0
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        shown = "".join(
            f", {k} {v:.4g}" if isinstance(v, float) else f", {k} {v}"
            for k, v in self.values.items()
        )
        eta = f", about {_clock(left)} left" if left == left and self.done < self.total else ""
        count = f"{self.unit} {self.done}/{self.total}"
        return f"{self.desc}: {count}{shown}, {_clock(elapsed)} elapsed{eta}"
