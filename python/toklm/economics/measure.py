"""Counting tokens of whole files with several tokenizers at once, streamed in bounded memory.

Every source is read once; each batch of text pieces goes to every tokenizer in one native batch
call (`count_batch`, or `encode_ordinary_batch` when the ids are needed) on every core.
Special-token strings count as ordinary text, as an API bills them in user content.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from toklm.economics.counter import TokenCounter
from toklm.economics.progress import Progress
from toklm.economics.textio import DEFAULT_BLOCK_BYTES, DecodeReport, Source, iter_text
from toklm.native import DEFAULT_THREADS

__all__ = [
    "SourceResult", "Tally", "fragment_table", "is_fragment", "measure", "read_fields",
    "tokenizer_label",
]  # fmt: skip

# Pieces per native batch call: enough to keep every core busy, few enough to bound memory.
BATCH_PIECES = 2 * DEFAULT_THREADS


@dataclass
class Tally:
    """What one tokenizer made of one source."""

    tokens: int = 0
    fragments: int | None = None  # tokens that are not whole UTF-8 characters (when asked)
    line_tokens: Counter[int] = field(default_factory=Counter)  # tokens in a line -> lines


@dataclass
class SourceResult:
    """One source, as read (`read`), and one `Tally` per tokenizer in the order given."""

    source: Source
    read: DecodeReport
    tallies: list[Tally]
    lines: int = 0  # lines, when measured per line


def read_fields(read: DecodeReport) -> dict[str, Any]:
    """The record fields that say how invalid UTF-8 in a source was handled."""
    return {"invalid_utf8_replaced": read.replaced, "invalid_utf8_first_at": read.first_replaced}


def tokenizer_label(tok: TokenCounter) -> str:
    """The name a tokenizer is shown under (`Encoding.name`, or what a Tokenizer calls itself).

    >>> import toklm; tokenizer_label(toklm.get_encoding("gpt2"))
    'gpt2'
    """
    return str(tok.name or type(tok).__name__)


def is_fragment(token_bytes: bytes) -> bool:
    """True when a token's bytes are not a whole sequence of complete UTF-8 characters.

    >>> is_fragment("🎉".encode()[:2]), is_fragment(" 안녕".encode())
    (True, False)
    """
    try:
        token_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_FRAGMENT_TABLES: dict[int, Any] = {}


def fragment_table(tok: TokenCounter) -> Any:
    """A numpy bool array: `table[id]` is True when token `id` is a byte fragment.

    Built once per tokenizer object (about 0.1 s for a 200k vocabulary) and cached.

    >>> import toklm; table = fragment_table(toklm.get_encoding("gpt2"))
    >>> bool(table[12520]), bool(table[995])  # b" \xf0\x9f" (part of 🎉), b" world"
    (True, False)
    """
    import numpy as np

    key = id(tok)
    cached = _FRAGMENT_TABLES.get(key)
    if cached is not None and cached[0] is tok:
        return cached[1]
    size = int(tok.n_vocab)
    table = np.zeros(size, dtype=bool)
    for i in range(size):
        try:
            b = tok.decode_single_token_bytes(i)
        except (KeyError, ValueError):  # an unused id (a hole in the vocabulary)
            continue
        table[i] = is_fragment(b)
    _FRAGMENT_TABLES[key] = (tok, table)
    return table


def count_batch(tok: TokenCounter, texts: list[str]) -> list[int]:
    """Token counts of `texts` (specials as text) in one native call.

    >>> import toklm; count_batch(toklm.get_encoding("gpt2"), ["Hello world", "🎉"])
    [2, 3]
    """
    return list(tok.count_batch(texts))


# Texts cut where `find_token_boundary` cuts: (left, right).
_CUT_PROBES = [("Hello\n", "world"), ("Hello", " world"), ("안녕\n", "하세요"), ("x.\n", "Y_1")]


def splits_exactly(tok: TokenCounter) -> bool:
    """Whether cutting a text at `find_token_boundary` keeps `tok`'s token count exact.

    True for the OpenAI encodings (their patterns are what the cut rules are made for). Any other
    tokenizer is probed on a few cut texts: one that adds a prefix space or a BOS token per call
    fails the probe, and its files are then read whole instead of in blocks.

    >>> import toklm; splits_exactly(toklm.get_encoding("o200k_base"))
    True
    """
    import toklm

    if isinstance(tok, toklm.Encoding):
        try:
            known = toklm.get_encoding(tok.name)
        except ValueError:
            known = None
        if known is not None and known.pat_str == tok.pat_str:
            return True
    texts = (
        [a + b for a, b in _CUT_PROBES] + [a for a, _ in _CUT_PROBES] + [b for _, b in _CUT_PROBES]
    )
    counts = count_batch(tok, texts)
    n = len(_CUT_PROBES)
    return all(counts[i] == counts[n + i] + counts[2 * n + i] for i in range(n))


def _count_fragments(table: Any, id_lists: Sequence[Sequence[int]]) -> int:
    import numpy as np

    n = sum(len(ids) for ids in id_lists)
    if n == 0:
        return 0
    flat = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int64, count=n)
    return int(table[flat].sum())


def _lines_of(piece: str) -> list[str]:
    # A piece holds whole lines; the line break (LF or CRLF) is not part of a line's content.
    body = piece[:-1] if piece.endswith("\n") else piece
    return [line[:-1] if line.endswith("\r") else line for line in body.split("\n")]


def measure(
    sources: Sequence[Source],
    tokenizers: Sequence[TokenCounter],
    *,
    per_line: bool = False,
    fragments: bool = False,
    errors: str = "strict",
    quiet: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> list[SourceResult]:
    """Tokenize every source with every tokenizer; return one `SourceResult` per source.

    per_line=False: each source is one text, counted exactly as a whole (cut at token
    boundaries; read whole when a tokenizer cannot be cut, see `splits_exactly`).
    per_line=True: each line is encoded on its own, without its line break (a sentence of a
    parallel corpus), and the distribution of tokens per line is kept.
    fragments=True also counts byte-fragment tokens (needs the ids, so it is slower).

    >>> import toklm
    >>> r = measure([Source.from_text("Hello world")], [toklm.get_encoding("gpt2")])
    >>> r[0].tallies[0].tokens, r[0].read.chars
    (2, 11)
    """
    tables = [fragment_table(tok) for tok in tokenizers] if fragments else []
    cuttable = per_line or all(splits_exactly(tok) for tok in tokenizers)
    sizes = [s.size() for s in sources]
    total = None if any(n is None for n in sizes) else sum(n for n in sizes if n is not None)
    results: list[SourceResult] = []
    with Progress.for_terminal(total, quiet, label="toklm") as progress:
        for source in sources:
            result = SourceResult(source, DecodeReport(), [Tally() for _ in tokenizers])
            if fragments:
                for tally in result.tallies:
                    tally.fragments = 0
            pieces = iter_text(
                source,
                boundary="line" if per_line else "token" if cuttable else "none",
                errors=errors,
                block_bytes=block_bytes,
                report=result.read,
                on_bytes=progress.advance,
            )
            if per_line:
                for piece in pieces:
                    lines = _lines_of(piece)
                    result.lines += len(lines)
                    _add_batch(result, tokenizers, tables, lines, per_line=True)
            else:
                while batch := list(itertools.islice(pieces, BATCH_PIECES)):
                    _add_batch(result, tokenizers, tables, batch, per_line=False)
            results.append(result)
    return results


def _add_batch(
    result: SourceResult,
    tokenizers: Sequence[TokenCounter],
    tables: Sequence[Any],
    texts: list[str],
    *,
    per_line: bool,
) -> None:
    for j, tok in enumerate(tokenizers):
        tally = result.tallies[j]
        if tables:
            id_lists = tok.encode_ordinary_batch(texts)
            counts = [len(ids) for ids in id_lists]
            tally.fragments = (tally.fragments or 0) + _count_fragments(tables[j], id_lists)
            del id_lists
        else:
            counts = count_batch(tok, texts)
        tally.tokens += sum(counts)
        if per_line:
            tally.line_tokens.update(counts)
