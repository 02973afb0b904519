"""Corpus inputs: which documents a file holds, how the files are cut into shards, and reading.

Formats:

* ``text``: UTF-8 text; ``split="lines"`` makes every non-empty line a document (the line
  without its ``\\n`` or ``\\r\\n``), ``"blank-line"`` every paragraph (lines separated by one or
  more blank lines, i.e. lines of only spaces, tabs and the like; a paragraph keeps its inner
  newlines, not its last one), ``"file"`` the whole file, exactly.
* ``jsonl``: one JSON object per line, the document in a string field (`field`); blank lines are
  skipped.
* ``parquet``: a string column (`column`); one document per row.

Shards are cut by input position only: a shard covers about `shard_bytes` of input, ending at a
document boundary, so the same inputs always give the same shards, whatever runs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FORMATS",
    "SPLITS",
    "InputError",
    "Piece",
    "ShardPlan",
    "Source",
    "detect_format",
    "fingerprint",
    "plan_shards",
    "read_documents",
]

FORMATS = ("text", "jsonl", "parquet")
SPLITS = ("lines", "file", "blank-line")
# Text is read, decoded and encoded in blocks of about this size (bounded memory per shard).
BLOCK_BYTES = 2 << 20
_SCAN = 1 << 20
# A paragraph separator: one or more blank lines (see the module docstring).
_BLANK_LINES = re.compile(r"(?m)^[ \t\r\f\v]*(?:\n|\Z)")


class InputError(ValueError):
    """A problem with an input file, naming the file and where in it."""


@dataclass(frozen=True)
class Source:
    """How to read the inputs: format, document split, JSONL field or Parquet column, and what
    to do with invalid UTF-8 (``"strict"``: an error naming the byte; ``"replace"``: U+FFFD)."""

    format: str = "text"
    split: str = "lines"
    field: str = "text"
    column: str = "text"
    errors: str = "strict"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown input format {self.format!r} (use one of {FORMATS})")
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r} (use one of {SPLITS})")
        if self.errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', got {self.errors!r}")

    def params(self) -> dict[str, Any]:
        """The settings that decide the documents (recorded in the manifest).

        >>> Source("jsonl", field="body").params()
        {'format': 'jsonl', 'field': 'body', 'errors': 'strict'}
        """
        out: dict[str, Any] = {"format": self.format}
        if self.format == "text":
            out["split"] = self.split
        elif self.format == "jsonl":
            out["field"] = self.field
        else:
            out["column"] = self.column
        out["errors"] = self.errors
        return out


@dataclass(frozen=True)
class Piece:
    """Part of one input: bytes ``start:end`` (text, JSONL) or row groups (Parquet)."""

    path: str
    start: int
    end: int


@dataclass(frozen=True)
class RawLines:
    """A block of a text input with a document per line, still as bytes (strict UTF-8): the core
    splits and encodes it without a Python string per line; `documents()` does it in Python."""

    data: bytes
    path: str
    at: int  # byte offset of `data` in the file

    def documents(self) -> list[str]:
        return _text_documents(_decode(self.data, self.path, self.at, "strict"), "lines")


def documents_of(block: list[str] | RawLines) -> list[str]:
    """The documents of a block from `read_documents`."""
    return block.documents() if isinstance(block, RawLines) else block


@dataclass(frozen=True)
class ShardPlan:
    """The pieces of input that make shard `index`, and their size in bytes."""

    index: int
    pieces: tuple[Piece, ...]
    size: int


def detect_format(path: str) -> str:
    """The format a file name suggests.

    >>> detect_format("a/b.jsonl"), detect_format("x.parquet"), detect_format("notes.txt")
    ('jsonl', 'parquet', 'text')
    """
    lower = path.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    return "text"


def fingerprint(path: str) -> dict[str, Any]:
    """Identity of an input for resuming: its size and the sha256 of up to 16 windows of 64 KB
    spread over it (reading a few megabytes, not the file)."""
    size = os.path.getsize(path)
    h = hashlib.sha256()
    window = 64 << 10
    with open(path, "rb") as f:
        starts = sorted({(size - window) * i // 15 for i in range(16)} if size > window else {0})
        for start in starts:
            f.seek(max(0, start))
            h.update(f.read(window))
    return {"path": path, "size": size, "sample_sha256": h.hexdigest()}


def _separator(source: Source) -> bytes | None:
    """What a shard boundary must follow (None: whole files only)."""
    if source.format == "jsonl" or (source.format == "text" and source.split == "lines"):
        return b"\n"
    if source.format == "text" and source.split == "blank-line":
        return b"\n\n"
    return None


def _boundary(f: Any, want: int, size: int, sep: bytes) -> int:
    """The first position at or after `want` that follows `sep` (or the end of the file)."""
    pos = max(0, want - len(sep))
    while pos < size:
        f.seek(pos)
        data = f.read(_SCAN + len(sep))
        i = data.find(sep)
        if i >= 0 and pos + i + len(sep) >= want:
            return min(size, pos + i + len(sep))
        if i >= 0:  # a separator that ends before `want` (only right at the start)
            pos += i + 1
            continue
        pos += _SCAN
    return size


def _units(path: str, source: Source) -> list[tuple[int, int]]:
    """Parquet: (row group index, uncompressed size) of each row group, checking the column."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"{path}: not a Parquet file ({e})") from None
    names = pf.schema_arrow.names
    if source.column not in names:
        raise InputError(f"{path}: no column {source.column!r} (columns: {', '.join(names)})")
    meta = pf.metadata
    return [(i, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)]


