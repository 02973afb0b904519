"""`tokenize_corpus`: a whole tokenize job, from input files to a finished output directory.

The job writes ``manifest.json`` first (``"complete": false``), then the shards (in any order, each
atomically), then the final manifest with every shard's counts and checksums. Run again with the
same arguments, a job keeps the shards that are finished and does the rest, and its output is the
same, byte for byte, as a run that was never interrupted. An output directory that holds another
job (other inputs, tokenizer or settings) is refused.
"""

from __future__ import annotations

import json
import os
from typing import Any

from toklm.corpus.encoder import EncoderSpec
from toklm.corpus.engines import run_shards
from toklm.corpus.inputs import (
    InputError,
    Source,
    detect_format,
    fingerprint,
    plan_shards,
)
from toklm.corpus.progress import Progress
from toklm.corpus.shard import ShardJob, load_record, shard_name, write_atomic

__all__ = ["FORMAT_NAME", "MANIFEST", "JobConflict", "tokenize_corpus"]

MANIFEST = "manifest.json"
FORMAT_NAME = "toklm-token-shards"
FORMAT_VERSION = 1
DEFAULT_SHARD_BYTES = 64 << 20


class JobConflict(ValueError):
    """The output directory holds something else than this job's shards."""


def _resolve_tokenizer(encoding: Any) -> Any:
    if isinstance(encoding, str):
        import toklm

        return toklm.get_encoding(encoding)
    return encoding


def _eot_id(tokenizer: Any, eot: bool | int | None) -> int | None:
    if eot is None or eot is False:
        return None
    if eot is True:
        tid = getattr(tokenizer, "eos_token_id", None)
        if tid is None:
            try:
                tid = tokenizer.eot_token
            except (AttributeError, KeyError):
                tid = None
        if tid is None:
            raise ValueError(
                f"{getattr(tokenizer, 'name', 'the tokenizer')} has no end-of-text token; "
                "give its id (--eot ID)"
            )
        return int(tid)
    if not isinstance(eot, int) or eot < 0:
        raise ValueError(f"eot must be a token id (a non-negative int), got {eot!r}")
    return eot


def _check_inputs(inputs: list[str], fmt: str | None) -> str:
    if not inputs:
        raise InputError("no input files")
    for path in inputs:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory (give the files in it)")
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
    if fmt is not None:
        return fmt
    formats = {detect_format(p) for p in inputs}
    if len(formats) > 1:
        raise InputError(
            f"the inputs mix formats ({', '.join(sorted(formats))}); tokenize them in separate "
            "jobs or give the format"
        )
    return formats.pop()


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}".lstrip("."))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {json.dumps(a)} there, {json.dumps(b)} now"


def _prepare(outdir: str, job: dict[str, Any]) -> dict[str, Any] | None:
    """Check `outdir` for this job; returns its manifest when the job is already complete."""
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, MANIFEST)
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                manifest = json.load(f)
        except ValueError as e:
            raise JobConflict(f"{path}: not a readable manifest ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise JobConflict(f"{path}: not a toklm token-shard manifest")
        if manifest.get("job") != job:
            diff = _first_difference(manifest.get("job"), job)
            raise JobConflict(
                f"{outdir} holds the shards of another job ({diff}); use a new directory"
            )
        return manifest if manifest.get("complete") else None
    if os.listdir(outdir):
        raise JobConflict(f"{outdir} is not empty and holds no {MANIFEST}; use a new directory")
    return None


def tokenize_corpus(
    inputs: list[str],
    outdir: str,
    encoding: Any,
    *,
    format: str | None = None,
    split: str = "lines",
    field: str = "text",
    column: str = "text",
    eot: bool | int | None = None,
    errors: str = "strict",
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    engine: str = "local",
    address: str | None = None,
    num_threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Tokenize `inputs` into shards in `outdir` (see `toklm.corpus` for the layout); returns the
    manifest. `encoding` is an encoding name, a `toklm.Encoding` or a `toklm.Tokenizer`; `eot`
    True appends the tokenizer's end-of-text token after every document (an int: that id).

    >>> import os, tempfile, toklm
    >>> d = tempfile.mkdtemp(); src = os.path.join(d, "in.txt")
    >>> _ = open(src, "w").write("hello world\\nhi\\n")
    >>> m = tokenize_corpus([src], os.path.join(d, "out"), "gpt2", eot=True)
    >>> m["documents"], m["tokens"], m["dtype"]
    (2, 5, 'uint16')
    """
    fmt = _check_inputs(list(inputs), format)
    source = Source(fmt, split, field, column, errors)
    tokenizer = _resolve_tokenizer(encoding)
    spec = EncoderSpec.of(tokenizer)
    eot_id = _eot_id(tokenizer, eot)
    top = max(int(tokenizer.n_vocab) - 1, eot_id or 0)
    dtype = "uint16" if top < 1 << 16 else "uint32"
    plans = plan_shards(list(inputs), source, shard_bytes)
    job = {
        "tokenizer": spec.describe(),
        "input": source.params(),
        "eot": eot_id,
        "dtype": dtype,
        "shard_bytes": shard_bytes,
        "inputs": [fingerprint(p) for p in inputs],
    }
    done = _prepare(outdir, job)
    if done is not None:
        return done
    head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "job": job}
    write_atomic(os.path.join(outdir, MANIFEST), _dumps({**head, "complete": False}))

    show = Progress(n_shards=len(plans), total_bytes=sum(p.size for p in plans), enabled=progress)
    records: dict[int, dict[str, Any]] = {}
    pending = []
    for plan in plans:
        record = load_record(outdir, plan)
        if record is None:
            pending.append(plan)
        else:
            records[plan.index] = record
            show.skip(record)
    if num_threads is None:
        # A cluster started for the job has one single-threaded worker per core.
        env = {"dask": "DASK_SCHEDULER_ADDRESS", "ray": "RAY_ADDRESS"}.get(engine, "")
        own_cluster = engine != "local" and not (address or os.environ.get(env))
        num_threads = 1 if own_cluster else 0
    shard_job = ShardJob(spec, source, os.path.abspath(outdir), dtype, eot_id, num_threads)
    for record in run_shards(engine, shard_job, pending, show.update, address=address):
        records[int(record["name"].rsplit("-", 1)[1])] = record
    show.finish()

    shards = [records[p.index] for p in plans]
    manifest = {
        **head,
        "complete": True,
        "documents": sum(r["documents"] for r in shards),
        "tokens": sum(r["tokens"] for r in shards),
        "dtype": dtype,
        "eot": eot_id,
        "shards": [
            {k: r[k] for k in ("name", "documents", "tokens", "input", "sha256")} for r in shards
        ],
    }
    write_atomic(os.path.join(outdir, MANIFEST), _dumps(manifest))
    for plan in plans:
        name = os.path.join(outdir, shard_name(plan.index))
        for leftover in (".json", ".bin.tmp", ".idx.tmp", ".json.tmp"):
            if os.path.exists(name + leftover):
                os.remove(name + leftover)
    return manifest


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1) + "\n").encode("utf-8")
