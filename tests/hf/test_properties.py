"""Property tests against `tokenizers`: random Unicode, whitespace runs, special tokens in text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NAMES = st.sampled_from(["neox", "gpt2"])

# Pieces that stress the pipeline: whitespace runs (Pythia has added tokens for runs of spaces),
# special tokens touching text, combining marks (NFC), contractions, digits, emoji, CJK.
PIECES = st.one_of(
    st.text(alphabet=" ", min_size=1, max_size=30),
    st.text(alphabet=" \t\n\r\u00a0\u3000\u2028", min_size=1, max_size=6),
    st.sampled_from(["<|endoftext|>", "<|padding|>", "<|endoftext", "|>", "'s", "'ll", "'VE"]),
    st.sampled_from(["e\u0301", "\u1100\u1161", "A\u030a", "\ufb01", "\u212b", "x\u0323\u0307"]),
    st.sampled_from(["Hello", "world", "안녕하세요", "日本語", "12345", "🎉👍🏽", "def f():"]),
    st.text(max_size=8),
)
TEXTS = st.one_of(st.text(max_size=120), st.lists(PIECES, max_size=14).map("".join))


@SETTINGS
@given(name=NAMES, text=TEXTS)
def test_ids_tokens_offsets_match_tokenizers(ours, ref, name, text):
    tok = ours[name]
    want = ref[name].encode(text)
    got = tok(text, return_offsets_mapping=True)
    assert got["input_ids"] == want.ids
    assert got["offset_mapping"] == want.offsets
    assert got["attention_mask"] == want.attention_mask
    assert tok.convert_ids_to_tokens(got["input_ids"]) == want.tokens
    assert tok.count(text) == len(want.ids)


@SETTINGS
@given(name=NAMES, ids=st.lists(st.integers(0, 50276), max_size=40), skip=st.booleans())
def test_decode_matches_tokenizers(ours, ref, name, ids, skip):
    tok = ours[name]
    ids = [i for i in ids if i < tok.n_vocab]
    assert tok.decode(ids, skip_special_tokens=skip) == ref[name].decode(
        ids, skip_special_tokens=skip
    )


@SETTINGS
@given(name=NAMES, text=TEXTS, data=st.data())
def test_stream_decoder_never_splits_a_character(ours, name, text, data):
    tok = ours[name]
    ids = tok.encode_ordinary(text)
    stream = tok.decode_stream()
    parts = [stream.step(i) for i in ids]
    parts.append(stream.flush())
    assert "".join(parts) == tok.decode(ids)
    # On valid text, every emitted part is whole characters of the text, in order.
    assert "\ufffd" not in "".join(parts) or "\ufffd" in tok.decode(ids)


@SETTINGS
@given(name=NAMES, texts=st.lists(TEXTS, max_size=6))
def test_batch_equals_single(ours, name, texts):
    tok = ours[name]
    assert tok.encode_ordinary_batch(texts) == [tok.encode_ordinary(t) for t in texts]
    assert tok.encode_ordinary_batch(texts, num_threads=1) == [
        tok.encode_ordinary(t) for t in texts
    ]
