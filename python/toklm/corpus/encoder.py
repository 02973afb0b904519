"""How a tokenizer travels to the workers of a job, and how a batch of documents is encoded.

A bundled encoding (`cl100k_base`, ...) travels by name: a worker builds it from the data inside
the toklm package. A custom `toklm.Encoding` travels as its definition with the ranks packed as
a compact blob (one length byte and the bytes of each token: 0.74 MB for a 100k vocabulary, built
on the worker without a Python dict; its plain pickle is 1.3 MB). Anything else (a
`toklm.Tokenizer`) travels as its pickle. Nothing is downloaded either way; each process builds a
given tokenizer once.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from toklm.encoding import Encoding, flat_arrays
from toklm.load import CompactRanks

__all__ = ["EncoderSpec", "encode_flat"]


@dataclass(frozen=True)
class EncoderSpec:
    """A tokenizer as something small to send: ``("name", "gpt2")``, ``("compact", b"...")`` (a
    custom Encoding) or ``("pickle", b"...")``.

    >>> import toklm
    >>> spec = EncoderSpec.of(toklm.get_encoding("gpt2"))
    >>> spec.kind, spec.value, spec.load().name
    ('name', 'gpt2', 'gpt2')
    """

    kind: str
    value: str | bytes

    @classmethod
    def of(cls, tokenizer: Any) -> EncoderSpec:
        """The spec of a `toklm.Encoding` or `toklm.Tokenizer` (by name when bundled)."""
        from toklm import registry

        if registry.is_shared(tokenizer):
            return cls("name", tokenizer.name)
        if isinstance(tokenizer, Encoding):
            try:
                blob = CompactRanks.from_ranks(tokenizer._mergeable_ranks).blob
            except ValueError:  # a token longer than 255 bytes: the plain pickle below
                pass
            else:
                definition = {
                    "name": tokenizer.name,
                    "pat_str": tokenizer._pat_str,
                    "blob": blob,
                    "special_tokens": tokenizer._special_tokens,
                }
                return cls("compact", pickle.dumps(definition, protocol=pickle.HIGHEST_PROTOCOL))
        return cls("pickle", pickle.dumps(tokenizer, protocol=pickle.HIGHEST_PROTOCOL))

    def load(self) -> Any:
        """The tokenizer, built once per process."""
        return _load(self.kind, self.value)

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the tokenizer (its name, vocabulary size, and for a
        tokenizer sent by value the sha256 of its pickle)."""
        tok = self.load()
        out: dict[str, Any] = {"name": str(getattr(tok, "name", type(tok).__name__))}
        out["n_vocab"] = int(tok.n_vocab)
        if self.kind != "name":
            assert isinstance(self.value, bytes)
            out["sha256"] = hashlib.sha256(self.value).hexdigest()
        return out


@functools.lru_cache(maxsize=8)
def _load(kind: str, value: str | bytes) -> Any:
    if kind == "name":
        import toklm

        assert isinstance(value, str)
        return toklm.get_encoding(value)
    if kind == "pickle":
        assert isinstance(value, bytes)
        return pickle.loads(value)
    if kind == "compact":
        assert isinstance(value, bytes)
        d = pickle.loads(value)
        return Encoding(
            d["name"],
            pat_str=d["pat_str"],
            mergeable_ranks=CompactRanks(d["blob"]),
            special_tokens=d["special_tokens"],
        )
    raise ValueError(f"unknown tokenizer spec kind {kind!r}")


def encode_lines_flat(
    tokenizer: Any, data: bytes, num_threads: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]] | None:
    """`encode_flat` of the non-empty lines of UTF-8 `data` in one native call (no Python string
    per line), or None where there is no such path (not a `toklm.Encoding`) or `data` is not valid
    UTF-8 (the caller then decodes it itself, which names the bad byte).

    >>> import toklm
    >>> tokens, offsets = encode_lines_flat(toklm.get_encoding("gpt2"), b"hello\\r\\n\\n world", 1)
    >>> tokens.tolist(), offsets.tolist()
    ([31373, 995], [0, 1, 2])
    """
    if not isinstance(tokenizer, Encoding):
        return None
    try:
        return flat_arrays(*tokenizer._core_bpe.encode_lines_flat(data, num_threads))
    except ValueError:
        return None


def encode_flat(
    tokenizer: Any, texts: list[str], num_threads: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """Tokens of every text back to back (special-token text encoded as plain text) and the
    ``len(texts) + 1`` document offsets into them.

    >>> import toklm
    >>> tokens, offsets = encode_flat(toklm.get_encoding("gpt2"), ["hello", " world"], 1)
    >>> tokens.tolist(), offsets.tolist()
    ([31373, 995], [0, 1, 2])
    """
    native = getattr(tokenizer, "encode_ordinary_batch_to_numpy", None)
    if native is not None:
        tokens, offsets = native(texts, num_threads=num_threads)
        return tokens, offsets
    lists = tokenizer.encode_ordinary_batch(texts, num_threads=num_threads)
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lists], out=offsets[1:])
    flat = np.fromiter((t for x in lists for t in x), dtype=np.uint32, count=int(offsets[-1]))
    return flat, offsets
