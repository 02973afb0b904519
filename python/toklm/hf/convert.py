"""Conversions between tiktoken-style `toklm.Encoding`s and byte-level `tokenizer.json` files.

tiktoken merges, among adjacent parts, the pair whose *concatenation* has the lowest rank;
Hugging Face merges the pair whose *merge* is listed first. An Encoding therefore exports with
every split of every token as a merge (in the token's rank order) and `ignore_merges` (a whole
piece that is a token is that token, as in tiktoken): Hugging Face's rule then picks the pairs
tiktoken picks. The one case the two can still differ: the same token formable at two
overlapping positions from different splits (tiktoken takes the leftmost, Hugging Face the split
listed first) — a state natural text has not been seen to reach.

The other way, a tokenizer.json opens as an Encoding only when the rules can agree: byte-level,
no normalizer, only special added tokens, ids in merge order, and every token reachable by its
merges; otherwise ValueError says which condition fails.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from toklm.byte_level import BYTE_CHARS, CHAR_BYTES  # noqa: F401 (BYTE_CHARS: old import path)
from toklm.byte_level import to_byte_level as byte_level
from toklm.hf.spec import BYTE_LEVEL_PATTERN, merge_pairs


def _oniguruma_pattern(pattern: str) -> str:
    """The pattern for `tokenizers`' Oniguruma (Ruby syntax), where `{m,n}+` is not possessive
    but "one or more of {m,n}": dropping the `+` keeps the meaning, as nothing follows it."""
    return re.sub(r"(\{\d+(?:,\d*)?\})\+", r"\1", pattern)


def encoding_to_tokenizer_json(encoding: Any, path: str | os.PathLike[str] | None = None) -> dict:
    """A `tokenizer.json` (as a dict; also written to `path` if given) that the `tokenizers`
    library loads and encodes as `encoding` does.

    >>> import toklm
    >>> data = encoding_to_tokenizer_json(toklm.get_encoding("gpt2"))
    >>> data["model"]["type"], len(data["model"]["vocab"])
    ('BPE', 50257)
    """
    ranks: dict[bytes, int] = dict(encoding._mergeable_ranks)
    vocab = {byte_level(token): rank for token, rank in ranks.items()}
    merges: list[tuple[int, int, list[str]]] = []
    for token, rank in ranks.items():
        for k in range(1, len(token)):
            left, right = token[:k], token[k:]
            if left in ranks and right in ranks:
                merges.append((rank, k, [byte_level(left), byte_level(right)]))
    # Rank order; for one token, splits with a shorter left part first (see the module doc).
    merges.sort(key=lambda m: (m[0], m[1]))
    specials = sorted(encoding._special_tokens.items(), key=lambda kv: kv[1])
    # `tokenizers` ignores the ids of added tokens and gives those missing from the vocab the
    # next free ids; in the vocab they keep theirs. No merge or regex piece can reach them.
    vocab.update(specials)
    data = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": s,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for s, i in specials
        ],  # fmt: skip
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": _oniguruma_pattern(encoding._pat_str)},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": True,
                    "use_regex": False,
                },
            ],
        },  # fmt: skip
        "post_processor": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": False,
            "use_regex": False,
        },  # fmt: skip
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },  # fmt: skip
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            "vocab": vocab,
            "merges": [m[2] for m in merges],
        },
    }
    if path is not None:
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return data


def tokenizer_to_encoding(tokenizer: Any, name: str | None = None) -> Any:
    """The `toklm.Encoding` (tiktoken rules) of a byte-level tokenizer, when the rules agree.

    >>> from toklm.hf import Tokenizer
    >>> gpt2 = Tokenizer.from_pretrained(shared("tokenizers/gpt2"))
    >>> enc = tokenizer_to_encoding(gpt2)
    >>> enc.encode("Hello world")
    [15496, 995]
    """
    from toklm.encoding import Encoding
    from toklm.hf.tokenizer import Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer.from_pretrained(tokenizer)
    spec = tokenizer._spec
    label = name or tokenizer.name

    def cannot(reason: str) -> ValueError:
        return ValueError(f"{label} cannot open as a tiktoken-style Encoding: {reason}")

    if spec.normalizer is not None:
        raise cannot(f"its normalizer ({'+'.join(spec.normalizer.forms)}) changes the text first")
    steps = spec.pre_steps
    if steps == [("byte_level", "", True, "", False)]:
        pattern = BYTE_LEVEL_PATTERN
    elif (
        len(steps) == 2
        and steps[0][0] == "split"
        and steps[0][2]
        and steps[0][3] == "Isolated"
        and not steps[0][4]
        and steps[1] == ("byte_level", "", False, "", False)
    ):
        pattern = steps[0][1]
    else:
        raise cannot(
            "its pre-tokenizer is not ByteLevel with its regex, nor an isolating Split followed "
            "by ByteLevel without regex (both without add_prefix_space)"
        )
    specials: dict[str, int] = {}
    for t in tokenizer._added:
        if not t.special or t.normalized or t.lstrip or t.rstrip or t.single_word:
            raise cannot(f"added token {t.content!r} is not a plain special token")
        specials[t.content] = t.id
    chars = CHAR_BYTES
    ranks: dict[bytes, int] = {}
    for token, tid in spec.vocab.items():
        if token in specials:
            continue
        if any(c not in chars for c in token):
            raise cannot(f"vocab entry {token!r} is not in the byte-level alphabet")
        ranks[bytes(chars[c] for c in token)] = tid
    if len([r for r in ranks if len(r) == 1]) != 256:
        raise cannot("its vocab lacks some of the 256 single bytes")
    # Ranks are ids, so merge order must be id order for the two rules to pick the same pairs.
    last = -1
    for k, (a, b) in enumerate(merge_pairs(spec.merges)):
        tid = spec.vocab.get(a + b)
        if tid is None or tid < last:
            raise cannot(f"merge {k} ({a} {b}) is out of id order, so ranks cannot be ids")
        last = tid
    for token, tid in ranks.items():
        if len(token) > 1 and tokenizer._core.bpe_word(token) != [tid]:
            raise cannot(f"token {tid} is not reachable by its merges, but tiktoken would use it")
    return Encoding(label, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
