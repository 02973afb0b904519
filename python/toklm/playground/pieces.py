"""How each token is drawn, for the HTML (page, notebook) and the terminal views alike.

* whitespace is visible: ``·`` for a space, ``↵`` before a line break, ``→`` for a tab;
* a token that is only part of a UTF-8 character (Korean under gpt2) is drawn as its bytes;
* grapheme-aware: a token that starts with a mark that joins the character before it (a
  combining mark, a variation selector, ZWJ, a skin-tone modifier, a Hangul vowel or final
  jamo) gets a dotted circle ``◌`` as its base, so it is not drawn fused into its neighbour;
  invisible format and control characters are named (``⟨ZWJ⟩``, ``⟨U+0007⟩``);
* spans that the tokenizers split differently are marked (`differing`).
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from toklm.playground.tokens import Tokenized

__all__ = ["Cell", "Window", "cell", "differing", "shown_text", "split_fragment", "window"]

WHITESPACE = {" ": "·", "\n": "↵\n", "\t": "→", "\r": "␍", "\u00a0": "⍽", "\u3000": "␣"}
NAMED = {"\u200d": "⟨ZWJ⟩", "\u200c": "⟨ZWNJ⟩", "\ufeff": "⟨BOM⟩", "\u200b": "⟨ZWSP⟩"}
DOTTED_CIRCLE = "◌"


def _joins_previous(ch: str) -> bool:
    """Whether `ch` is drawn as part of the character before it."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch == "\u200d"
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0x1160 <= cp <= 0x11FF
        or 0xE0020 <= cp <= 0xE007F
    )


def shown_text(piece: str) -> str:
    """A whole-character token as drawn: whitespace glyphs, named invisibles, a base for a
    leading joining mark.

    >>> shown_text(" 우리는"), shown_text("a\\tb\\n"), shown_text("\\u0301"), shown_text("\\u200d")
    ('·우리는', 'a→b↵\\n', '◌́', '⟨ZWJ⟩')
    """
    out = [DOTTED_CIRCLE] if piece and _joins_previous(piece[0]) and piece[0] != "\u200d" else []
    for ch in piece:
        glyph = WHITESPACE.get(ch) or NAMED.get(ch)
        if glyph is None and unicodedata.category(ch) in ("Cc", "Cf"):
            glyph = f"⟨U+{ord(ch):04X}⟩"
        out.append(glyph or ch)
    return "".join(out)


def _seq_len(lead: int) -> int:
    return 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def split_fragment(data: bytes) -> list[tuple[str, bool]]:
    """A token that is not valid UTF-8 as parts: (text, False) for whole characters, (hex bytes,
    True) for the parts of characters at either end (or all of it, when the middle is invalid).

    >>> split_fragment(" 🎉".encode()[:3]), split_fragment("안".encode()[1:])
    ([('·', False), ('f0 9f', True)], [('95 88', True)])
    """
    lo = 0
    while lo < min(3, len(data)) and 0x80 <= data[lo] < 0xC0:
        lo += 1
    hi = len(data)
    for p in range(len(data) - 1, max(lo, len(data) - 4) - 1, -1):
        if data[p] >= 0xC0:
            if len(data) - p < _seq_len(data[p]):
                hi = p
            break
    try:
        middle = data[lo:hi].decode("utf-8")
    except UnicodeDecodeError:
        return [(data.hex(" "), True)]
    parts = [(data[:lo].hex(" "), True), (shown_text(middle), False), (data[hi:].hex(" "), True)]
    return [p for p in parts if p[0]]


@dataclass(frozen=True)
class Cell:
    """One token as drawn: its parts ((text, is_bytes) pairs: bytes are shown for parts of a
    character), whether it is only part of a character (`fragment`), whether the other
    tokenizers split its span differently (`differs`), and a one-line description."""

    index: int
    id: int
    parts: list[tuple[str, bool]]
    fragment: bool
    differs: bool
    title: str
    start: int = 0  # UTF-8 byte offsets of the token in the text
    end: int = 0

    @property
    def text(self) -> str:
        return " ".join(p for p, _ in self.parts)


