"""Streaming text in chunks: exact token counts at chunk boundaries, UTF-8 errors with locations."""

from __future__ import annotations

import pytest
import toklm
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.economics.measure import measure, splits_exactly
from toklm.economics.textio import DecodeReport, InputError, Source, find_token_boundary, iter_text

ENCODINGS = [toklm.get_encoding(n) for n in ("gpt2", "cl100k_base", "o200k_base")]

# Characters around which the three patterns behave differently: whitespace runs before
# newlines, "\r\n", o200k's "[\r\n/]*" after punctuation, contractions, digits, CJK, emoji,
# combining marks, Unicode spaces.
TRICKY = list("aZ0_ \n\r\t./'s-") + ["한", "🎉", "\u0301", "\u3000", "\xa0", "ß", "Ⅻ"]
PIECES = ["Hello", " world", "\n\n", "  \n", ".\n/", "a\n_", "x \ny", "it's\nme", "1\n2"]


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(st.sampled_from(TRICKY + PIECES), max_size=60).map("".join),
    block=st.integers(1, 16),
)
def test_chunked_count_equals_whole_count(text: str, block: int) -> None:
    """Cutting a text at `find_token_boundary` never changes its tokens, for every pattern."""
    pieces = list(iter_text(Source.from_text(text), block_bytes=block))
    assert "".join(pieces) == text
    result = measure([Source.from_text(text)], ENCODINGS, block_bytes=block)[0]
    assert [t.tokens for t in result.tallies] == [e.count_batch([text])[0] for e in ENCODINGS]


def test_boundaries_are_found_in_real_text() -> None:
    text = "Hello world\nSecond line here\n  indented\nlast"
    assert text[find_token_boundary(text) :] == "last"  # after a newline, before a word
    text = "Hello world\nSecond line here\n  "
    assert text[find_token_boundary(text) :] == " here\n  "  # between two words
    assert find_token_boundary("abc\n  \n\t\n   ") == -1  # only whitespace after the text
    assert find_token_boundary("x.\n/path") == -1  # o200k: ".\n/" is one piece


def test_utf8_split_across_blocks_is_reassembled() -> None:
    text = "안녕하세요 🎉 world\n" * 5
    for block in (1, 2, 3, 5):
        assert "".join(iter_text(Source.from_text(text), block_bytes=block)) == text


def test_lines_boundary_yields_whole_lines() -> None:
    text = "one\ntwo\nthree"
    pieces = list(iter_text(Source.from_text(text), boundary="line", block_bytes=5))
    assert "".join(pieces) == text
    assert all(p.endswith("\n") for p in pieces[:-1])


@pytest.mark.parametrize("block", [1, 4, 1 << 20])
def test_invalid_utf8_location_across_blocks(block: int) -> None:
    data = "줄 하나\n둘째 줄 ".encode() + b"\xe0\x80" + b" tail\n"
    offset = data.index(b"\xe0")
    column = offset - data.index(b"\n")
    source = Source("bad.txt", data=data)
    with pytest.raises(InputError) as e:
        list(iter_text(source, block_bytes=block))
    assert f"bad.txt: invalid UTF-8 at byte {offset} (line 2, column {column})" in str(e.value)
    report = DecodeReport()
    text = "".join(iter_text(source, errors="replace", block_bytes=block, report=report))
    assert "\ufffd" in text and text.endswith(" tail\n")
    assert report.replaced >= 1
    assert report.first_replaced == f"byte {offset} (line 2, column {column})"


def test_truncated_sequence_at_end_of_input() -> None:
    source = Source("cut.txt", data="끝".encode()[:2])
    with pytest.raises(InputError, match="byte 0 .line 1, column 1."):
        list(iter_text(source))


def test_binary_and_utf16_are_refused() -> None:
    with pytest.raises(InputError, match=r"binary data, not text \(NUL byte at byte 3"):
        list(iter_text(Source("x.bin", data=b"abc\x00def")))
    with pytest.raises(InputError, match="UTF-16"):
        list(iter_text(Source("u16.txt", data="hi".encode("utf-16"))))


def test_lone_surrogates_in_python_text_are_invalid_utf8() -> None:
    with pytest.raises(InputError, match="invalid UTF-8"):
        list(iter_text(Source.from_text("a\ud800b")))


def test_a_tokenizer_that_cannot_be_cut_is_read_whole() -> None:
    """An encoding whose pieces take the whitespace before a word ("\\nworld"), with a merge
    across it: cutting after "\\n" would change its tokens, so its files are not cut."""
    gpt2 = toklm.get_encoding("gpt2")
    joined = toklm.Encoding(
        "ws-joined",
        pat_str=r"\s*\S+|\s+",
        mergeable_ranks={**gpt2._mergeable_ranks, b"\nworld": gpt2.n_vocab},
        special_tokens={},
    )
    assert splits_exactly(gpt2) and not splits_exactly(joined)
    text = "Hello\nworld\n" * 2000
    assert joined.count_batch([text])[0] != sum(joined.count_batch(text.splitlines(True)))
    result = measure([Source.from_text(text)], [joined, gpt2], block_bytes=64)[0]
    assert [t.tokens for t in result.tallies] == [
        joined.count_batch([text])[0],
        gpt2.count_batch([text])[0],
    ]
