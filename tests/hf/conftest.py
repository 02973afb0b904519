"""Fixtures for the Hugging Face tests: toklm tokenizers and the reference libraries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import shared_path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def corpus_files() -> list[str]:
    """Every text file under ../shared/corpora, relative to it; when it is absent, one name that
    does not exist, so that the tests run and `shared_path` skips them (fails them on CI)."""
    from tests.conftest import SHARED

    root = SHARED / "corpora"
    if not root.is_dir():
        return ["missing.txt"]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.txt"))


@pytest.fixture(scope="session")
def neox_dir() -> Path:
    return shared_path("tokenizers/gpt-neox-20b")


@pytest.fixture(scope="session")
def gpt2_dir() -> Path:
    return shared_path("tokenizers/gpt2")


@pytest.fixture(scope="session")
def ours(neox_dir, gpt2_dir):
    """name -> toklm Tokenizer, loaded as AutoTokenizer would (gpt2: GPT2Tokenizer), and
    neox_class as GPTNeoXTokenizerFast."""
    from toklm.hf import GPTNeoXTokenizerFast, Tokenizer

    return {
        "neox": Tokenizer.from_pretrained(neox_dir),
        "gpt2": Tokenizer.from_pretrained(gpt2_dir),
        "neox_class": GPTNeoXTokenizerFast.from_pretrained(neox_dir),
    }


@pytest.fixture(scope="session")
def ref(neox_dir, gpt2_dir):
    """name -> `tokenizers.Tokenizer` built as transformers builds them."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, pre_tokenizers
    from tokenizers.models import BPE

    gpt2 = tokenizers.Tokenizer(
        BPE.from_file(str(gpt2_dir / "vocab.json"), str(gpt2_dir / "merges.txt"))
    )
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.add_special_tokens([tokenizers.AddedToken("<|endoftext|>", special=True)])
    neox = tokenizers.Tokenizer.from_file(str(neox_dir / "tokenizer.json"))
    return {"neox": neox, "gpt2": gpt2}


@pytest.fixture(scope="session")
def transformers_ref(neox_dir, gpt2_dir):
    """name -> transformers tokenizer: AutoTokenizer (neox), GPT2Tokenizer (gpt2), and the
    class-specific GPTNeoXTokenizer (neox_class)."""
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    return {
        "neox": transformers.AutoTokenizer.from_pretrained(str(neox_dir)),
        "gpt2": transformers.GPT2Tokenizer.from_pretrained(str(gpt2_dir)),
        "neox_class": transformers.GPTNeoXTokenizerFast.from_pretrained(str(neox_dir)),
    }
