"""Streamed text with stop strings (`toklm.serve.engine.TextState`): property tests."""

from __future__ import annotations

import pytest

from .conftest import require

require("fastapi")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ..conftest import shared_path  # noqa: E402


@pytest.fixture(scope="module")
def tok():
    from toklm.hf import Tokenizer

    return Tokenizer.from_pretrained(shared_path("tokenizers/gpt-neox-20b"))


def stream(tok, ids, stops):
    from toklm.serve.engine import TextState

    state = TextState(tok, stops)
    out = []
    for token in ids:
        text, stopped = state.push(token)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + state.finish(), False


# Ids from a small pool of ordinary, multi-byte and special tokens, so stops and splits occur.
POOL = [
    *range(200, 260), 15496, 1533, 13, 209, 50276, 0, 1, 50254, 8950, 22692, 16636, 14933, 5943,
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.sampled_from(POOL), max_size=40),
    stops=st.lists(st.text(alphabet="abcdefghij. \n", min_size=1, max_size=3), max_size=3),
)
def test_streamed_text_is_the_decoded_text_cut_at_the_first_stop(tok, ids, stops):
    got, stopped = stream(tok, ids, stops)
    full = tok.decode(ids, skip_special_tokens=True)
    hits = [full.find(s) for s in stops if s in full]
    if stopped:
        # cut at the earliest stop found once the text containing it had been decoded
        assert hits and got == full[: len(got)] and any(full.startswith(s, len(got)) for s in stops)
        assert not any(s in got for s in stops)
    else:
        assert not hits and got == full


def test_a_stop_string_split_over_tokens_is_caught(tok):
    ids = list(tok.encode("Hello world, we are here"))
    assert stream(tok, ids, ["ld, w"]) == ("Hello wor", True)
    assert stream(tok, ids, ["zzz"]) == ("Hello world, we are here", False)
