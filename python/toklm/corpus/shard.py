"""One shard's work: read its pieces of input, encode them, write the shard's files atomically.

This is the unit a worker runs (in a thread, a Dask worker or a Ray task). A shard is written as
``NAME.bin.tmp`` / ``NAME.idx.tmp``, flushed to disk and renamed; then its record ``NAME.json``
(counts and checksums) is written the same way. A shard whose record exists is finished: a resumed
job skips it, and an interrupted one leaves at most ``.tmp`` files, which the next run overwrites.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from toklm.corpus.encoder import EncoderSpec, encode_flat, encode_lines_flat
from toklm.corpus.inputs import BLOCK_BYTES, RawLines, ShardPlan, Source, read_documents
from toklm.corpus.writer import ShardWriter
from toklm.native import DEFAULT_THREADS

__all__ = ["ShardJob", "load_record", "run_shard", "shard_name", "write_atomic"]


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


def run_shard(job: ShardJob, plan: ShardPlan) -> dict[str, Any]:
    """Tokenize the shard `plan` into ``job.outdir``; returns its record."""
    tokenizer = job.encoder.load()
    threads = job.num_threads if job.num_threads > 0 else DEFAULT_THREADS
    base = os.path.join(job.outdir, shard_name(plan.index))
    dtype = np.dtype(job.dtype).newbyteorder("<")
    n_tokens = n_docs = 0
    with open(base + ".bin.tmp", "wb") as f_bin, open(base + ".idx.tmp", "wb") as f_idx:
        writer = ShardWriter(f_bin, f_idx, threaded=threads > 1)
        try:
            writer.put(b"", np.zeros(1, dtype="<i8").tobytes())
            for piece in plan.pieces:
                for block in read_documents(piece, job.source, job.block_bytes):
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
