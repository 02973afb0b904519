"""A shard's output files, appended to and hashed on a thread of their own.

Writing a block of tokens to the page cache and hashing it take about a third as long as encoding
it; done on the thread that encodes, they leave the cores idle in between. `ShardWriter` takes
each block's arrays into a bounded queue (`depth` blocks: memory stays bounded) and a thread
writes and hashes them in order, so the encoding thread goes on with the next block. File writes
and sha256 release the GIL. The bytes written are those of writing each block in order in the
encoding thread. A worker of a cluster, which runs a shard on one thread and has as many
workers as cores, writes on the encoding thread itself (``threaded=False``): there a second
busy thread per worker only competes for the same cores.

Each block is also handed to the kernel's writeback as soon as it is written (Linux:
``posix_fadvise(DONTNEED)`` starts writing the range to disk without waiting for it). The shard's
final ``fsync`` then finds little left to write: without this, every shard ended in a 30-70 ms
wait for its whole file (a 64 MB shard writes ~80 MB of tokens), a core left idle each time.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from typing import Any, BinaryIO

__all__ = ["ShardWriter"]

_DONE = None
# Writeback of each block's range begins as soon as it is written (where the OS has the call).
_START_WRITEBACK = getattr(os, "POSIX_FADV_DONTNEED", None)


class ShardWriter:
    """Append each block's token data and document ends to `f_bin` / `f_idx` and hash them, on a
    thread of its own; `close()` waits for the queue, re-raises the first write error, and returns
    the two hex digests.

    >>> import io
    >>> w = ShardWriter(io.BytesIO(), io.BytesIO())
    >>> w.put(b"ab", b"c"); w.put(b"d", b"")
    >>> w.close() == (hashlib.sha256(b"abd").hexdigest(), hashlib.sha256(b"c").hexdigest())
    True
    """

    def __init__(
        self, f_bin: BinaryIO, f_idx: BinaryIO, depth: int = 2, threaded: bool = True
    ) -> None:
        self._files = (f_bin, f_idx)
        self._hashes = (hashlib.sha256(), hashlib.sha256())
        self._queue: queue.Queue[tuple[Any, Any] | None] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._written = [0, 0]  # bytes written to each file so far
        self._thread = threading.Thread(target=self._run, name="toklm-shard-writer", daemon=True)
        self._threaded = threaded
        if threaded:
            self._thread.start()

    def put(self, data: Any, ends: Any) -> None:
        """Queue one block (bytes-like objects, e.g. contiguous numpy arrays); waits while the
        queue is full. A write that failed earlier is raised here."""
        if self._error is not None:
            self._raise()
        if not self._threaded:
            self._write((data, ends))
            return
        self._queue.put((data, ends))

    def close(self) -> tuple[str, str]:
        """Write what is queued, stop the thread, and return the sha256 of each file's data."""
        if self._threaded:
            self._queue.put(_DONE)
            self._thread.join()
        if self._error is not None:
            self._raise()
        return self._hashes[0].hexdigest(), self._hashes[1].hexdigest()

    def abort(self) -> None:
        """Stop the thread, dropping nothing already queued but raising nothing (for cleanup
        after another error)."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _raise(self) -> None:
        error, self._error = self._error, None
        assert error is not None
        raise error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None:
                continue  # drain after a failure, so that put() never blocks for good
            try:
                self._write(item)
            except BaseException as e:  # noqa: BLE001 - handed to the encoding thread
                self._error = e

    def _write(self, item: tuple[Any, Any]) -> None:
        for i, (f, h, buf) in enumerate(zip(self._files, self._hashes, item, strict=True)):
            f.write(buf)
            h.update(buf)
            n = memoryview(buf).nbytes
            if _START_WRITEBACK is not None and n >= 1 << 16:
                _start_writeback(f, self._written[i], n, _START_WRITEBACK)
            self._written[i] += n


def _start_writeback(f: BinaryIO, start: int, length: int, advice: int) -> None:
    """Ask the kernel to start writing bytes ``start:start+length`` of `f` to disk now (Linux's
    DONTNEED starts writeback of the range's dirty pages without waiting, and drops only its
    clean ones). Files without a descriptor (in-memory buffers) are left alone."""
    try:
        fd = f.fileno()
    except (AttributeError, OSError, ValueError):
        return
    f.flush()
    os.posix_fadvise(fd, start, length, advice)
