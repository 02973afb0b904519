"""The per-model price table: shipped in `prices.json`, overridable by a user file or by flags.

A price file is JSON: ``{"as_of": "YYYY-MM-DD", "models": {"name": {"input": USD_PER_1M,
"output": USD_PER_1M or null, "encoding": optional, "aliases": [optional names]}}}``.
A user file is merged over the shipped table model by model; no network is ever used.
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelPrice", "PriceTable", "load_prices"]

PRICES_ENV = "TOKLM_PRICES"


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens for one model; `output` is None for input-only models (embeddings)."""

    model: str
    input: float
    output: float | None
    as_of: str
    origin: str  # "toklm prices.json", a user file path, or "command line"
    encoding: str | None = None


@dataclass
class PriceTable:
    """Model name (or alias) -> `ModelPrice`, with the date and origin of the table."""

    as_of: str
    origin: str
    prices: dict[str, ModelPrice]
    aliases: dict[str, str]

    def lookup(self, model: str) -> ModelPrice:
        """The price of `model`; a `KeyError` naming close matches when the table lacks it.

        >>> load_prices().lookup("gpt-4o").input
        2.5
        """
        name = self.aliases.get(model, model)
        if name in self.prices:
            return self.prices[name]
        known = sorted(self.prices) + sorted(self.aliases)
        close = difflib.get_close_matches(model, known, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(
            f"no price for model {model!r} in the price table ({self.origin}, as of "
            f"{self.as_of}){hint}; add it with --prices FILE or --input-price/--output-price"
        )

    def records(self) -> list[dict[str, Any]]:
        """The table as plain records, one per model."""
        return [
            {
                "model": p.model,
                "input_usd_per_1m": p.input,
                "output_usd_per_1m": p.output,
                "as_of": p.as_of,
                "origin": p.origin,
            }
            for p in self.prices.values()
        ]


def _price(value: object, where: str, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a price in USD per 1M tokens, got {value!r}")
    if value < 0:
        raise ValueError(f"{where}: a price cannot be negative, got {value!r}")
    return float(value)


def _merge(table: PriceTable, data: object, origin: str) -> None:
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), Mapping):
        raise ValueError(f'{origin}: expected a JSON object with a "models" object')
    as_of = data.get("as_of")
    if not isinstance(as_of, str) or not as_of:
        raise ValueError(f'{origin}: missing "as_of" (the date the prices were taken)')
    for model, entry in data["models"].items():
        where = f"{origin}: model {model!r}"
        if not isinstance(entry, Mapping):
            raise ValueError(f'{where}: expected an object with "input" and "output"')
        encoding = entry.get("encoding")
        if encoding is not None and not isinstance(encoding, str):
            raise ValueError(f'{where}: "encoding" must be a string, got {encoding!r}')
        price = ModelPrice(
            model=model,
            input=float(_price(entry.get("input"), f'{where} "input"', optional=False) or 0),
            output=_price(entry.get("output"), f'{where} "output"', optional=True),
            as_of=as_of,
            origin=origin,
            encoding=encoding,
        )
        table.prices[model] = price
        table.aliases.pop(model, None)
        for alias in entry.get("aliases", []):
            if not isinstance(alias, str):
                raise ValueError(f'{where}: "aliases" must be strings, got {alias!r}')
            table.aliases[alias] = model
    table.as_of = as_of if table.origin == "" else f"{table.as_of}; {origin}: {as_of}"
    table.origin = origin if table.origin == "" else f"{table.origin} + {origin}"


def _read_json(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"price file {path}: no such file") from None
    except OSError as e:
        raise ValueError(f"price file {path}: cannot read: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"price file {path}: not valid JSON: {e}") from None


def load_prices(user_file: str | None = None) -> PriceTable:
    """The shipped table, with `user_file` (or $TOKLM_PRICES) merged over it.

    >>> t = load_prices(); t.lookup("gpt-4").output, t.as_of
    (60.0, '2026-06-30')
    """
    shipped = importlib.resources.files("toklm.economics").joinpath("prices.json")
    data = json.loads(shipped.read_text(encoding="utf-8"))
    table = PriceTable(as_of="", origin="", prices={}, aliases={})
    _merge(table, data, "toklm prices.json")
    user_file = user_file or os.environ.get(PRICES_ENV) or None
    if user_file:
        _merge(table, _read_json(user_file), user_file)
    return table


def with_flag_prices(
    table: PriceTable, model: str, input_price: float | None, output_price: float | None
) -> PriceTable:
    """`table` with `model`'s prices replaced by --input-price/--output-price (either may be
    None to keep the table's; a model not in the table needs --input-price).

    >>> p = with_flag_prices(load_prices(), "gpt-4", 1.0, None).lookup("gpt-4")
    >>> p.input, p.output, p.origin
    (1.0, 60.0, 'command line')
    """
    try:
        base: ModelPrice | None = table.lookup(model)
    except KeyError:
        base = None
    if base is None and input_price is None:
        raise ValueError(f"model {model!r} is not in the price table: give --input-price")
    inp = None if input_price is None else _price(input_price, "--input-price", optional=False)
    out = None if output_price is None else _price(output_price, "--output-price", optional=False)
    price = ModelPrice(
        model=model,
        input=inp if inp is not None else base.input,  # type: ignore[union-attr]
        output=out if out is not None else (base.output if base else None),
        as_of="command line",
        origin="command line",
        encoding=base.encoding if base else None,
    )
    prices = dict(table.prices)
    prices[model] = price
    aliases = {a: m for a, m in table.aliases.items() if a != model}
    return PriceTable(table.as_of, table.origin, prices, aliases)
