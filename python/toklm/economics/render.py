"""Showing records: aligned terminal tables and coloured tokens (rich), CSV and JSON.

rich is imported only when a table is drawn. When stdout is not a terminal the same tables are
printed without colour, wide enough not to wrap.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

__all__ = [
    "Column", "console", "plain_tokens", "print_table", "token_text", "write_csv", "write_json",
]  # fmt: skip

# Background colours cycled over tokens; fragments (parts of a character) get their own style.
_TOKEN_STYLES = ("on #264653", "on #2a6f97", "on #6a4c93", "on #1b4332", "on #7f5539")
_FRAGMENT_STYLE = "bold #ffb4a2 on #5c1a1a"


@dataclass(frozen=True)
class Column:
    """A table column: header, record key, how to format a value, alignment."""

    header: str
    key: str
    fmt: Callable[[Any], str] = str
    justify: str = "right"


def _need_rich() -> Any:
    try:
        import rich
    except ImportError:
        raise ValueError(
            "tables need the 'rich' package (a dependency of toklm): pip install rich "
            "(or use --json / --csv)"
        ) from None
    return rich


def console(stream: IO[str] | None = None) -> Any:
    """A rich Console on stdout: coloured in a terminal, plain and 200 columns wide otherwise."""
    _need_rich()
    from rich.console import Console

    stream = stream if stream is not None else sys.stdout
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    out = Console(file=stream, highlight=False, width=None if is_tty else 200)
    # rich's own handling exits with status 1; let the caller end the way a closed pipe should.
    out.on_broken_pipe = _reraise_broken_pipe  # type: ignore[method-assign]
    return out


def _reraise_broken_pipe() -> None:
    raise BrokenPipeError(32, "Broken pipe")


def print_table(
    out: Any,
    title: str | None,
    columns: Sequence[Column],
    records: Sequence[dict[str, Any]],
    footer: Sequence[dict[str, Any]] = (),
) -> None:
    """Draw `records` (then `footer` rows, e.g. totals, after a rule) as one aligned table."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for c in columns:
        table.add_column(c.header, justify=c.justify, no_wrap=True)  # type: ignore[arg-type]
    for i, rec in enumerate([*records, *footer]):
        cells = [("" if rec.get(c.key) is None else c.fmt(rec[c.key])) for c in columns]
        table.add_row(*cells, end_section=i == len(records) - 1 and bool(footer))
    out.print(table)


def token_text(pieces: Sequence[str], fragments: Sequence[bool], prefix: str = "") -> Any:
    """A rich Text of tokens in alternating colours, fragments as hex bytes in their own colour.

    Line breaks and tabs inside tokens are shown as ↵ and → so each token stays visible.
    """
    from rich.text import Text

    text = Text(prefix)
    for i, (piece, frag) in enumerate(zip(pieces, fragments, strict=True)):
        if frag:
            text.append(piece, style=_FRAGMENT_STYLE)
        else:
            shown = piece.replace("\n", "↵").replace("\t", "→")
            text.append(shown, style=_TOKEN_STYLES[i % len(_TOKEN_STYLES)])
    return text


def plain_tokens(pieces: Sequence[str], fragments: Sequence[bool]) -> str:
    """Tokens for a non-terminal: each whole token JSON-quoted, fragments as <hex bytes>.

    >>> plain_tokens(["Hi", "<f0 9f>"], [False, True])
    '"Hi" <f0 9f>'
    """
    return " ".join(
        p if f else json.dumps(p, ensure_ascii=False)
        for p, f in zip(pieces, fragments, strict=True)
    )


def write_json(obj: Any, stream: IO[str] | None = None) -> None:
    """`obj` as indented JSON, non-ASCII text kept as is.

    >>> write_json({"text": "🎉"})
    {
      "text": "🎉"
    }
    """
    stream = stream if stream is not None else sys.stdout
    json.dump(obj, stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def write_csv(records: Sequence[dict[str, Any]], stream: IO[str] | None = None) -> None:
    """One CSV row per record, columns in first-seen order; list values as JSON text.

    >>> write_csv([{"tokenizer": "gpt2", "ids": [1, 2]}, {"tokenizer": "o200k_base"}])
    tokenizer,ids
    gpt2,"[1, 2]"
    o200k_base,
    """
    stream = stream if stream is not None else sys.stdout
    columns = list(dict.fromkeys(k for rec in records for k in rec))
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for rec in records:
        row = []
        for k in columns:
            v = rec.get(k)
            row.append(json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
        writer.writerow(["" if v is None else v for v in row])


# Formatters shared by the commands.
def fmt_int(x: int) -> str:
    return f"{x:,}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}"


def fmt_premium(x: float) -> str:
    return f"{x:.2f}x"


def fmt_share(x: float) -> str:
    return f"{x:.1%}"


def fmt_usd(x: float) -> str:
    """Dollars: cents from $1 up (with thousands separators); below $1, the first 3 significant
    digits, so that no cost shows as $0.00.

    >>> fmt_usd(318.6944), fmt_usd(4708.081), fmt_usd(1), fmt_usd(0.744), fmt_usd(2.5e-05)
    ('$318.69', '$4,708.08', '$1.00', '$0.744', '$0.000025')
    >>> fmt_usd(0), fmt_usd(0.0123456), fmt_usd(0.1), fmt_usd(0.999999)
    ('$0.00', '$0.0123', '$0.10', '$1.00')
    """
    if x >= 1 or x == 0:
        return f"${x:,.2f}"
    decimals = max(2, 2 - math.floor(math.log10(x)))  # 3 significant digits
    text = f"{x:.{decimals}f}"
    while decimals > 2 and text.endswith("0"):  # $0.10, not $0.100; but never $0.1
        text, decimals = text[:-1], decimals - 1
    return "$" + text


def fmt_price(x: float) -> str:
    """A price per 1M tokens: cents, or more digits when the price has them.

    >>> fmt_price(2.5), fmt_price(0.075), fmt_price(30)
    ('$2.50', '$0.075', '$30.00')
    """
    return f"${x:,.2f}" if round(x, 2) == x else f"${x:.4g}"
