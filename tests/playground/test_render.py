"""The one renderer: how tokens are drawn (pieces.py) and the HTML (render.py)."""

from __future__ import annotations

import pytest
import toklm
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.playground.pieces import cell, differing, shown_text, split_fragment, window
from toklm.playground.render import view_html
from toklm.playground.tokens import tokenize

from tests.cli.runner import KOREAN


def columns(text: str, names=("gpt2", "cl100k_base", "o200k_base")):
    return [tokenize(toklm.get_encoding(n), text, n) for n in names]


def test_html_is_escaped() -> None:
    text = '<script>alert("x")</script> & "q"'
    page, _ = view_html(columns(text), text.encode())
    assert "<script" not in page and "</script>" not in page
    assert "&lt;" in page and "&gt;" in page and "&amp;" in page


def test_whitespace_is_visible_and_line_breaks_stay() -> None:
    assert shown_text(" a\tb\r\n") == "·a→b␍↵\n"
    assert shown_text("\u3000\u00a0") == "␣⍽"


@pytest.mark.parametrize(
    ("piece", "shown"),
    [
        ("\u0301", "◌\u0301"),  # a combining acute accent on its own
        ("\ufe0f", "◌\ufe0f"),  # a variation selector
        ("\U0001f3fd", "◌\U0001f3fd"),  # a skin-tone modifier
        ("\u1161", "◌\u1161"),  # a Hangul vowel jamo (part of a syllable block)
        ("\u200d", "⟨ZWJ⟩"),
        ("\u0007", "⟨U+0007⟩"),
        ("e\u0301", "e\u0301"),  # a mark after its base stays as it is
    ],
)
def test_grapheme_aware_pieces(piece: str, shown: str) -> None:
    assert shown_text(piece) == shown


def test_fragments_show_bytes_and_the_character_they_belong_to() -> None:
    t = tokenize(toklm.get_encoding("gpt2"), KOREAN)
    c = cell(t, 0, KOREAN.encode())
    assert c.fragment and c.parts == [("ec", True)] and c.title.endswith("part of 안")
    assert split_fragment(b"\x95\x88 ok \xf0\x9f") == [
        ("95 88", True),
        ("·ok·", False),
        ("f0 9f", True),
    ]
    assert split_fragment(b"\xff") == [("ff", True)]


def test_differing_marks_only_spans_not_shared_by_all() -> None:
    cols = columns("hello world 안녕")
    marked = differing(cols, [(0, c.count) for c in cols])
    for c, diff in zip(cols, marked, strict=True):
        shared = {(c.starts[k], c.ends[k]) for k in range(c.count) if k not in diff}
        assert (0, 5) in shared and (5, 11) in shared  # "hello", " world": one token everywhere
    assert differing(cols[:1], [(0, cols[0].count)]) == [set()]


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200), st.integers(1, 30))
def test_windows_partition_every_column(text: str, size: int) -> None:
    cols = columns(text)
    seen = [[] for _ in cols]
    start = 0
    while True:
        w = window(cols, start, size)
        for k, (lo, hi) in enumerate(w.ranges):
            seen[k] += range(lo, hi)
        if w.done:
            break
        assert w.end > start
        start = w.end
    assert seen == [list(range(c.count)) for c in cols]


def test_a_long_view_says_what_is_not_drawn() -> None:
    text = KOREAN * 50
    page, w = view_html(columns(text), text.encode(), max_tokens=100, more_hint="More below.")
    assert not w.done and 'class="more"' in page and "More below." in page
    assert page.count('class="id') <= 3 * 100


def test_standalone_html_carries_its_style_and_script() -> None:
    page, _ = view_html(columns("hi"), b"hi", standalone=True)
    assert page.startswith("<style>") and "<script>" in page and "__toklmView" in page
