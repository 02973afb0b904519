"""From what a user types on the command line to a tokenizer object.

A tokenizer spec is one of:

* an encoding name: ``cl100k_base``, ``o200k_base``, ``gpt2``, ...;
* an OpenAI model name: ``gpt-4o``, ``gpt-4``, ... (the encoding that model uses);
* ``hf:REPO_OR_PATH``, or the path of an existing file or directory: a Hugging Face tokenizer.

Every failure is an `UnknownTokenizer` (a ValueError) with one line that says what to type
instead; the command line shows that line as its error.
"""

from __future__ import annotations

import os
from typing import Any

import toklm

__all__ = [
    "DEFAULT_ENCODING", "UnknownTokenizer", "resolve_model", "resolve_tokenizer",
    "resolve_tokenizers",
]  # fmt: skip

DEFAULT_ENCODING = "o200k_base"
HF_PREFIX = "hf:"


class UnknownTokenizer(ValueError):
    """A tokenizer or model name that names no tokenizer (the message says what to type)."""


def _known() -> str:
    return ", ".join(toklm.list_encoding_names())


def resolve_model(model: str) -> Any:
    """The encoding an OpenAI model uses (`toklm.encoding_for_model`).

    >>> resolve_model("gpt-4").name
    'cl100k_base'
    """
    try:
        return toklm.encoding_for_model(model)
    except KeyError:
        raise UnknownTokenizer(
            f"unknown model {model!r}: toklm knows OpenAI's models (gpt-4o, gpt-4, gpt-3.5-turbo, "
            f"...); name an encoding with -e instead ({_known()})"
        ) from None


def _hf_tokenizer(spec: str) -> Any:
    try:
        from toklm.hf import Tokenizer
    except ImportError as e:
        raise UnknownTokenizer(
            f"cannot load Hugging Face tokenizer {spec!r}: toklm.hf is not available ({e})"
        ) from None
    try:
        return Tokenizer.from_pretrained(spec)
    except (OSError, ValueError, KeyError) as e:
        msg = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
        raise UnknownTokenizer(f"cannot load Hugging Face tokenizer {spec!r}: {first}") from None


def resolve_tokenizer(spec: str) -> Any:
    """An encoding name, a model name, or ``hf:REPO_OR_PATH`` / a path -> a tokenizer object.

    >>> resolve_tokenizer("gpt-9000")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    toklm.resolve.UnknownTokenizer: unknown encoding 'gpt-9000': use one of gpt2, ...

    >>> resolve_tokenizer("cl100k_base").name, resolve_tokenizer("gpt-4o").name
    ('cl100k_base', 'o200k_base')
    """
    spec = spec.strip()
    if not spec:
        raise UnknownTokenizer(f"empty tokenizer name; known encodings: {_known()}")
    if spec.startswith(HF_PREFIX):
        return _hf_tokenizer(spec[len(HF_PREFIX) :])
    if spec in toklm.list_encoding_names():
        return toklm.get_encoding(spec)
    if os.path.exists(spec):
        return _hf_tokenizer(spec)
    try:
        return toklm.encoding_for_model(spec)
    except KeyError:
        pass
    raise UnknownTokenizer(
        f"unknown encoding {spec!r}: use one of {_known()}, an OpenAI model name (gpt-4o), "
        "or hf:REPO_OR_PATH for a Hugging Face tokenizer"
    )


def resolve_tokenizers(specs: list[str] | None, default: list[str]) -> list[Any]:
    """Repeatable, comma-separated -e values -> tokenizers, in order, without duplicates.

    >>> [t.name for t in resolve_tokenizers(["gpt2,o200k_base", "gpt2"], default=[])]
    ['gpt2', 'o200k_base']
    """
    names: list[str] = []
    for value in specs or default:
        for name in value.split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    if not names:
        raise UnknownTokenizer(f"no tokenizer given; known encodings: {_known()}")
    return [resolve_tokenizer(name) for name in names]
