"""The transformers-shaped API and the protocol shared with `toklm.Encoding`."""

from __future__ import annotations

import numpy as np
import pytest
import toklm
from toklm.hf import Tokenizer

KO = "안녕하세요, 우리는 Gmarket입니다. 🎉"


def test_exported_from_toklm():
    assert toklm.Tokenizer is Tokenizer


def test_encoding_protocol(ours):
    tok = ours["gpt2"]
    enc = toklm.get_encoding("gpt2")
    text = "Hello world <|endoftext|> " + KO
    assert tok.encode_ordinary(text) == enc.encode(text, allowed_special="all")
    assert tok.encode_ordinary_batch([text, "x"]) == [tok.encode_ordinary(text), [87]]
    assert tok.count(text) == len(tok.encode_ordinary(text))
    assert tok.n_vocab == enc.n_vocab == 50257
    assert tok.decode_single_token_bytes(995) == b" world"
    assert tok.decode_bytes(tok.encode_ordinary(KO)) == KO.encode()
    assert tok.name.endswith("gpt2")


def test_decode_accepts_arrays_and_batches(ours, transformers_ref):
    tok, theirs = ours["neox"], transformers_ref["neox"]
    ids = tok.encode(KO)
    torch = pytest.importorskip("torch")
    for value in (np.array(ids), torch.tensor(ids), ids[0], [ids, ids[:3]], np.array([ids, ids])):
        assert tok.decode(value) == theirs.decode(value)
    assert tok.batch_decode([ids, ids[:2]]) == theirs.batch_decode([ids, ids[:2]])
    assert tok.convert_ids_to_tokens(ids[0]) == theirs.convert_ids_to_tokens(ids[0])


def test_stream_decoder_holds_back_split_characters(ours):
    tok = ours["gpt2"]
    ids = tok.encode_ordinary("🎉é")  # 🎉 is three byte-level tokens
    stream = tok.decode_stream()
    parts = [stream.step(i) for i in ids]
    assert parts[: len(ids) - 2] == [""] * (len(ids) - 2)
    assert "".join(parts) + stream.flush() == "🎉é"
    assert all("\ufffd" not in p for p in parts)
    # An incomplete character at the end comes out as U+FFFD on flush, as decode gives it.
    stream = tok.decode_stream()
    assert [stream.step(i) for i in ids[:1]] == [""] and stream.flush() == tok.decode(ids[:1])


def test_special_tokens_can_be_set_and_added(gpt2_dir, transformers_ref):
    import transformers

    tok = Tokenizer.from_pretrained(gpt2_dir)
    theirs = transformers.GPT2Tokenizer.from_pretrained(str(gpt2_dir))
    for t in (tok, theirs):
        t.pad_token = t.eos_token
        t.add_special_tokens({"pad_token": "<pad>"})
        t.add_tokens(["hello world", "<new>"])
    assert (tok.pad_token, tok.pad_token_id) == (theirs.pad_token, theirs.pad_token_id)
    assert len(tok) == len(theirs)
    text = "say hello world<new> and <pad>"
    assert tok(text)["input_ids"] == theirs(text)["input_ids"]
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == theirs.decode(
        theirs.encode(text), skip_special_tokens=True
    )


def test_cleanup_is_ignored_for_bpe_with_a_warning(ours, transformers_ref):
    tok, theirs = ours["gpt2"], transformers_ref["gpt2"]
    ids = tok.encode("Hello , world !")
    with pytest.warns(UserWarning, match="ignored for BPE"):
        got = Tokenizer.decode(tok, ids, clean_up_tokenization_spaces=True)
    assert got == theirs.decode(ids, clean_up_tokenization_spaces=True) == "Hello , world !"


def test_surrogates_are_a_clear_error(ours):
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        ours["neox"].encode("a\ud800b")


def test_pickles_for_data_loader_workers(ours):
    import pickle

    for name in ("neox", "gpt2", "neox_class"):
        tok = ours[name]
        back = pickle.loads(pickle.dumps(tok))
        assert type(back) is type(tok) and back.name == tok.name
        assert back(KO, return_offsets_mapping=True) == tok(KO, return_offsets_mapping=True)
        assert (len(back), back.pad_token) == (len(tok), tok.pad_token)