def plan_shards(paths: list[str], source: Source, shard_bytes: int) -> list[ShardPlan]:
    """Cut the inputs into shards of about `shard_bytes` each, at document boundaries.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.txt")
    >>> _ = open(p, "w").write("one\\ntwo\\nthree\\n")
    >>> [(s.pieces[0].start, s.pieces[0].end) for s in plan_shards([p], Source(), 5)]
    [(0, 8), (8, 14)]
    """
    if shard_bytes < 1:
        raise ValueError(f"shard size must be positive, got {shard_bytes}")
    sep = _separator(source)
    shards: list[ShardPlan] = []
    pieces: list[Piece] = []
    filled = 0

    def emit() -> None:
        nonlocal pieces, filled
        shards.append(ShardPlan(len(shards), tuple(pieces), filled))
        pieces, filled = [], 0

    for path in paths:
        if source.format == "parquet":
            for group, size in _units(path, source):
                pieces.append(Piece(path, group, group + 1))
                filled += size
                if filled >= shard_bytes:
                    emit()
            continue
        size = os.path.getsize(path)
        if sep is None:
            pieces.append(Piece(path, 0, size))
            filled += size
            if filled >= shard_bytes:
                emit()
            continue
        with open(path, "rb") as f:
            pos = 0
            while pos < size:
                want = pos + shard_bytes - filled
                cut = size if want >= size else _boundary(f, want, size, sep)
                pieces.append(Piece(path, pos, cut))
                filled += cut - pos
                pos = cut
                if filled >= shard_bytes:
                    emit()
    if pieces:
        emit()
    return _merge_adjacent(shards)


def _merge_adjacent(shards: list[ShardPlan]) -> list[ShardPlan]:
    """Join pieces of one shard that continue each other (row groups in a row, one per piece)."""
    out = []
    for s in shards:
        merged: list[Piece] = []
        for p in s.pieces:
            if merged and merged[-1].path == p.path and merged[-1].end == p.start:
                merged[-1] = Piece(p.path, merged[-1].start, p.end)
            else:
                merged.append(p)
        out.append(ShardPlan(s.index, tuple(merged), s.size))
    return out


