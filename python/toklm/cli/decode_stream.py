"""`toklm decode`'s output, written as the ids are read: bounded memory for any number of ids.

Ids come from the arguments or from stdin in blocks; a block is cut after its last separator so
that no id is split, decoded to bytes, and written. Text output holds back the bytes of a UTF-8
character that the next block completes; invalid UTF-8 is shown as U+FFFD and located once.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

from toklm.cli.errors import CliError
from toklm.economics.measure import tokenizer_label
from toklm.economics.textio import DEFAULT_BLOCK_BYTES, incomplete_tail

__all__ = ["IdReader", "write_decoding"]

_SEPARATORS = re.compile(r"[\s,\[\]]+")
_LAST_SEPARATOR = re.compile(rb"[\s,\[\]](?=[^\s,\[\]]*\Z)")


class IdReader:
    """Token ids from words (arguments) or a binary stream, checked, in blocks.

    >>> list(IdReader(words=["1, 2", "[3]"]).blocks())
    [[1, 2, 3]]
    """

    def __init__(self, *, words: list[str] | None = None, stream: IO[bytes] | None = None) -> None:
        self.words, self.stream = words, stream
        self.items = 0  # ids read so far (for "item N" in errors)
        self.where = "arguments" if words is not None else "stdin"

    def _parse(self, text: str) -> list[int]:
        ids = []
        for word in _SEPARATORS.split(text):
            if not word:
                continue
            self.items += 1
            if not word.isdigit() or not word.isascii():
                raise CliError(f"not a token id: {word!r} ({self.where}, item {self.items})")
            ids.append(int(word))
        return ids

    def blocks(self, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[list[int]]:
        if self.words is not None:
            yield self._parse(" ".join(self.words))
            return
        assert self.stream is not None
        carry = b""
        while block := self.stream.read(block_bytes):
            data = carry + block
            cut = _LAST_SEPARATOR.search(data)
            end = cut.end() if cut else 0
            data, carry = data[:end], data[end:]
            if data:
                yield self._parse(data.decode("utf-8", "replace"))
        if carry:
            yield self._parse(carry.decode("utf-8", "replace"))


class _Utf8Writer:
    """Bytes in, text out: holds back a split character, replaces invalid UTF-8, notes where."""

    def __init__(self) -> None:
        self.carry = b""
        self.offset = 0  # bytes of output decoded before `carry`
        self.first_invalid: tuple[int, str] | None = None

    def text(self, data: bytes, final: bool = False) -> str:
        data = self.carry + data
        keep = 0 if final else incomplete_tail(data)
        body, self.carry = (data[:-keep], data[-keep:]) if keep else (data, b"")
        try:
            out = body.decode("utf-8")
        except UnicodeDecodeError as e:
            if self.first_invalid is None:
                self.first_invalid = (self.offset + e.start, e.reason)
            out = body.decode("utf-8", "replace")
        self.offset += len(body)
        return out


def _decoded_bytes(tok: Any, reader: IdReader) -> Iterator[tuple[int, bytes]]:
    for ids in reader.blocks():
        try:
            yield len(ids), tok.decode_bytes(ids)
        except KeyError as e:
            msg = e.args[0] if e.args else e
            raise CliError(
                f"{msg} (encoding {tokenizer_label(tok)}, n_vocab {tok.n_vocab})"
            ) from None


def write_decoding(tok: Any, reader: IdReader, *, raw: bool, as_json: bool) -> None:
    """Decode the ids of `reader` and write them to stdout as they come (see the module doc)."""
    if raw:
        for _, data in _decoded_bytes(tok, reader):
            sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out = sys.stdout
    utf8 = _Utf8Writer()
    tokens, last = 0, ""
    if as_json:
        out.write("{\n" + f'  "encoding": {json.dumps(tokenizer_label(tok))},\n  "text": "')
    for n, data in _decoded_bytes(tok, reader):
        tokens += n
        text = utf8.text(data)
        if text:
            out.write(json.dumps(text, ensure_ascii=False)[1:-1] if as_json else text)
            last = text[-1]
    rest = utf8.text(b"", final=True)  # a character the ids left unfinished
    if rest:
        out.write(json.dumps(rest, ensure_ascii=False)[1:-1] if as_json else rest)
        last = rest[-1]
    if as_json:
        out.write(f'",\n  "tokens": {tokens}\n}}\n')
    elif last != "\n":
        out.write("\n")
    if utf8.first_invalid is not None:
        at, reason = utf8.first_invalid
        print(
            f"toklm: note: the tokens are not valid UTF-8 (first at byte {at}: {reason}); "
            "shown with U+FFFD in place of invalid bytes (--bytes writes the raw bytes)",
            file=sys.stderr,
        )
