"""Exactness against `tokenizers` 0.23 and transformers 5 on the shared tokenizers and corpora."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.hf.conftest import corpus_files

TEXT = "Hello world, we are Gmarket."
NAMES = ["neox", "gpt2"]
# Piece boundaries that hold whatever surrounds them: a lone "\n" between two non-spaces.
CHUNK_BOUNDARY = re.compile(r"(?<=[^\s]\n)(?=[^\s])")


def test_issue_examples(ours):
    neox = ours["neox"](TEXT)
    assert neox["input_ids"] == [12092, 1533, 13, 359, 403, 443, 16532, 15]
    assert neox["attention_mask"] == [1] * 8
    gpt2 = ours["gpt2"](TEXT)
    assert gpt2["input_ids"] == [15496, 995, 11, 356, 389, 402, 10728, 13]
    assert ours["gpt2"].convert_ids_to_tokens(gpt2["input_ids"]) == [
        "Hello", "Ġworld", ",", "Ġwe", "Ġare", "ĠG", "market", ".",
    ]  # fmt: skip
    assert ours["gpt2"].tokenize(TEXT) == ours["gpt2"].convert_ids_to_tokens(gpt2["input_ids"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("corpus", corpus_files())
def test_corpus_ids_in_full(ours, ref, name, corpus):
    """Every corpus file, whole, gives the ids `tokenizers` gives (run in chunks on both cores)."""
    text = shared_path(f"corpora/{corpus}").read_text(encoding="utf-8")
    chunks = CHUNK_BOUNDARY.split(text)
    expected = [i for e in ref[name].encode_batch(chunks, add_special_tokens=False) for i in e.ids]
    assert ours[name].encode_ordinary(text) == expected
    assert ours[name].count(text) == len(expected)


def sample_lines(corpus: str, n: int) -> list[str]:
    lines = shared_path(f"corpora/{corpus}").read_text(encoding="utf-8").split("\n")
    step = max(1, len(lines) // n)
    return [line for line in lines[::step] if line][:n]


@pytest.fixture(scope="module")
def lines():
    """Evenly spaced lines: 24 of each monolingual corpus, 4 of each parallel-text file."""
    files = corpus_files()
    return [ln for f in files for ln in sample_lines(f, 4 if f.startswith("parallel") else 24)]


@pytest.mark.parametrize("name", ["neox", "gpt2", "neox_class"])
def test_corpus_lines_like_transformers(ours, transformers_ref, lines, name):
    """Sampled lines: ids, attention masks, offsets, tokens and decodes as transformers gives."""
    tok, theirs = ours[name], transformers_ref[name]
    got = tok(lines, return_offsets_mapping=True)
    want = theirs(lines, return_offsets_mapping=True)
    assert dict(got) == {k: [list(map(tuple, o)) if k == "offset_mapping" else o for o in v]
                         for k, v in want.items()}  # fmt: skip
    for line, ids in zip(lines, got["input_ids"], strict=True):
        assert tok.tokenize(line) == theirs.tokenize(line), line
        assert tok.decode(ids) == theirs.decode(ids), line
        assert tok.decode(ids, skip_special_tokens=True) == theirs.decode(
            ids, skip_special_tokens=True
        )


@pytest.fixture(scope="module")
def padded(neox_dir, gpt2_dir):
    """name -> (ours, transformers') with a pad token set (neither shared tokenizer has one)."""
    import transformers
    from toklm.hf import Tokenizer

    pairs = {
        "neox": (
            Tokenizer.from_pretrained(neox_dir),
            transformers.AutoTokenizer.from_pretrained(neox_dir),
        ),
        "gpt2": (
            Tokenizer.from_pretrained(gpt2_dir),
            transformers.GPT2Tokenizer.from_pretrained(gpt2_dir),
        ),
    }
    for tok, theirs in pairs.values():
        tok.pad_token = theirs.pad_token = "<|endoftext|>"
    return pairs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": True},
        {"padding": True, "padding_side": "left"},
        {"padding": "max_length", "max_length": 12},
        {"padding": True, "pad_to_multiple_of": 8},
        {"truncation": True, "max_length": 3},
        {"max_length": 4},
        {"padding": True, "truncation": True, "max_length": 5, "return_tensors": "np"},
        {"padding": "longest", "return_tensors": "pt", "return_attention_mask": False},
        {"padding": True, "return_offsets_mapping": True, "return_special_tokens_mask": True},
        {"add_special_tokens": False, "return_length": True},
    ],
)
def test_padding_truncation_tensors(padded, name, kwargs):
    tok, theirs = padded[name]
    batch = ["Hello world", "a", "Ünïcödé  text, with   spaces and\nnewlines", "<|endoftext|> x"]
    got, want = tok(batch, **kwargs), theirs(batch, **kwargs)
    assert got.keys() == want.keys()
    for key in got:
        g, w = got[key], want[key]
        if kwargs.get("return_tensors") == "pt":
            assert g.dtype == w.dtype and g.tolist() == w.tolist()
        elif kwargs.get("return_tensors") == "np":
            assert g.dtype == w.dtype and np.array_equal(g, w)
        else:
            assert [list(map(tuple, r)) if key == "offset_mapping" else r for r in w] == g
    single = tok("Hello world", return_tensors="np", **{k: v for k, v in kwargs.items()
                                                        if k != "return_tensors"})  # fmt: skip
    assert single["input_ids"].shape[0] == 1


@pytest.mark.parametrize("name", NAMES)
def test_specials_and_sizes_like_transformers(ours, transformers_ref, name):
    tok, theirs = ours[name], transformers_ref[name]
    for attr in ("bos_token", "eos_token", "unk_token", "pad_token", "bos_token_id",
                 "eos_token_id", "unk_token_id", "pad_token_id", "vocab_size", "padding_side",
                 "all_special_tokens", "all_special_ids", "special_tokens_map"):  # fmt: skip
        assert getattr(tok, attr) == getattr(theirs, attr), attr
    assert len(tok) == len(theirs)
    assert tok.get_vocab() == theirs.get_vocab()
    ids = [0, 1, 2, 50256, 50276, 15496, 10, 300]
    assert tok.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
    assert tok.convert_ids_to_tokens(ids, skip_special_tokens=True) == theirs.convert_ids_to_tokens(
        ids, skip_special_tokens=True
    )
    tokens = ["Hello", "Ġworld", "<|endoftext|>", "not-a-token-at-all"]
    assert tok.convert_tokens_to_ids(tokens) == theirs.convert_tokens_to_ids(tokens)
    assert tok.batch_decode([[15496, 995], [0, 1]]) == theirs.batch_decode([[15496, 995], [0, 1]])
    assert (
        tok.encode(TEXT, return_tensors="pt").tolist()
        == theirs.encode(TEXT, return_tensors="pt").tolist()
    )
