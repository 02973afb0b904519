"""Progress of a tokenize job on stderr: shards, input bytes, speed, tokens and time left.

On a terminal the line is redrawn in place; otherwise (a log file) a line is written at most every
`every` seconds and once at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]

MB = 1_000_000


class Progress:
    """Counts finished shards; prints when `enabled`.

    >>> import io
    >>> p = Progress(n_shards=2, total_bytes=4_000_000, stream=io.StringIO(), enabled=True)
    >>> p.update({"bytes_in": 2_000_000, "tokens": 500_000})
    >>> p.done_shards, p.tokens
    (1, 500000)
    """

    def __init__(
        self,
        *,
        n_shards: int,
        total_bytes: int,
        stream: TextIO | None = None,
        enabled: bool = True,
        every: float = 10.0,
    ) -> None:
        self.n_shards = n_shards
        self.total_bytes = total_bytes
        self.done_shards = 0
        self.done_bytes = 0
        self.tokens = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.every = every
        self._start = time.perf_counter()
        self._run_bytes = 0
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def skip(self, record: dict[str, Any]) -> None:
        """Count a shard finished by an earlier run."""
        self.done_shards += 1
        self.done_bytes += int(record["bytes_in"])
        self.tokens += int(record["tokens"])

    def update(self, record: dict[str, Any]) -> None:
        """Count a shard finished now, and show the progress."""
        self.skip(record)
        self._run_bytes += int(record["bytes_in"])
        now = time.perf_counter()
        if self._tty or now - self._last >= self.every:
            self._last = now
            self._show(end="" if self._tty else "\n")

    def finish(self) -> None:
        """The last line."""
        self._show(end="\n")

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = self._run_bytes / elapsed
        left = self.total_bytes - self.done_bytes
        eta = f", {left / rate:.0f} s left" if rate > 0 and left > 0 else ""
        return (
            f"tokenize: {self.done_shards}/{self.n_shards} shards, "
            f"{self.done_bytes / MB:,.1f}/{self.total_bytes / MB:,.1f} MB, "
            f"{rate / MB:.1f} MB/s, {self.tokens:,} tokens{eta}"
        )

    def _show(self, end: str) -> None:
        if not self.enabled:
            return
        prefix = "\r\x1b[K" if self._tty else ""
        self.stream.write(prefix + self.line() + end)
        self.stream.flush()
