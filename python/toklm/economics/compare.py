"""`compare`: how many tokens each tokenizer makes of the same texts or files, and which ones."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from toklm.economics.measure import is_fragment, measure, read_fields, tokenizer_label
from toklm.economics.textio import DecodeReport, Source, iter_text
from toklm.resolve import resolve_tokenizer

__all__ = ["DEFAULT_TOKENIZERS", "compare", "piece_text", "resolve"]

DEFAULT_TOKENIZERS = ("gpt2", "cl100k_base", "o200k_base")


def resolve(tokenizers: Sequence[Any] | None) -> list[Any]:
    """Tokenizer objects from names (encoding, model, ``hf:...``) or objects; None: the defaults.

    A name that names no tokenizer raises `toklm.resolve.UnknownTokenizer` (a ValueError).

    >>> [t.name for t in resolve(["gpt2", "gpt-4o"])]
    ['gpt2', 'o200k_base']
    """
    specs = list(tokenizers) if tokenizers is not None else list(DEFAULT_TOKENIZERS)
    return [resolve_tokenizer(t) if isinstance(t, str) else t for t in specs]


def piece_text(token_bytes: bytes) -> str:
    """How a token is shown: its text, or its bytes in hex when it is only part of a character.

    >>> piece_text(b" world"), piece_text("🎉".encode()[:2])
    (' world', '<f0 9f>')
    """
    if is_fragment(token_bytes):
        return "<" + token_bytes.hex(" ") + ">"
    return token_bytes.decode("utf-8")


def _ratios(rec: dict[str, Any]) -> dict[str, Any]:
    tokens = rec["tokens"]
    rec["chars_per_token"] = rec["chars"] / tokens if tokens else None
    rec["bytes_per_token"] = rec["bytes"] / tokens if tokens else None
    frags = rec["byte_fragments"]
    rec["byte_fragment_share"] = frags / tokens if tokens else 0.0
    return rec


def _text_records(text: str, label: str, toks: list[Any], errors: str) -> list[dict[str, Any]]:
    read = DecodeReport()
    # Through iter_text so that invalid UTF-8 (lone surrogates) is reported as for files.
    text = "".join(iter_text(Source.from_text(text, label), errors=errors, report=read))
    records = []
    for tok in toks:
        ids = tok.encode_ordinary(text)
        pieces = [tok.decode_single_token_bytes(i) for i in ids]
        fragments = [is_fragment(b) for b in pieces]
        rec = {
            "input": label,
            "tokenizer": tokenizer_label(tok),
            "tokens": len(ids),
            "chars": len(text),
            "bytes": len(text.encode("utf-8")),
            "byte_fragments": sum(fragments),
            **read_fields(read),
            "ids": ids,
            "pieces": [piece_text(b) for b in pieces],
            "piece_is_fragment": fragments,
        }
        records.append(_ratios(rec))
    return records


def compare(
    texts: Sequence[str] = (),
    files: Sequence[str | os.PathLike[str]] = (),
    tokenizers: Sequence[Any] | None = None,
    *,
    errors: str = "strict",
    quiet: bool = True,
) -> list[dict[str, Any]]:
    """One record per (text or file, tokenizer): tokens, chars/bytes per token, byte fragments.

    Texts also get their token ``ids`` and ``pieces`` (fragments shown as hex bytes); files are
    streamed and only counted. Special-token strings count as ordinary text.

    >>> rows = compare(["안녕하세요, 우리는 Gmarket입니다. 🎉"])
    >>> [(r["tokenizer"], r["tokens"]) for r in rows]
    [('gpt2', 37), ('cl100k_base', 17), ('o200k_base', 10)]
    """
    toks = resolve(tokenizers)
    records: list[dict[str, Any]] = []
    for i, text in enumerate(texts, 1):
        label = "<text>" if len(texts) == 1 else f"<text {i}>"
        records += _text_records(text, label, toks, errors)
    if files:
        sources = [Source.from_path(f) for f in files]
        for result in measure(sources, toks, fragments=True, errors=errors, quiet=quiet):
            for tok, tally in zip(toks, result.tallies, strict=True):
                rec = {
                    "input": result.source.label,
                    "tokenizer": tokenizer_label(tok),
                    "tokens": tally.tokens,
                    "chars": result.read.chars,
                    "bytes": result.read.bytes,
                    "byte_fragments": tally.fragments or 0,
                    **read_fields(result.read),
                }
                records.append(_ratios(rec))
    return records
