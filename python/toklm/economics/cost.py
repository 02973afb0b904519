"""`cost`: what sending files (or stdin) to a model costs, from exact token counts and prices."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import toklm
from toklm.economics.measure import measure, read_fields, tokenizer_label
from toklm.economics.prices import PriceTable, load_prices
from toklm.economics.textio import Source

__all__ = ["cost"]


def _encoding_of(model: str, encoding: str | None) -> Any:
    if encoding:
        return toklm.get_encoding(encoding)
    try:
        return toklm.encoding_for_model(model)
    except KeyError:
        raise KeyError(
            f"model {model!r} has a price but toklm does not know its tokenizer; name it with "
            f'-e ENCODING or an "encoding" entry in the price file'
        ) from None


def cost(
    files: Sequence[str | os.PathLike[str]] = (),
    models: Sequence[str] = ("gpt-4o",),
    *,
    texts: Sequence[str] = (),
    prices: PriceTable | None = None,
    encoding: str | None = None,
    output_tokens: int = 0,
    errors: str = "strict",
    quiet: bool = True,
) -> list[dict[str, Any]]:
    """One record per (input, model): its tokens as the model's input, and what they cost.

    `output_tokens` (per input) adds the price of that many generated tokens. `encoding`
    overrides the tokenizer of every model. Raises `KeyError` for a model without a price.

    >>> r = cost(texts=["Hello world, we are Gmarket. 🎉"], models=["gpt-4o"])[0]
    >>> r["tokens"], r["input_usd_per_1m"], r["total_usd"]
    (10, 2.5, 2.5e-05)
    """
    if output_tokens < 0:
        raise ValueError(f"output tokens must be >= 0, got {output_tokens}")
    table = prices if prices is not None else load_prices()
    priced = [table.lookup(m) for m in models]  # every unknown model fails before any work
    encodings = [_encoding_of(p.model, encoding or p.encoding) for p in priced]
    unique = list({id(e): e for e in encodings}.values())  # count once per tokenizer
    sources = [Source.from_text(t, "<text>" if len(texts) == 1 else f"<text {i}>")
               for i, t in enumerate(texts, 1)]  # fmt: skip
    sources += [Source.from_path(f) for f in files]
    if not sources:
        sources = [Source.stdin()]
    results = measure(sources, unique, errors=errors, quiet=quiet)
    records = []
    for result in results:
        tokens_by_enc = {id(e): t.tokens for e, t in zip(unique, result.tallies, strict=True)}
        for model, price, enc in zip(models, priced, encodings, strict=True):
            tokens = tokens_by_enc[id(enc)]
            input_usd = tokens * price.input / 1e6
            if price.output is None:
                if output_tokens:
                    raise ValueError(f"model {model!r} has no output price (it only reads)")
                output_usd = 0.0
            else:
                output_usd = output_tokens * price.output / 1e6
            records.append(
                {
                    "input": result.source.label,
                    "model": model,
                    "encoding": tokenizer_label(enc),
                    "tokens": tokens,
                    "bytes": result.read.bytes,
                    "input_usd_per_1m": price.input,
                    "output_usd_per_1m": price.output,
                    "input_usd": input_usd,
                    "output_tokens": output_tokens,
                    "output_usd": output_usd,
                    "total_usd": input_usd + output_usd,
                    "prices_as_of": price.as_of,
                    "prices_from": price.origin,
                    **read_fields(result.read),
                }
            )
    return records
