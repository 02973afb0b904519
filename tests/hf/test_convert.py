"""Encoding -> tokenizer.json (checked with `tokenizers`) and tokenizer.json -> Encoding."""

from __future__ import annotations

import re

import pytest
import toklm
from toklm.hf import Tokenizer
from toklm.hf.convert import encoding_to_tokenizer_json, tokenizer_to_encoding

from tests.conftest import shared_path

CHUNK_BOUNDARY = re.compile(r"(?<=[^\s]\n)(?=[^\s])")
SAMPLES = [
    "Hello world, we are Gmarket. 🎉",
    "안녕하세요, 우리는 Gmarket입니다.",
    "    def f(x):\n        return x  # 1234567 ==== ----\n\n\n",
    "<|endoftext|> and <|endoftext|>x",
    "today\n \n  \r\n\t 'S 'll I'M",
]


@pytest.fixture(scope="module", params=["gpt2", "cl100k_base"])
def exported(request, tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    enc = toklm.get_encoding(request.param)
    path = tmp_path_factory.mktemp("export") / "tokenizer.json"
    encoding_to_tokenizer_json(enc, path)
    return enc, tokenizers.Tokenizer.from_file(str(path)), path


def test_exported_json_encodes_like_the_encoding_in_tokenizers(exported):
    enc, ref, _ = exported
    text = "".join(
        shared_path(f"corpora/{c}").read_text("utf-8")[:120_000]
        for c in ("en.txt", "ko.txt", "code.txt")
    )
    chunks = CHUNK_BOUNDARY.split(text)
    got = [i for e in ref.encode_batch(chunks, add_special_tokens=False) for i in e.ids]
    assert got == enc.encode_ordinary(text)
    for sample in SAMPLES:
        assert ref.encode(sample, add_special_tokens=False).ids == enc.encode(
            sample, allowed_special="all"
        )
        assert ref.decode(enc.encode_ordinary(sample)) == sample


def test_exported_json_round_trips_through_toklm(exported):
    """Loaded by toklm's Tokenizer and opened back as an Encoding, it still encodes the same."""
    enc, _, path = exported
    tok = Tokenizer.from_file(path)
    back = tokenizer_to_encoding(tok)
    for sample in SAMPLES:
        want = enc.encode(sample, allowed_special="all")
        assert tok.encode(sample) == want
        assert back.encode(sample, allowed_special="all") == want


def test_gpt2_tokenizer_opens_as_the_gpt2_encoding(ours):
    enc = tokenizer_to_encoding(ours["gpt2"], name="gpt2-from-hf")
    reference = toklm.get_encoding("gpt2")
    text = shared_path("corpora/en.txt").read_text("utf-8")[:200_000]
    assert enc.encode_ordinary(text) == reference.encode_ordinary(text)
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert enc.n_vocab == 50257 and enc.name == "gpt2-from-hf"


def test_neox_cannot_open_as_an_encoding_and_says_why(ours):
    with pytest.raises(ValueError, match="normalizer \\(NFC\\) changes the text"):
        tokenizer_to_encoding(ours["neox"])