def _whole_chars(data: bytes, start: int, end: int) -> str:
    """The characters that bytes [start, end) of `data` belong to."""
    while start > 0 and 0x80 <= data[start] < 0xC0:
        start -= 1
    while end < len(data) and 0x80 <= data[end] < 0xC0:
        end += 1
    return data[start:end].decode("utf-8", "replace")


def cell(t: Tokenized, k: int, data: bytes, differs: bool = False) -> Cell:
    """How token `k` of `t` is drawn; `data` is the UTF-8 text it was encoded from.

    >>> import toklm; from toklm.playground.tokens import tokenize
    >>> t = tokenize(toklm.get_encoding("gpt2"), "안 🎉")
    >>> [cell(t, k, "안 🎉".encode()).text for k in range(t.count)]
    ['ec', '95', '88', '· f0 9f', '8e', '89']
    >>> cell(t, 0, "안 🎉".encode()).title
    'token 0 · id 168 · bytes 0–1 · part of 안'
    """
    token_id, piece, start, end = t.ids[k], t.piece(k), t.starts[k], t.ends[k]
    where = f"token {k} · id {token_id} · bytes {start}–{end}"
    if t.fragment(k):
        part = _whole_chars(data, start, end) if end > start else ""
        title = f"{where} · part of {part}" if part else where
        return Cell(k, token_id, split_fragment(piece), True, differs, title, start, end)
    parts = [(shown_text(piece.decode("utf-8")), False)]
    return Cell(k, token_id, parts, False, differs, where, start, end)


@dataclass(frozen=True)
class Window:
    """Tokens drawn together: for each tokenizer, the tokens [lo, hi) that start in bytes
    [start, end) of the text; `done` when the window reaches the end of the text."""

    start: int
    end: int
    ranges: list[tuple[int, int]]
    done: bool


def window(columns: Sequence[Tokenized], start: int, max_tokens: int | None) -> Window:
    """The next window from byte `start`: as long as no tokenizer draws more than `max_tokens`
    (None: no limit). Every tokenizer shows the same stretch of text.

    >>> import toklm; from toklm.playground.tokens import tokenize
    >>> text = "hello world, again"
    >>> cols = [tokenize(toklm.get_encoding(n), text) for n in ("gpt2", "o200k_base")]
    >>> w = window(cols, 0, 2); (w.start, w.end, w.ranges, w.done)
    (0, 11, [(0, 2), (0, 2)], False)
    """
    total = max((c.text_bytes for c in columns), default=0)
    end = total
    if max_tokens is not None:
        for c in columns:
            lo = bisect.bisect_left(c.starts, start)
            if lo + max_tokens < c.count:
                end = min(end, c.starts[lo + max_tokens])
        if end <= start:  # many tokens at one offset: take the next offset instead
            later = [c.starts[i] for c in columns for i in (bisect.bisect_right(c.starts, start),)
                     if i < c.count]  # fmt: skip
            end = min(later, default=total)
    ranges = [
        (bisect.bisect_left(c.starts, start), bisect.bisect_left(c.starts, end)) for c in columns
    ]
    if end >= total:
        ranges = [(lo, c.count) for (lo, _), c in zip(ranges, columns, strict=True)]
    return Window(start, end, ranges, end >= total)


def differing(columns: Sequence[Tokenized], ranges: Sequence[tuple[int, int]]) -> list[set[int]]:
    """For each tokenizer, the token indices (within `ranges`) whose [start, end) span is not a
    single token in every other tokenizer. Nothing differs with a single tokenizer.

    >>> import toklm; from toklm.playground.tokens import tokenize
    >>> cols = [tokenize(toklm.get_encoding(n), "안녕 hi") for n in ("cl100k_base", "o200k_base")]
    >>> differing(cols, [(0, c.count) for c in cols])
    [{0, 1, 2, 3}, {0, 1}]
    """
    if len(columns) < 2:
        return [set() for _ in columns]
    spans = [
        {(c.starts[k], c.ends[k]) for k in range(lo, hi)}
        for c, (lo, hi) in zip(columns, ranges, strict=True)
    ]
    common = set.intersection(*spans)
    return [
        {k for k in range(lo, hi) if (c.starts[k], c.ends[k]) not in common}
        for c, (lo, hi) in zip(columns, ranges, strict=True)
    ]
