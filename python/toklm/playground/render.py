"""The token view as HTML: one renderer for the playground page and for notebooks (`toklm.show`).

The page asks the server for this HTML (`POST /api/view`) and only inserts it; a notebook gets
the same HTML with the stylesheet and the hover script inlined. Long texts are drawn in windows
(`pieces.window`): the page fetches the next window as the reader scrolls, a notebook says how
many tokens it left out.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass

from toklm.playground.pieces import Cell, Window, cell, differing, window
from toklm.playground.tokens import Tokenized

__all__ = ["ColumnParts", "asset", "render_window", "view_html"]

N_COLOURS = 8


@functools.cache
def asset(name: str) -> str:
    """The text of a file shipped in toklm/playground/static (the page's CSS and scripts)."""
    ref = importlib.resources.files("toklm.playground").joinpath("static", name)
    return ref.read_text(encoding="utf-8")


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def cell_html(c: Cell) -> str:
    """One token: a coloured span; parts of characters as <b>hex bytes</b>; its byte offsets in
    data-s and data-e (to light the same text in the other columns).

    >>> from toklm.playground.pieces import Cell
    >>> html = cell_html(Cell(3, 168, [("ec 95", True)], True, False, "token 3 · id 168", 0, 2))
    >>> html.split(" title=")[0], html.split(">", 1)[1]
    ('<span class="t c3 f" data-i="3" data-s="0" data-e="2"', '<b>ec 95</b></span>')
    """
    cls = f"t c{c.index % N_COLOURS}" + (" f" if c.fragment else "") + (" d" if c.differs else "")
    inner = "".join(f"<b>{_esc(p)}</b>" if is_bytes else _esc(p) for p, is_bytes in c.parts)
    return (
        f'<span class="{cls}" data-i="{c.index}" data-s="{c.start}" data-e="{c.end}" '
        f'title="{_attr(c.title)}">{inner}</span>'
    )


def ids_html(cells: Sequence[Cell]) -> str:
    """The ids pane's items, each tied to its token by `data-i`."""
    return " ".join(
        f'<span class="{"id d" if c.differs else "id"}" data-i="{c.index}">{c.id}</span>'
        for c in cells
    )


def header_html(t: Tokenized) -> str:
    """A column's heading: name, count (also in `data-count`), characters and bytes per token."""
    s = t.stats()
    cpt = "–" if s["chars_per_token"] is None else f"{s['chars_per_token']:.2f}"
    bpt = "–" if s["bytes_per_token"] is None else f"{s['bytes_per_token']:.2f}"
    vocab = f" · vocab {t.n_vocab:,}" if t.n_vocab else ""
    return (
        f'<header><span class="name" title="{_attr(t.spec)}">{_esc(t.name)}</span> '
        f'<span class="count" data-count="{t.count}">{t.count:,} tokens</span>'
        f'<span class="stat">{cpt} chars/token · {bpt} bytes/token · '
        f"{s['byte_fragments']:,} byte pieces{vocab}</span></header>"
    )


@dataclass(frozen=True)
class ColumnParts:
    """One tokenizer's share of a window: the token spans and the ids, as HTML."""

    pieces: str
    ids: str


def render_window(
    columns: Sequence[Tokenized], data: bytes, start: int, max_tokens: int | None
) -> tuple[Window, list[ColumnParts]]:
    """The tokens of every column that start in the next window from byte `start`."""
    w = window(columns, start, max_tokens)
    marked = differing(columns, w.ranges)
    parts = []
    for t, (lo, hi), diff in zip(columns, w.ranges, marked, strict=True):
        cells = [cell(t, k, data, k in diff) for k in range(lo, hi)]
        parts.append(ColumnParts("".join(map(cell_html, cells)), ids_html(cells)))
    return w, parts


def _more_html(columns: Sequence[Tokenized], w: Window, hint: str) -> str:
    if w.done:
        return ""
    left = ", ".join(
        f"{t.count - hi:,} of {t.name}" for t, (_, hi) in zip(columns, w.ranges, strict=True)
    )
    return (
        f'<p class="more" data-next="{w.end}">Drawn up to byte {w.end:,} of '
        f"{columns[0].text_bytes:,}; not drawn yet: {left} tokens. {_esc(hint)}</p>"
    )


def view_html(
    columns: Sequence[Tokenized],
    data: bytes,
    *,
    max_tokens: int | None = None,
    more_hint: str = "",
    standalone: bool = False,
) -> tuple[str, Window]:
    """The side-by-side view of the first window; `standalone` inlines the stylesheet and the
    hover script (for a notebook, where the page's files are not loaded).

    >>> import toklm; from toklm.playground.tokens import tokenize
    >>> cols = [tokenize(toklm.get_encoding("gpt2"), "hi 🎉")]
    >>> page, w = view_html(cols, "hi 🎉".encode())
    >>> 'data-count="4"' in page, w.done
    (True, True)
    """
    w, parts = render_window(columns, data, 0, max_tokens)
    sections = "".join(
        f'<section class="tk" data-k="{k}" data-spec="{_attr(t.spec)}">{header_html(t)}'
        f'<div class="pieces">{p.pieces}</div><div class="ids">{p.ids}</div>'
        f'<div class="hover" aria-live="polite"></div></section>'
        for k, (t, p) in enumerate(zip(columns, parts, strict=True))
    )
    legend = (
        '<p class="legend"><span class="t c0">token</span> coloured in turn · '
        '<span class="t c1 f"><b>ec 95</b></span> bytes of part of a character · '
        '<span class="t c2 d">span</span> split differently by another tokenizer · '
        "‘·’ space, ‘↵’ line break, ‘→’ tab</p>"
        if len(columns) > 1
        else '<p class="legend"><span class="t c1 f"><b>ec 95</b></span> bytes of part of a '
        "character · ‘·’ space, ‘↵’ line break, ‘→’ tab</p>"
    )
    body = (
        f'<div class="toklm-view"><div class="cols" style="--n:{len(columns)}">{sections}</div>'
        f"{_more_html(columns, w, more_hint)}{legend}</div>"
    )
    if standalone:
        body = f"<style>{asset('view.css')}</style>{body}<script>{asset('view.js')}</script>"
    return body, w
