"""Saving and loading trained encodings (the file format is `toklm.encoding_files`): an
encoding as a `.tiktoken` file plus a JSON sidecar, or as a Hugging Face `tokenizer.json`.
"""

from __future__ import annotations

import json
import os

from toklm.encoding import Encoding
from toklm.encoding_files import (  # noqa: F401 (sidecar_path, write_atomic: old import path)
    read_encoding,
    save_encoding,
    sidecar_path,
    write_atomic,
)


def load_encoding(path: str | os.PathLike[str]) -> Encoding:
    """Load an encoding written by `Encoding.save` (the `.tiktoken` file and its JSON).

    >>> import tempfile, os, toklm
    >>> p = os.path.join(tempfile.mkdtemp(), "cl.tiktoken")
    >>> toklm.get_encoding("cl100k_base").save(p); load_encoding(p).n_vocab
    100277
    """
    return Encoding(**read_encoding(path))


def save_tokenizer_json(encoding: Encoding, path: str | os.PathLike[str]) -> None:
    """Write a `tokenizer.json` that Hugging Face `tokenizers` loads with the same ids.

    >>> import tempfile, os, toklm, tokenizers
    >>> p = os.path.join(tempfile.mkdtemp(), "tokenizer.json")
    >>> save_tokenizer_json(toklm.get_encoding("gpt2"), p)
    >>> tokenizers.Tokenizer.from_file(p).encode("hello world").ids
    [31373, 995]
    """
    from toklm.hf.convert import encoding_to_tokenizer_json

    data = encoding_to_tokenizer_json(encoding)
    write_atomic(path, json.dumps(data, ensure_ascii=False).encode("utf-8"))
