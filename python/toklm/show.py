"""`toklm.show(text, tokenizers=[...])`: the playground's token view in a notebook or a terminal.

The object it returns draws itself as HTML in Jupyter (`_repr_html_`, the playground's own
renderer), in colour through rich (`rich.print(view)`, or `print(view)` in a terminal), and as
plain text elsewhere.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["TokenView", "show"]

# Token backgrounds in a terminal: the dark palette of the page (view.css), with light text.
_TERMINAL_BG = ("#5a3a1e", "#1d3f5e", "#27482a", "#4d2a4a", "#4a4318", "#1f4a45", "#3b3366",
                "#5c2b2b")  # fmt: skip
_TERMINAL_FG = "#e6edf3"
_BYTES_FG = "#ffd479"


class TokenView:
    """How each tokenizer splits one text; made by `show`."""

    def __init__(self, text: str, columns: list[Any], max_tokens: int | None) -> None:
        self.text = text
        self.columns = columns  # toklm.playground.tokens.Tokenized, one per tokenizer
        self.max_tokens = max_tokens
        self._data = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()

    @property
    def counts(self) -> dict[str, int]:
        """Tokens per tokenizer.

        >>> show("hi 🎉", tokenizers=["gpt2", "o200k_base"]).counts
        {'gpt2': 4, 'o200k_base': 3}
        """
        return {t.name: t.count for t in self.columns}

    def _cells(self) -> list[tuple[Any, list[Any], int]]:
        """Per column: (Tokenized, its drawn cells, how many tokens were left out)."""
        from toklm.playground.pieces import cell, differing, window

        w = window(self.columns, 0, self.max_tokens)
        marked = differing(self.columns, w.ranges)
        return [
            (t, [cell(t, k, self._data, k in diff) for k in range(lo, hi)], t.count - hi)
            for t, (lo, hi), diff in zip(self.columns, w.ranges, marked, strict=True)
        ]

    def _repr_html_(self) -> str:
        from toklm.playground.render import view_html

        page, _ = view_html(
            self.columns,
            self._data,
            max_tokens=self.max_tokens,
            more_hint="Pass max_tokens=None to toklm.show to draw them all.",
            standalone=True,
        )
        return page

    def _heading(self, t: Any) -> str:
        s = t.stats()
        if not t.count:
            return f"{t.name}: 0 tokens"
        return (
            f"{t.name}: {t.count:,} tokens, {s['chars_per_token']:.2f} chars/token, "
            f"{s['bytes_per_token']:.2f} bytes/token"
        )

    def plain(self) -> str:
        """The view as plain text: tokens between |, parts of characters as [hex bytes].

        >>> print(show("hi 🎉", tokenizers=["gpt2"]).plain())
        gpt2: 4 tokens, 1.00 chars/token, 1.75 bytes/token
          hi|·[f0 9f]|[8e]|[89]
        """
        lines = []
        for t, cells, left in self._cells():
            lines.append(self._heading(t))
            shown = "|".join(
                "".join(f"[{p}]" if is_bytes else p for p, is_bytes in c.parts) for c in cells
            )
            more = f" … {left:,} more tokens" if left else ""
            lines.append("  " + shown.replace("\n", "\n  ") + more)
        return "\n".join(lines)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """Coloured tokens; without colour (output to a file or a pipe), `plain()`."""
        from rich.text import Text

        if console.color_system is None:
            yield Text(self.plain())
            return
        for t, cells, left in self._cells():
            yield Text(self._heading(t), style="bold")
            line = Text("  ")
            for c in cells:
                bg = _TERMINAL_BG[c.index % len(_TERMINAL_BG)]
                underline = " underline" if c.differs else ""
                for p, is_bytes in c.parts:
                    fg = _BYTES_FG if is_bytes else _TERMINAL_FG
                    line.append(f"{p}", style=f"{fg} on {bg}{underline}")
            if left:
                line.append(f" … {left:,} more tokens", style="dim")
            yield line

    def __str__(self) -> str:
        """In a terminal with rich installed: coloured; otherwise `plain()`."""
        if not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()):
            return self.plain()
        try:
            from rich.console import Console
        except ImportError:
            return self.plain()
        buf = io.StringIO()
        Console(file=buf, force_terminal=True, highlight=False).print(self)
        return buf.getvalue().rstrip("\n")

    __repr__ = __str__


def show(
    text: str, tokenizers: Sequence[Any] | None = None, *, max_tokens: int | None = 2000
) -> TokenView:
    """A coloured side-by-side view of how `tokenizers` split `text`: HTML in a notebook, rich
    in a terminal. `tokenizers`: names (encoding, model, ``hf:REPO_OR_PATH``) or objects; by
    default gpt2, cl100k_base and o200k_base. At most `max_tokens` tokens per tokenizer are
    drawn (the view says how many are left; None: all); counts are always of the whole text.

    >>> print(show("안녕하세요, 우리는 Gmarket입니다. 🎉").plain().splitlines()[4])
    o200k_base: 10 tokens, 2.40 chars/token, 4.90 bytes/token
    """
    from toklm.economics.compare import DEFAULT_TOKENIZERS, resolve
    from toklm.playground.catalog import display_name
    from toklm.playground.tokens import label_of, tokenize

    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(tokenizers, str):
        tokenizers = [tokenizers]
    specs = list(tokenizers) if tokenizers is not None else list(DEFAULT_TOKENIZERS)
    toks = resolve(specs)
    columns = []
    for spec, tok in zip(specs, toks, strict=True):
        name = spec if isinstance(spec, str) else label_of(tok)
        t = tokenize(tok, text, name)
        t.name = display_name(name, tok)
        columns.append(t)
    return TokenView(text, columns, max_tokens)
