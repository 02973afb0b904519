"""`toklm encode`'s output, written as the input is read: bounded memory for files of any size.

The text is read in blocks cut at token boundaries (`iter_text`), each batch of blocks is
encoded in one native call, and its ids are written before the next batch is read. The JSON
output is written the same way; with ``--tokens --json`` each array takes its own pass over the
input (stdin is first copied to a temporary file for that).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import toklm
from toklm.cli.errors import CliError
from toklm.economics.measure import BATCH_PIECES, is_fragment, splits_exactly, tokenizer_label
from toklm.economics.render import plain_tokens
from toklm.economics.textio import DecodeReport, Source, iter_text

__all__ = ["EncodeOptions", "write_encoding"]


class EncodeOptions:
    """What `toklm encode` was asked for: special-token handling and the output form."""

    def __init__(
        self, *, allow_special: bool, special_as_text: bool, tokens: bool, json: bool, errors: str
    ) -> None:
        self.allow_special = allow_special
        self.special_as_text = special_as_text
        self.tokens = tokens
        self.json = json
        self.errors = errors


def _special_pattern(tok: Any) -> re.Pattern[str] | None:
    specials = getattr(tok, "special_tokens_set", None)
    if not specials:
        return None
    return re.compile("|".join(map(re.escape, sorted(specials, key=len, reverse=True))))


def _boundary(tok: Any) -> str:
    """Cut the input at token boundaries unless the tokenizer (or a special token) forbids it."""
    specials = getattr(tok, "special_tokens_set", None) or ()
    if any(" " in s or "\n" in s for s in specials):  # a cut could fall inside one
        return "none"
    return "token" if splits_exactly(tok) else "none"


def _id_batches(
    tok: Any, source: Source, opts: EncodeOptions, read: DecodeReport
) -> Iterator[list[list[int]]]:
    """The ids of `source`, one list per block, in batches of blocks."""
    pattern = None if opts.allow_special or opts.special_as_text else _special_pattern(tok)
    allow_all = opts.allow_special and isinstance(tok, toklm.Encoding)
    pieces = iter_text(source, boundary=_boundary(tok), errors=opts.errors, report=read)
    while batch := list(itertools.islice(pieces, BATCH_PIECES)):
        if pattern is not None:
            for piece in batch:
                found = pattern.search(piece)
                if found:
                    raise CliError(
                        f"{source.label} contains the special token {found.group()!r}: pass "
                        "--allow-special to encode it as that token, or --special-as-text to "
                        "encode it as plain text"
                    )
        if allow_all:
            yield [tok.encode(piece, allowed_special="all") for piece in batch]
        else:
            yield tok.encode_ordinary_batch(batch)


def _piece_texts(tok: Any, ids: list[int]) -> tuple[list[str], list[bool]]:
    from toklm.economics.compare import piece_text

    raw = [tok.decode_single_token_bytes(i) for i in ids]
    return [piece_text(b) for b in raw], [is_fragment(b) for b in raw]


def _write_plain(tok: Any, source: Source, opts: EncodeOptions, out: IO[str]) -> DecodeReport:
    read = DecodeReport()
    first = True
    for batch in _id_batches(tok, source, opts, read):
        for ids in batch:
            if not ids:
                continue
            if opts.tokens:
                shown = plain_tokens(*_piece_texts(tok, ids))
            else:
                shown = " ".join(map(str, ids))
            out.write(shown if first else " " + shown)
            first = False
        out.flush()
    out.write("\n")
    return read


def _write_json_array(
    out: IO[str], batches: Iterator[list[list[int]]], item: Callable[[list[int]], list[Any]]
) -> int:
    """Write `[a, b, ...]` from the items of every block; return how many tokens there were."""
    out.write("[")
    n = 0
    for batch in batches:
        for ids in batch:
            for value in item(ids):
                out.write((", " if n else "") + json.dumps(value, ensure_ascii=False))
                n += 1
        out.flush()
    out.write("]")
    return n


def _write_json(tok: Any, source: Source, opts: EncodeOptions, out: IO[str]) -> DecodeReport:
    read = DecodeReport()
    out.write("{\n" + f'  "encoding": {json.dumps(tokenizer_label(tok))},\n  "ids": ')
    n = _write_json_array(out, _id_batches(tok, source, opts, read), lambda ids: ids)
    if opts.tokens:
        for key, index in (("pieces", 0), ("piece_is_fragment", 1)):
            out.write(f',\n  "{key}": ')
            batches = _id_batches(tok, source, opts, DecodeReport())
            _write_json_array(out, batches, lambda ids, i=index: _piece_texts(tok, ids)[i])
    out.write(f',\n  "tokens": {n}\n}}\n')
    return read


@contextmanager
def _rereadable(source: Source, passes: int) -> Iterator[Source]:
    """`source`, copied to a temporary file first when it is stdin and must be read twice."""
    if passes < 2 or source.path is not None or source.data is not None:
        yield source
        return
    with tempfile.NamedTemporaryFile(prefix="toklm-stdin-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        spool.flush()
        yield Source(label=source.label, path=spool.name)


def write_encoding(tok: Any, source: Source, opts: EncodeOptions, out: IO[str]) -> DecodeReport:
    """Encode `source` with `tok` and write the ids (or tokens, or JSON) to `out` as it goes.

    >>> import io; out = io.StringIO()
    >>> opts = EncodeOptions(allow_special=False, special_as_text=False, tokens=False,
    ...                      json=False, errors="strict")
    >>> _ = write_encoding(toklm.get_encoding("gpt2"), Source.from_text("Hello world"), opts, out)
    >>> out.getvalue()
    '15496 995\\n'
    """
    with _rereadable(source, 3 if opts.json and opts.tokens else 1) as readable:
        if opts.json:
            return _write_json(tok, readable, opts, out)
        return _write_plain(tok, readable, opts, out)
