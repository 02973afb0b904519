"""OpenAI's public encodings, as in tiktoken 0.14's `tiktoken_ext/openai_public.py`.

Each constructor returns the keyword arguments of `toklm.Encoding(...)`. The mergeable ranks come
from the vocabularies bundled with toklm (`toklm.load.bundled_ranks`), so no network is needed.
"""

from __future__ import annotations

from typing import Any

from .load import bundled_ranks

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# The exact pat_str values of tiktoken 0.14. They must stay identical to R50K_PATTERN,
# CL100K_PATTERN and O200K_PATTERN in src/pretok/mod.rs, which selects its hand-written scanners by
# comparing the pattern string (tests/test_registry.py checks both).
#
# The original GPT-2 pattern is
#   's|'t|'re|'ve|'m|'ll|'d| ?[\p{L}]+| ?[\p{N}]+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# tiktoken's r50k pattern is equivalent, with possessive quantifiers so that it runs faster.
R50K_PAT_STR = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
CL100K_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


def gpt2() -> dict[str, Any]:
    # tiktoken builds gpt2 from GPT-2's vocab.bpe + encoder.json; the result is exactly the
    # r50k_base ranks (tests/test_vocab_data.py checks this on the original files).
    return {
        "name": "gpt2",
        "explicit_n_vocab": 50257,
        "pat_str": R50K_PAT_STR,
        "mergeable_ranks": bundled_ranks("r50k_base"),
        "special_tokens": {ENDOFTEXT: 50256},
    }


def r50k_base() -> dict[str, Any]:
    return {
        "name": "r50k_base",
        "explicit_n_vocab": 50257,
        "pat_str": R50K_PAT_STR,
        "mergeable_ranks": bundled_ranks("r50k_base"),
        "special_tokens": {ENDOFTEXT: 50256},
    }


def p50k_base() -> dict[str, Any]:
    return {
        "name": "p50k_base",
        "explicit_n_vocab": 50281,
        "pat_str": R50K_PAT_STR,
        "mergeable_ranks": bundled_ranks("p50k_base"),
        "special_tokens": {ENDOFTEXT: 50256},
    }


def p50k_edit() -> dict[str, Any]:
    return {
        "name": "p50k_edit",
        "pat_str": R50K_PAT_STR,
        "mergeable_ranks": bundled_ranks("p50k_base"),
        "special_tokens": {
            ENDOFTEXT: 50256,
            FIM_PREFIX: 50281,
            FIM_MIDDLE: 50282,
            FIM_SUFFIX: 50283,
        },
    }


def cl100k_base() -> dict[str, Any]:
    return {
        "name": "cl100k_base",
        "pat_str": CL100K_PAT_STR,
        "mergeable_ranks": bundled_ranks("cl100k_base"),
        "special_tokens": {
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    }


def o200k_base() -> dict[str, Any]:
    return {
        "name": "o200k_base",
        "pat_str": O200K_PAT_STR,
        "mergeable_ranks": bundled_ranks("o200k_base"),
        "special_tokens": {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    }


def o200k_harmony() -> dict[str, Any]:
    base = o200k_base()
    # 1,091 entries. As in tiktoken, <|endofprompt|> (from o200k_base) and <|reserved_200018|>
    # share id 200018; decoding 200018 gives b"<|endofprompt|>" in tiktoken 0.14.
    special_tokens = {
        **base["special_tokens"],
        "<|startoftext|>": 199998,
        ENDOFTEXT: 199999,
        "<|reserved_200000|>": 200000,
        "<|reserved_200001|>": 200001,
        "<|return|>": 200002,
        "<|constrain|>": 200003,
        "<|reserved_200004|>": 200004,
        "<|channel|>": 200005,
        "<|start|>": 200006,
        "<|end|>": 200007,
        "<|message|>": 200008,
        "<|reserved_200009|>": 200009,
        "<|reserved_200010|>": 200010,
        "<|reserved_200011|>": 200011,
        "<|call|>": 200012,
    } | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}
    return {
        "name": "o200k_harmony",
        "pat_str": base["pat_str"],
        "mergeable_ranks": base["mergeable_ranks"],
        "special_tokens": special_tokens,
    }


ENCODING_CONSTRUCTORS = {
    "gpt2": gpt2,
    "r50k_base": r50k_base,
    "p50k_base": p50k_base,
    "p50k_edit": p50k_edit,
    "cl100k_base": cl100k_base,
    "o200k_base": o200k_base,
    "o200k_harmony": o200k_harmony,
}
