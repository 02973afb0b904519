"""Streaming text pieces: never inside a character, and together equal to the full decode."""

from __future__ import annotations

import pytest
from toklm.models import AutoModelForCausalLM
from toklm.models.generation import TextPieces

from ..conftest import shared_path
from .conftest import neox_config, save_hf

tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def neox_tokenizer():
    path = shared_path("tokenizers/gpt-neox-20b/tokenizer.json")
    return tokenizers.Tokenizer.from_file(str(path))


def test_pieces_never_split_a_character(neox_tokenizer):
    text = "naïve café — 日本語 🙂🙂 ok\nline two: ünïcödé 𝄞 end"
    ids = neox_tokenizer.encode(text).ids
    pieces = TextPieces(neox_tokenizer, skip_special_tokens=True)
    out = [pieces.push(t) for t in ids]
    out.append(pieces.flush())
    assert "" in out[:-1]  # some token ended mid-character and was held back
    assert not any("\ufffd" in p for p in out)
    assert "".join(out) == neox_tokenizer.decode(ids) == text


def test_stream_equals_decoded_generate(tmp_path, neox_tokenizer):
    save_hf(neox_config(vocab_size=300, initializer_range=0.1), tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    prompt = [72, 101, 108, 108, 111]  # byte-level single-byte tokens, inside the tiny vocab
    kw = dict(max_new_tokens=30, do_sample=True, seed=9, eos_token_id=[])
    pieces = list(model.stream(prompt, tokenizer=neox_tokenizer, **kw))
    ids = model.generate([prompt], **kw)[0, len(prompt) :].tolist()
    assert "".join(pieces) == neox_tokenizer.decode(ids, skip_special_tokens=True)
    assert len(pieces) > 1
    with pytest.raises(ValueError, match="one sequence"):
        next(model.stream(prompt, tokenizer=neox_tokenizer, num_return_sequences=2, **kw))
