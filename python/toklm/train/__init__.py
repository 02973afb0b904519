"""Training and extending byte-level BPE vocabularies.

>>> import toklm
>>> enc = toklm.train_bpe(["hello hello world"] * 3, 300, pattern="cl100k_base")
>>> enc.decode(enc.encode("hello world"))
'hello world'
"""

from toklm.train.balanced import train_bpe_balanced
from toklm.train.bpe import extend_encoding, resolve_pattern, train_bpe
from toklm.train.files import load_encoding, save_encoding, save_tokenizer_json

__all__ = [
    "extend_encoding",
    "load_encoding",
    "resolve_pattern",
    "save_encoding",
    "save_tokenizer_json",
    "train_bpe",
    "train_bpe_balanced",
]
