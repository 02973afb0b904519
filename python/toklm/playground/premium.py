"""What the text costs: USD for a chosen model, and the token premium of a language over English.

The premium compares the same sentences in English and in another language: the bundled
NTREX-128 pair (`data/ntrex128`, 10 sentences per language) or a pair the user pastes.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toklm.languages import LANGUAGE_NAMES

__all__ = ["LANGUAGES", "cost", "cost_html", "pair", "premium", "premium_html"]

# The languages of the bundled sentences (English is the reference; code is not a language here).
LANGUAGES = {k: v for k, v in LANGUAGE_NAMES.items() if k not in ("en", "code")}


@functools.cache
def pair(language: str) -> tuple[str, str]:
    """The bundled (English, `language`) sentences; KeyError naming the known codes.

    >>> en, ko = pair("ko"); en.count("\\n"), ko.count("\\n")
    (10, 10)
    """
    if language not in LANGUAGES:
        raise KeyError(
            f"no bundled sentences for language {language!r}; known: {', '.join(LANGUAGES)}"
        )
    folder = importlib.resources.files("toklm.playground").joinpath("data", "ntrex128")
    english = folder.joinpath("en.txt").read_text(encoding="utf-8")
    return english, folder.joinpath(f"{language}.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class PremiumRow:
    """One tokenizer's counts of the two sides of a pair, and their ratio."""

    tokenizer: str
    english_tokens: int
    other_tokens: int

    @property
    def premium(self) -> float | None:
        return self.other_tokens / self.english_tokens if self.english_tokens else None


def premium(tokenizers: Sequence[tuple[str, Any]], english: str, other: str) -> list[PremiumRow]:
    """Tokens of `english` and `other` under each (name, tokenizer), special text as text.

    >>> import toklm; en, ko = pair("ko")
    >>> row, = premium([("o200k_base", toklm.get_encoding("o200k_base"))], en, ko)
    >>> round(row.premium, 2)
    1.58
    """
    return [
        PremiumRow(name, len(tok.encode_ordinary(english)), len(tok.encode_ordinary(other)))
        for name, tok in tokenizers
    ]


def premium_html(rows: Sequence[PremiumRow], label: str, english: str, other: str) -> str:
    """The premium as a table, with the sentences it was measured on folded below."""
    esc = html.escape
    body = "".join(
        f"<tr><td>{esc(r.tokenizer)}</td><td>{r.english_tokens:,}</td><td>{r.other_tokens:,}</td>"
        f'<td class="premium">{"–" if r.premium is None else f"{r.premium:.2f}×"}</td></tr>'
        for r in rows
    )
    return (
        f'<table class="premium-table"><thead><tr><th>tokenizer</th><th>English</th>'
        f"<th>{esc(label)}</th><th>premium</th></tr></thead><tbody>{body}</tbody></table>"
        f"<details><summary>The sentences ({len(english):,} and {len(other):,} characters)"
        f'</summary><div class="pair"><p>{esc(english)}</p><p>{esc(other)}</p></div></details>'
    )


def cost(model: str, tokens_of: Any) -> dict[str, Any]:
    """USD of the text as input (and as output) to `model`, from the shipped price table.
    `tokens_of(encoding)` counts the text with that encoding. KeyError for an unknown model.

    >>> import toklm
    >>> c = cost("gpt-4o", lambda enc: enc.count("hello world")); c["tokens"], c["input_usd"]
    (2, 5e-06)
    """
    import toklm
    from toklm.economics.prices import load_prices

    price = load_prices().lookup(model)
    enc = toklm.get_encoding(price.encoding) if price.encoding else toklm.encoding_for_model(model)
    tokens = tokens_of(enc)
    return {
        "model": price.model,
        "encoding": enc.name,
        "tokens": tokens,
        "input_usd_per_1m": price.input,
        "output_usd_per_1m": price.output,
        "input_usd": tokens * price.input / 1e6,
        "output_usd": None if price.output is None else tokens * price.output / 1e6,
        "as_of": price.as_of,
    }


def cost_html(c: dict[str, Any]) -> str:
    """One line: the model, its encoding, the tokens and what they cost."""
    from toklm.economics.render import fmt_price, fmt_usd

    out = "" if c["output_usd"] is None else (
        f" · as output {fmt_usd(c['output_usd'])} ({fmt_price(c['output_usd_per_1m'])} / 1M)"
    )  # fmt: skip
    return (
        f'<span class="cost-line"><b>{html.escape(c["model"])}</b> ({c["encoding"]}): '
        f'<span class="cost-tokens">{c["tokens"]:,} tokens</span> → as input '
        f"<b>{fmt_usd(c['input_usd'])}</b> ({fmt_price(c['input_usd_per_1m'])} / 1M){out}"
        f' <span class="asof">prices as of {html.escape(c["as_of"])}</span></span>'
    )


def price_models() -> list[str]:
    """The models in the shipped price table, in its order."""
    from toklm.economics.prices import load_prices

    return list(load_prices().prices)
