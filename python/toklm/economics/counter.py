"""`TokenCounter`: what `toklm.economics` needs from a tokenizer.

`toklm.Encoding` and `toklm.hf.Tokenizer` both are token counters; any other object with these
members works too.

>>> import toklm
>>> counter: TokenCounter = toklm.get_encoding("gpt2")
>>> counter.name, counter.count_batch(["Hello world"]), counter.n_vocab
('gpt2', [2], 50257)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class TokenCounter(Protocol):
    """A tokenizer as the economics tools use it (special-token strings count as plain text)."""

    @property
    def name(self) -> str:
        """The name the tokenizer is shown under."""
        ...

    @property
    def n_vocab(self) -> int:
        """One more than the largest token id."""
        ...

    def count_batch(self, texts: Sequence[str], /) -> list[int]:
        """The number of tokens of each text, in one batch call."""
        ...

    def encode_ordinary(self, text: str, /) -> list[int]:
        """The token ids of `text`."""
        ...

    def encode_ordinary_batch(self, texts: Sequence[str], /) -> list[list[int]]:
        """The token ids of each text, in one batch call."""
        ...

    def decode_single_token_bytes(self, token: int, /) -> bytes:
        """The bytes of one token; KeyError or ValueError for an id with no token."""
        ...
