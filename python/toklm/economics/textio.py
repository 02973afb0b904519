"""Streaming UTF-8 text out of files and stdin in bounded memory, with exact chunk boundaries.

A multi-GB file is read in blocks of `block_bytes`; each block is checked (no NUL bytes, valid
UTF-8), decoded, and cut at a *boundary* so that the pieces can be tokenized one by one:

* ``"line"``: after a line break; every piece holds whole lines.
* ``"token"``: where every tiktoken pattern (gpt2/r50k/p50k, cl100k, o200k) and byte-level BPE
  pre-tokenizer is certain to start a new piece whatever follows, so that tokenizing the pieces
  separately gives exactly the tokens of the whole text (see `find_token_boundary`);
* ``"none"``: never; the whole text comes as one piece (for tokenizers that cannot be cut).

Errors are `InputError`s (a `ValueError`) naming the source, byte offset, line and column.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "DecodeReport", "InputError", "Source", "find_token_boundary", "incomplete_tail", "iter_text",
]  # fmt: skip

DEFAULT_BLOCK_BYTES = 1 << 20


class InputError(ValueError):
    """Input that toklm cannot read as UTF-8 text: missing file, binary data, invalid UTF-8, ..."""


@dataclass(frozen=True)
class Source:
    """Where text comes from: a file path, stdin, or bytes in memory (a command-line argument).

    >>> Source.from_text("hi").label, Source.stdin().label, Source.from_path("a.txt").label
    ('<text>', '<stdin>', 'a.txt')
    """

    label: str
    path: str | None = None
    data: bytes | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Source:
        path = os.fspath(path)
        return cls.stdin() if path == "-" else cls(label=path, path=path)

    @classmethod
    def stdin(cls) -> Source:
        return cls(label="<stdin>")

    @classmethod
    def from_text(cls, text: str, label: str = "<text>") -> Source:
        """A text in memory; lone surrogates in it count as invalid UTF-8."""
        return cls(label=label, data=text.encode("utf-8", "surrogatepass"))

    @classmethod
    def from_arg(cls, arg: str, label: str = "<argument>") -> Source:
        """A command-line argument, as the bytes the shell passed (`os.fsencode` undoes the
        surrogateescape that Python applies to undecodable argv bytes)."""
        return cls(label=label, data=os.fsencode(arg))

    def size(self) -> int | None:
        """Bytes to read, when known up front (for progress), else None."""
        if self.data is not None:
            return len(self.data)
        if self.path is None:
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None


@dataclass
class DecodeReport:
    """What reading a source found: its size, and the invalid UTF-8 replaced (errors="replace")."""

    bytes: int = 0
    chars: int = 0
    newlines: int = 0
    replaced: int = 0  # invalid byte sequences replaced by U+FFFD
    first_replaced: str | None = None  # "byte 12 (line 1, column 13)"
    extra: dict[str, object] = field(default_factory=dict)

    def note(self, label: str) -> str | None:
        """One line describing how invalid UTF-8 was handled, or None when there was none."""
        if not self.replaced:
            return None
        return (
            f"{label}: replaced {self.replaced} invalid UTF-8 sequence(s) with U+FFFD, "
            f"the first at {self.first_replaced}"
        )


# --------------------------------------------------------------------------------------------
# Token boundaries
# --------------------------------------------------------------------------------------------

# "...x y..." with ASCII letters: every pattern ends a letter run before a space and starts the
# next piece at the space (" ?\p{L}+" and friends), so the cut before the space is exact.
_WORD_GAP = re.compile(r"(?<=[A-Za-z])(?= [A-Za-z])")
_WORD_GAP_WINDOW = 1 << 16


def find_token_boundary(text: str, lo: int = 0) -> int:
    """The largest index i in (lo, len(text)) where tokenizing text[:i] and text[i:] separately
    gives the tokens of text, or -1 when none is found.

    Two kinds of cut, both safe for every tiktoken pattern and byte-level BPE pre-tokenizer:

    * after "\\n" when the character before the newline is not whitespace and the one after it is
      a letter, digit or "_": no piece can hold "\\n" and the next character, the piece holding
      "\\n" is the same whether text ends there or not (no "\\s+(?!\\S)" merging with whitespace
      before it), and the o200k "[\\r\\n/]*" tail after punctuation stops before a word character;
    * before a space between two ASCII letters.

    >>> text = "Hello\\nworld and more"
    >>> i = find_token_boundary(text); text[:i], text[i:]
    ('Hello\\nworld and', ' more')
    >>> find_token_boundary("   \\n\\n  ")
    -1
    """
    end = len(text) - 1  # a cut needs a character after it
    best = -1
    nl = text.rfind("\n", lo, end)
    while nl > lo:  # nl - 1 >= lo: the character before the newline is ours to look at
        after = text[nl + 1]
        if not text[nl - 1].isspace() and (after.isalnum() or after == "_"):
            best = nl + 1
            break
        nl = text.rfind("\n", lo, nl)
    # A word gap after the newline cut is a later (better) cut. Search backwards in windows so
    # that a long text without newlines is scanned only as far back as its last word gap.
    hi = len(text)
    while hi > max(lo, best):
        start = max(lo, best, hi - _WORD_GAP_WINDOW)
        last = -1
        for m in _WORD_GAP.finditer(text, start, min(len(text), hi + 1)):
            if m.start() > lo:
                last = m.start()
        if last > best:
            return last
        hi = start
    return best


# --------------------------------------------------------------------------------------------
# UTF-8 decoding with locations
# --------------------------------------------------------------------------------------------

_replaced = threading.local()


def _record_and_replace(e: UnicodeError) -> tuple[str, int]:
    assert isinstance(e, UnicodeDecodeError)  # registered for decoding only
    _replaced.starts.append(e.start)
    return "\ufffd", e.end


codecs.register_error("toklm-record-replace", _record_and_replace)


# Lead byte >> 3 -> length of the UTF-8 sequence it starts (110xxxxx: 2, 1110xxxx: 3, 11110xxx: 4).
_SEQUENCE_LENGTH = {**dict.fromkeys(range(0x18, 0x1C), 2), 0x1C: 3, 0x1D: 3, 0x1E: 4}


def incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of `data` start a UTF-8 sequence that the next block completes."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        b = data[n - back]
        if b & 0xC0 != 0x80:  # a lead byte (or ASCII)
            need = _SEQUENCE_LENGTH.get(b >> 3, 1)
            return back if need > back else 0
    return 0


class _Locator:
    """Turns a byte offset in the current block into "byte N (line L, column C)"."""

    def __init__(self) -> None:
        self.offset = 0  # global offset of the current block
        self.lines_before = 0  # newlines before the current block
        self.last_newline = -1  # global offset of the last newline before the current block

    def where(self, block: bytes, i: int) -> str:
        line = self.lines_before + block.count(b"\n", 0, i) + 1
        j = block.rfind(b"\n", 0, i)
        column = i - j if j >= 0 else self.offset + i - self.last_newline
        return f"byte {self.offset + i} (line {line}, column {column})"

    def advance(self, block: bytes) -> int:
        newlines = block.count(b"\n")
        if newlines:
            self.last_newline = self.offset + block.rfind(b"\n")
        self.lines_before += newlines
        self.offset += len(block)
        return newlines


def _decode_block(
    block: bytes, label: str, errors: str, loc: _Locator, report: DecodeReport
) -> str:
    nul = block.find(b"\x00")
    if nul >= 0:
        if loc.offset == 0 and block[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise InputError(
                f"{label}: looks like UTF-16 (byte-order mark); toklm reads UTF-8 text, "
                "convert it first (e.g. iconv -f UTF-16 -t UTF-8)"
            )
        raise InputError(f"{label}: binary data, not text (NUL byte at {loc.where(block, nul)})")
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as e:
        if errors == "strict":
            raise InputError(
                f"{label}: invalid UTF-8 at {loc.where(block, e.start)} ({e.reason}); "
                "pass --errors replace to read it with U+FFFD in place of invalid bytes"
            ) from None
    _replaced.starts = []
    text = block.decode("utf-8", "toklm-record-replace")
    if _replaced.starts:
        if report.first_replaced is None:
            report.first_replaced = loc.where(block, _replaced.starts[0])
        report.replaced += len(_replaced.starts)
    return text


def _read_blocks(source: Source, block_bytes: int) -> Iterator[bytes]:
    if source.path is None:
        stream = sys.stdin.buffer
        while block := stream.read(block_bytes):
            yield block
        return
    try:
        f = open(source.path, "rb")  # noqa: SIM115 (closed below, also on early exit)
    except FileNotFoundError:
        raise InputError(f"{source.label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source.label}: is a directory, not a file") from None
    except OSError as e:
        raise InputError(f"{source.label}: cannot read: {e.strerror or e}") from None
    with f:
        before = os.fstat(f.fileno())
        read = 0
        try:
            while block := f.read(block_bytes):
                read += len(block)
                yield block
        except OSError as e:
            raise InputError(f"{source.label}: read failed: {e.strerror or e}") from None
        changed = _changed_while_read(source.label, before, os.fstat(f.fileno()), read)
        if changed:
            raise InputError(changed)


def _changed_while_read(
    label: str, before: os.stat_result, after: os.stat_result, read: int
) -> str | None:
    """Why a regular file's content may not be what was read (it grew, shrank or was rewritten
    between open and end of file), or None. Pipes and devices have no size to compare."""
    if not stat.S_ISREG(before.st_mode) or before.st_size == after.st_size == 0:
        return None  # a pipe, a device, or a size-less file such as those in /proc
    if before.st_size == read == after.st_size and before.st_mtime_ns == after.st_mtime_ns:
        return None
    if after.st_size != before.st_size or read != before.st_size:
        how = (
            f"{before.st_size} bytes when opened, {read} bytes read, "
            f"{after.st_size} bytes at the end"
        )
    else:
        how = "rewritten in place"
    return (
        f"{label}: the file changed while it was read ({how}), so the result would be of no "
        "version of it; read it again once nothing is writing it"
    )


def iter_text(
    source: Source,
    *,
    boundary: str = "token",
    errors: str = "strict",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    report: DecodeReport | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Yield the text of `source` in pieces of about `block_bytes`, each ending at `boundary`.

    The pieces concatenate to the whole text. Memory stays near `block_bytes` except where the
    text has no boundary for a long stretch (one huge line; for "token" also no word gap), which
    is carried over whole. Raises `InputError` (nothing yielded after it is valid) on binary data
    or, with errors="strict", invalid UTF-8.

    >>> list(iter_text(Source.from_text("a\\nb\\n"), boundary="line"))
    ['a\\nb\\n']
    """
    if boundary not in ("token", "line", "none"):
        raise ValueError(f"boundary must be 'token', 'line' or 'none', not {boundary!r}")
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
    report = report if report is not None else DecodeReport()
    if source.data is not None:
        data = source.data
        blocks: Iterator[bytes] = (
            data[i : i + block_bytes] for i in range(0, len(data), block_bytes)
        )
    else:
        blocks = _read_blocks(source, block_bytes)
    loc = _Locator()
    carry_bytes = b""
    pending = ""  # decoded text not yet yielded (it has no boundary yet)
    scanned = 0  # characters of `pending` already searched for a boundary
    for raw in blocks:
        if on_bytes is not None:
            on_bytes(len(raw))
        report.bytes += len(raw)
        block = carry_bytes + raw
        keep = incomplete_tail(block)
        block, carry_bytes = (block[:-keep], block[-keep:]) if keep else (block, b"")
        text = _decode_block(block, source.label, errors, loc, report)
        report.newlines += loc.advance(block)
        pending += text
        if boundary == "none":
            continue
        if boundary == "line":
            cut = pending.rfind("\n", scanned) + 1
        else:
            cut = find_token_boundary(pending, max(0, scanned - 2))
        scanned = len(pending)
        if cut > 0:
            report.chars += cut
            yield pending[:cut]
            pending = pending[cut:]
            scanned = len(pending)
    if carry_bytes:  # the input ends inside a UTF-8 sequence
        pending += _decode_block(carry_bytes, source.label, errors, loc, report)
        report.newlines += loc.advance(carry_bytes)
    if pending:
        report.chars += len(pending)
        yield pending
