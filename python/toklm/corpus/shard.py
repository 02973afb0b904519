"""One shard's work: read its pieces of input, encode them, write the shard's files atomically.

This is the unit a worker runs (in a thread, a Dask worker or a Ray task). A shard is written as
``NAME.bin.tmp`` / ``NAME.idx.tmp``, flushed to disk and renamed; then its record ``NAME.json``
(counts and checksums) is written the same way. A shard whose record exists is finished: a resumed
job skips it, and an interrupted one leaves at most ``.tmp`` files, which the next run overwrites.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from toklm.corpus.encoder import EncoderSpec, encode_flat, encode_lines_flat
from toklm.corpus.inputs import BLOCK_BYTES, RawLines, ShardPlan, Source, read_documents
from toklm.corpus.writer import ShardWriter
from toklm.native import DEFAULT_THREADS

__all__ = ["CoreShare", "ShardJob", "load_record", "run_shard", "shard_name", "write_atomic"]


def shard_name(index: int) -> str:
    """The file stem of shard `index`.

    >>> shard_name(3)
    'shard-00003'
    """
    return f"shard-{index:05d}"


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs besides the shard's plan (small, pickles by value)."""

    encoder: EncoderSpec
    source: Source
    outdir: str
    dtype: str  # "uint16" or "uint32"
    eot: int | None
    num_threads: int  # per shard; 0: every core of the worker's machine
    block_bytes: int = BLOCK_BYTES


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _record(plan: ShardPlan) -> dict[str, Any]:
    return {
        "name": shard_name(plan.index),
        "input": [[p.path, p.start, p.end] for p in plan.pieces],
    }


def load_record(outdir: str, plan: ShardPlan) -> dict[str, Any] | None:
    """The record of a finished shard of this plan, or None if it has to be (re)done."""
    base = os.path.join(outdir, shard_name(plan.index))
    try:
        with open(base + ".json", encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    want = _record(plan)
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in want.items()):
        return None
    try:
        n_bin = os.path.getsize(base + ".bin")
        n_idx = os.path.getsize(base + ".idx")
    except OSError:
        return None
    itemsize = np.dtype(record.get("dtype", "uint32")).itemsize
    if n_bin != record["tokens"] * itemsize or n_idx != (record["documents"] + 1) * 8:
        return None
    return record


def _encode_block(
    tokenizer: Any, block: list[str] | RawLines, threads: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    if isinstance(block, RawLines):
        flat = encode_lines_flat(tokenizer, block.data, threads)
        if flat is not None:
            return flat
        block = block.documents()
    return encode_flat(tokenizer, block, threads)


class CoreShare:
    """The cores of this machine split evenly among the shards of one process running now, so
    that a block's threads follow the shards in flight: with as many shards as cores each block
    is encoded on its shard's own thread (not cut into tasks for a pool, and no core waits for
    the pool's last task of a block), and the job's last shard, alone, gets every core.

    >>> share = CoreShare(cores=4)
    >>> with share.running():
    ...     with share.running():
    ...         print(share.threads())
    ...     print(share.threads())
    2
    4
    """

    def __init__(self, cores: int) -> None:
        self._cores = max(1, cores)
        self._running = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count one more shard as running inside the `with` block."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1

    def threads(self) -> int:
        """Threads for the next block of a running shard."""
        return max(1, self._cores // max(1, self._running))


def run_shard(job: ShardJob, plan: ShardPlan, share: CoreShare | None = None) -> dict[str, Any]:
    """Tokenize the shard `plan` into ``job.outdir``; returns its record. Each block is encoded
    on ``job.num_threads`` threads (0: every core), or, given a `share` (inside its
    ``running()``), on ``share.threads()``. The bytes written do not depend on the threads."""
    tokenizer = job.encoder.load()
    threads = job.num_threads if job.num_threads > 0 else DEFAULT_THREADS
    # A shard on several threads writes on a thread of its own (see `ShardWriter`); so does a
    # shard that shares the cores, which gets several threads when it runs alone (measured on
    # 2 cores: no slower than writing on its own thread while it has one).
    threaded_writer = share is not None or threads > 1
    base = os.path.join(job.outdir, shard_name(plan.index))
    dtype = np.dtype(job.dtype).newbyteorder("<")
    n_tokens = n_docs = 0
    with open(base + ".bin.tmp", "wb") as f_bin, open(base + ".idx.tmp", "wb") as f_idx:
        writer = ShardWriter(f_bin, f_idx, threaded=threaded_writer)
        try:
            writer.put(b"", np.zeros(1, dtype="<i8").tobytes())
            for piece in plan.pieces:
                for block in read_documents(piece, job.source, job.block_bytes):
                    if share is not None:
                        threads = share.threads()
                    tokens, offsets = _encode_block(tokenizer, block, threads)
                    docs = len(offsets) - 1
                    if docs == 0:
                        continue
                    if job.eot is not None:
                        tokens = np.insert(tokens, offsets[1:], np.uint32(job.eot))
                        offsets = offsets + np.arange(len(offsets), dtype=np.int64)
                    # Written and hashed through the buffer protocol: no bytes copies.
                    data = np.ascontiguousarray(tokens.astype(dtype, copy=False))
                    ends = np.ascontiguousarray((offsets[1:] + n_tokens).astype("<i8", copy=False))
                    writer.put(data, ends)
                    n_tokens += len(tokens)
                    n_docs += docs
            sha_bin, sha_idx = writer.close()
        finally:
            writer.abort()
        for f in (f_bin, f_idx):
            f.flush()
            os.fsync(f.fileno())
    os.replace(base + ".bin.tmp", base + ".bin")
    os.replace(base + ".idx.tmp", base + ".idx")
    record = {
        **_record(plan),
        "documents": n_docs,
        "tokens": n_tokens,
        "dtype": job.dtype,
        "bytes_in": plan.size,
        "sha256": {"bin": sha_bin, "idx": sha_idx},
    }
    write_atomic(base + ".json", json.dumps(record, indent=1).encode())
    return record
