"""Token economics: what the same content costs in tokens (and dollars) under each tokenizer.

Every function returns plain records (a list of dicts) that drop straight into
`pandas.DataFrame(records)`:

>>> from toklm.economics import compare
>>> [(r["tokenizer"], r["tokens"]) for r in compare(["Hello world, we are Gmarket. 🎉"])]
[('gpt2', 11), ('cl100k_base', 11), ('o200k_base', 10)]

* `compare(texts, files, tokenizers)`: tokens, characters and bytes per token, byte fragments;
* `report(paths, tokenizers)`: per language of a parallel corpus, with the token premium over
  English, and `summarize(records)` for the finding in sentences;
* `cost(files, models)`: tokens and USD from the price table (`load_prices`);
* `report_figure(records)` / `save_figure(fig, path)`: the plots (matplotlib).
"""

from toklm.economics.compare import DEFAULT_TOKENIZERS, compare
from toklm.economics.cost import cost
from toklm.economics.measure import measure
from toklm.economics.plots import report_figure, save_figure
from toklm.economics.prices import load_prices
from toklm.economics.report import report, summarize
from toklm.economics.textio import InputError, Source

__all__ = [
    "DEFAULT_TOKENIZERS",
    "InputError",
    "Source",
    "compare",
    "cost",
    "load_prices",
    "measure",
    "report",
    "report_figure",
    "save_figure",
    "summarize",
]