def read_documents(
    piece: Piece, source: Source, block_bytes: int = BLOCK_BYTES
) -> Iterator[list[str] | RawLines]:
    """The documents of `piece`, in order, a block of about `block_bytes` at a time (lines of
    strict UTF-8 text as `RawLines`; `documents_of` gives any block's documents)."""
    raw = source.format == "text" and source.split == "lines" and source.errors == "strict"
    if source.format == "parquet":
        yield from _parquet_documents(piece, source)
        return
    sep = _separator(source)
    with open(piece.path, "rb") as f:
        if sep is None:  # one document: the whole file
            yield [_decode(f.read(), piece.path, 0, source.errors)]
            return
        f.seek(piece.start)
        pos, carry, carry_at = piece.start, b"", piece.start
        while pos < piece.end:
            data = carry + f.read(min(block_bytes, piece.end - pos))
            pos = carry_at + len(data)
            cut = len(data) if pos >= piece.end else data.rfind(sep)
            if cut < 0:  # no boundary in this block yet: read on
                carry = data
                continue
            if pos < piece.end:
                cut += len(sep)
            if raw:
                yield RawLines(data[:cut], piece.path, carry_at)
                carry, carry_at = data[cut:], carry_at + cut
                continue
            text = _decode(data[:cut], piece.path, carry_at, source.errors)
            if source.format == "jsonl":
                yield _json_documents(text, piece.path, carry_at, source.field)
            else:
                yield _text_documents(text, source.split)
            carry, carry_at = data[cut:], carry_at + cut


def _decode(data: bytes, path: str, at: int, errors: str) -> str:
    try:
        return data.decode("utf-8", errors)
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: invalid UTF-8 at byte {at + e.start} "
            f"(0x{data[e.start]:02x}; --errors replace substitutes U+FFFD)"
        ) from None


def _text_documents(text: str, split: str) -> list[str]:
    if split == "lines":
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        return list(filter(None, text.split("\n")))
    docs = []
    for para in _BLANK_LINES.split(text):
        if para.endswith("\n"):
            para = para[:-2] if para.endswith("\r\n") else para[:-1]
        if para:
            docs.append(para)
    return docs


def _json_documents(text: str, path: str, at: int, field: str) -> list[str]:
    docs = []
    start = 0  # character index of the current line in `text`
    for line in text.split("\n"):
        if line.strip():
            problem = None
            try:
                obj = json.loads(line)
            except ValueError as e:
                problem = f"invalid JSON ({getattr(e, 'msg', e)})"
            else:
                value = obj.get(field) if isinstance(obj, dict) else None
                if isinstance(value, str):
                    docs.append(value)
                elif not isinstance(obj, dict):
                    problem = f"expected a JSON object, got {type(obj).__name__}"
                elif field not in obj:
                    keys = ", ".join(map(repr, list(obj)[:8]))
                    problem = f"no field {field!r} (fields: {keys or 'none'})"
                else:
                    problem = f"field {field!r} is {type(value).__name__}, not a string"
            if problem:
                byte = at + len(text[:start].encode("utf-8", "surrogatepass"))
                raise InputError(f"{path}:{_line_number(path, byte)}: {problem}")
        start += len(line) + 1
    return docs


def _line_number(path: str, byte: int) -> int:
    """1-based number of the line that starts at `byte` (counted only when reporting an error)."""
    newlines = 0
    with open(path, "rb") as f:
        left = byte
        while left > 0:
            data = f.read(min(_SCAN, left))
            if not data:
                break
            newlines += data.count(b"\n")
            left -= len(data)
    return newlines + 1


def _parquet_documents(piece: Piece, source: Source) -> Iterator[list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(piece.path)
    row = sum(pf.metadata.row_group(i).num_rows for i in range(piece.start))
    for batch in pf.iter_batches(
        batch_size=8192, row_groups=list(range(piece.start, piece.end)), columns=[source.column]
    ):
        col = batch.column(0)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            raise InputError(
                f"{piece.path}: column {source.column!r} holds {col.type}, not strings"
            )
        if col.null_count:
            first = next(i for i, v in enumerate(col.is_null().to_pylist()) if v)
            raise InputError(f"{piece.path}: row {row + first}: column {source.column!r} is null")
        yield col.to_pylist()
        row += len(col)
