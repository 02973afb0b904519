"""Hugging Face tokenizers (tokenizer.json; vocab.json + merges.txt) on toklm's Rust core.

`Tokenizer.from_pretrained` behaves like transformers' `AutoTokenizer.from_pretrained`; the
class aliases reproduce the transformers class of the same name.

>>> from toklm.hf import AutoTokenizer
>>> tok = AutoTokenizer.from_pretrained(shared("tokenizers/gpt-neox-20b"))
>>> tok("Hello world, we are Gmarket.")["input_ids"]
[12092, 1533, 13, 359, 403, 443, 16532, 15]
"""

from __future__ import annotations

from toklm.hf.outputs import BatchEncoding, StreamDecoder, UnknownTokenIdError
from toklm.hf.tokenizer import Tokenizer

__all__ = [
    "AutoTokenizer",
    "BatchEncoding",
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "GPTNeoXTokenizerFast",
    "StreamDecoder",
    "Tokenizer",
    "UnknownTokenIdError",
]

AutoTokenizer = Tokenizer


class GPT2Tokenizer(Tokenizer):
    """transformers' `GPT2Tokenizer`: byte-level BPE, no normalizer, <|endoftext|> specials."""

    _profile = "gpt2"


class GPTNeoXTokenizerFast(Tokenizer):
    """transformers' `GPTNeoXTokenizer`: NFC, byte-level BPE, <|endoftext|> and <|padding|>."""

    _profile = "neox"


GPT2TokenizerFast = GPT2Tokenizer
