"""toklm: exact, fast tokenizers (tiktoken- and Hugging Face-compatible) and small causal LMs.

>>> import toklm
>>> toklm.get_encoding("gpt2").encode("hello world")
[31373, 995]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toklm.encoding import Encoding
from toklm.openai_models import encoding_for_model, encoding_name_for_model
from toklm.registry import get_encoding, list_encoding_names
from toklm.show import show

if TYPE_CHECKING:
    from toklm.corpus import TokenShards
    from toklm.hf import Tokenizer
    from toklm.train import extend_encoding, load_encoding, train_bpe

__version__ = "0.1.0"

__all__ = [
    "Encoding",
    "TokenShards",
    "Tokenizer",
    "encoding_for_model",
    "encoding_name_for_model",
    "extend_encoding",
    "get_encoding",
    "list_encoding_names",
    "load_encoding",
    "train_bpe",
    "show",
]


def __getattr__(name: str) -> Any:
    # The Hugging Face layer is imported only when used.
    if name == "Tokenizer":
        from toklm.hf import Tokenizer

        return Tokenizer
    if name == "TokenShards":  # the corpus reader, also imported only when used
        from toklm.corpus import TokenShards

        return TokenShards
    if name in ("train_bpe", "extend_encoding", "load_encoding"):
        import toklm.train

        return getattr(toklm.train, name)
    raise AttributeError(f"module 'toklm' has no attribute {name!r}")
