"""A one-line progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_BAR_WIDTH = 30
_REDRAW_S = 0.1


class Progress:
    """Bytes read so far, drawn as a bar when the total is known and as a count otherwise.

    Draws nothing unless `enabled` (callers pass `not quiet and stderr.isatty()`, see
    `Progress.for_terminal`); `close()` erases the line so no partial bar is left behind.

    >>> p = Progress(total=100, enabled=False); p.advance(50); p.close(); p.done
    50
    """

    def __init__(
        self, total: int | None, enabled: bool, label: str = "", stream: TextIO | None = None
    ) -> None:
        self.total = total
        self.enabled = enabled
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    @classmethod
    def for_terminal(cls, total: int | None, quiet: bool, label: str = "") -> Progress:
        """A bar that is enabled only when stderr is an interactive terminal and not `quiet`."""
        enabled = not quiet and sys.stderr is not None and sys.stderr.isatty()
        return cls(total, enabled, label)

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw >= _REDRAW_S:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed / 1e6
        if self.total:
            frac = min(self.done / self.total, 1.0)
            filled = int(frac * _BAR_WIDTH)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            done_mb, total_mb = self.done / 1e6, self.total / 1e6
            amount = f"{done_mb:,.0f}/{total_mb:,.0f} MB"
            line = f"{self.label} [{bar}] {frac:6.1%} {amount} {rate:,.1f} MB/s"
        else:
            line = f"{self.label} {self.done / 1e6:,.1f} MB {rate:,.1f} MB/s"
        self.stream.write("\r" + line.strip() + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
