"""`toklm compare`, `toklm report`, `toklm cost`: token economics across tokenizers and languages.

    $ toklm compare "안녕하세요, 우리는 Gmarket입니다. 🎉"      # 37 / 17 / 10 tokens
    $ toklm report ../shared/corpora/parallel/ntrex128 --plot premium.png
    $ toklm cost -m gpt-4o -m gpt-4 docs/*.txt

Output: an aligned table (coloured in a terminal), or --json / --csv. Everything is computed
before anything is printed, so an error never leaves a partial table behind.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from toklm.cli import CliError, require_extra
from toklm.cli._resolve import resolve_tokenizers
from toklm.cli.tokens import check_files, note_if_file, print_notes
from toklm.economics import compare, cost, report, summarize
from toklm.economics.compare import DEFAULT_TOKENIZERS
from toklm.economics.prices import load_prices, with_flag_prices
from toklm.economics.render import (
    Column,
    console,
    fmt_int,
    fmt_premium,
    fmt_price,
    fmt_ratio,
    fmt_share,
    fmt_usd,
    plain_tokens,
    print_table,
    token_text,
    write_csv,
    write_json,
)
from toklm.economics.textio import DecodeReport, Source, iter_text


def _add_common(p: argparse.ArgumentParser, *, tokenizers: bool = True) -> None:
    if tokenizers:
        p.add_argument(
            "-e",
            "--encoding",
            action="append",
            metavar="NAMES",
            help="tokenizers, repeatable or comma-separated: encodings, OpenAI model names or "
            f"hf:REPO_OR_PATH (default {','.join(DEFAULT_TOKENIZERS)})",
        )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="print CSV (one row per record)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="invalid UTF-8: stop with its location (strict, default) or read U+FFFD in place",
    )


def _notes(records: list[dict[str, Any]]) -> None:
    """One stderr note per input in which invalid UTF-8 was replaced (--errors replace)."""
    seen: dict[str, DecodeReport] = {}
    for r in records:
        label = str(r.get("input") or r.get("file"))
        if r.get("invalid_utf8_replaced") and label not in seen:
            seen[label] = DecodeReport(
                replaced=r["invalid_utf8_replaced"], first_replaced=r["invalid_utf8_first_at"]
            )
    print_notes(list(seen.items()))


# ------------------------------------------------------------------------------------- compare

_COMPARE_COLUMNS = [
    Column("input", "input", justify="left"),
    Column("tokenizer", "tokenizer", justify="left"),
    Column("tokens", "tokens", fmt_int),
    Column("chars/token", "chars_per_token", fmt_ratio),
    Column("bytes/token", "bytes_per_token", fmt_ratio),
    Column("byte fragments", "byte_fragments", fmt_int),
    Column("share", "byte_fragment_share", fmt_share),
]


def _compare(args: argparse.Namespace) -> int:
    toks = resolve_tokenizers(args.encoding, list(DEFAULT_TOKENIZERS))
    files = list(args.input or [])
    check_files([f for f in files if f != "-"])
    if args.tokens and files:
        raise CliError(
            "--tokens shows the tokens of TEXT arguments; files (-i) are counted, not listed "
            "(toklm encode --tokens -i FILE shows a file's tokens)"
        )
    note_if_file(args, "-i")
    if not args.text and not files:
        files = ["-"]
    texts = []
    for i, arg in enumerate(args.text, 1):
        # The argument's own bytes, so that invalid UTF-8 is located as the shell passed it.
        label = "<text>" if len(args.text) == 1 else f"<text {i}>"
        read = DecodeReport()
        source = Source.from_arg(arg, label)
        texts.append("".join(iter_text(source, errors=args.errors, report=read)))
        print_notes([(label, read)])
    records = compare(texts, files, toks, errors=args.errors, quiet=args.quiet)
    _notes(records)
    show_tokens = args.tokens if args.tokens is not None else bool(args.text)
    if not show_tokens:
        for r in records:
            for key in ("ids", "pieces", "piece_is_fragment"):
                r.pop(key, None)
    if args.json:
        write_json({"records": records})
    elif args.csv:
        write_csv(records)
    else:
        out = console()
        print_table(out, None, _COMPARE_COLUMNS, records)
        for r in records:
            if "ids" not in r:
                continue
            out.print(f"[bold]{r['input']} · {r['tokenizer']}[/bold] · {r['tokens']} tokens")
            out.print("  ids:    " + " ".join(map(str, r["ids"])), soft_wrap=True)
            if out.is_terminal:
                line = token_text(r["pieces"], r["piece_is_fragment"], prefix="  tokens: ")
                out.print(line, soft_wrap=True)
            else:
                line = plain_tokens(r["pieces"], r["piece_is_fragment"])
                out.print("  tokens: " + line, soft_wrap=True, markup=False)
        if any(r.get("piece_is_fragment") and any(r["piece_is_fragment"]) for r in records):
            out.print("  <hex bytes>: a token that is only part of a character", style="dim")
    return 0


# -------------------------------------------------------------------------------------- report

_REPORT_COLUMNS = [
    Column("language", "language_name", justify="left"),
    Column("code", "language", justify="left"),
    Column("lines", "lines", fmt_int),
    Column("tokens", "tokens", fmt_int),
    Column("tokens/line", "tokens_per_line", fmt_ratio),
    Column("bytes/token", "bytes_per_token", fmt_ratio),
    Column("premium", "premium", fmt_premium),
    Column("byte fragments", "byte_fragment_share", fmt_share),
]


def _plot_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, got {text!r}") from None
    return w, h


def _report(args: argparse.Namespace) -> int:
    toks = resolve_tokenizers(args.encoding, list(DEFAULT_TOKENIZERS))
    for plot in args.plot or []:
        if not plot.lower().endswith((".png", ".svg")):
            raise CliError(f"plot file {plot!r}: the name must end in .png or .svg")
        parent = os.path.dirname(plot) or "."
        if not os.path.isdir(parent):
            raise CliError(f"plot file {plot!r}: no such directory {parent!r}")
    if args.plot:
        require_extra("matplotlib", "economics")
    paths = args.paths if args.paths or args.text else ["-"]
    if sum(1 for p in paths if p == "-") > 1:
        raise CliError("stdin ('-') can be read only once")
    reference = None if args.no_reference else args.reference
    records = report(
        paths,
        toks,
        parallel=False if args.no_parallel else None,
        reference=reference,
        texts=args.text,
        errors=args.errors,
        quiet=args.quiet,
    )
    summary = summarize(records)
    _notes(records)
    if args.plot:
        from toklm.economics.plots import report_figure, save_figure

        fig = report_figure(records, args.plot_size)
        for plot in args.plot:
            save_figure(fig, plot)
    if args.json:
        write_json({"records": records, "summary": summary})
    elif args.csv:
        write_csv(records)
    else:
        out = console()
        key = "premium" if records[0]["premium"] is not None else "tokens_per_char"
        columns = [c for c in _REPORT_COLUMNS if c.key != "premium" or key == "premium"]
        for tok in dict.fromkeys(r["tokenizer"] for r in records):
            rows = sorted(
                (r for r in records if r["tokenizer"] == tok),
                key=lambda r: (r[key] is None, -(r[key] or 0.0)),  # empty inputs last
            )
            print_table(out, f"{tok} (by {key.replace('_', ' ')})", columns, rows)
        out.print(REPORT_TOKENS_NOTE, style="dim", markup=False, soft_wrap=True)
        for line in summary:
            out.print(line, markup=False, soft_wrap=True)
        for plot in args.plot or []:
            out.print(f"plot written to {plot}", style="dim", markup=False)
    return 0


# Why `report`'s tokens are fewer than `count`'s for the same file (issue 8: 791,929 vs 801,733
# o200k_base tokens on corpora/ko.txt).
REPORT_TOKENS_NOTE = (
    "tokens: each line encoded on its own, without its line break, as a sentence is sent; "
    "`toklm count FILE` encodes the whole file as one text, line breaks included, so it counts "
    "more."
)

# ---------------------------------------------------------------------------------------- cost

_COST_COLUMNS = [
    Column("input", "input", justify="left"),
    Column("model", "model", justify="left"),
    Column("encoding", "encoding", justify="left"),
    Column("tokens", "tokens", fmt_int),
    Column("$/1M in", "input_usd_per_1m", fmt_price),
    Column("$/1M out", "output_usd_per_1m", fmt_price),
    Column("input $", "input_usd", fmt_usd),
    Column("output tokens", "output_tokens", fmt_int),
    Column("output $", "output_usd", fmt_usd),
    Column("total $", "total_usd", fmt_usd),
]


def _totals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One total row per model, when there is more than one input."""
    if len({r["input"] for r in records}) < 2:
        return []
    totals: dict[str, dict[str, Any]] = {}
    for r in records:
        t = totals.setdefault(
            r["model"],
            {"input": "total", "model": r["model"], "encoding": r["encoding"], "tokens": 0,
             "input_usd": 0.0, "output_tokens": 0, "output_usd": 0.0, "total_usd": 0.0},
        )  # fmt: skip
        for k in ("tokens", "input_usd", "output_tokens", "output_usd", "total_usd"):
            t[k] += r[k]
    return list(totals.values())


def _cost(args: argparse.Namespace) -> int:
    table = load_prices(args.prices)
    models = [m.strip() for v in args.model or ["gpt-4o"] for m in v.split(",") if m.strip()]
    if args.input_price is not None or args.output_price is not None:
        if len(models) != 1:
            raise CliError("--input-price/--output-price set the price of one model: give one -m")
        table = with_flag_prices(table, models[0], args.input_price, args.output_price)
    if args.list_models:
        prices = table.records()
        if args.json:
            write_json({"as_of": table.as_of, "origin": table.origin, "models": prices})
        elif args.csv:
            write_csv(prices)
        else:
            cols = [
                Column("model", "model", justify="left"),
                Column("$/1M in", "input_usd_per_1m", fmt_price),
                Column("$/1M out", "output_usd_per_1m", fmt_price),
                Column("as of", "as_of", justify="left"),
            ]
            print_table(console(), f"Prices, USD per 1M tokens ({table.origin})", cols, prices)
        return 0
    check_files(args.files)
    if sum(1 for f in args.files if f == "-") > 1:
        raise CliError("stdin ('-') can be read only once")
    records = cost(
        args.files,
        models,
        texts=args.text,
        prices=table,
        encoding=args.encoding,
        output_tokens=args.output_tokens,
        errors=args.errors,
        quiet=args.quiet,
    )
    _notes(records)
    totals = _totals(records)
    prices_note = (
        f"Prices: USD per 1M tokens, {table.origin}, as of {table.as_of}; list prices without "
        "Batch or cached-input discounts. Check https://developers.openai.com/api/docs/pricing."
    )
    if args.json:
        write_json({"records": records, "totals": totals, "prices": prices_note})
    elif args.csv:
        write_csv(records)
    else:
        out = console()
        columns = [c for c in _COST_COLUMNS if args.output_tokens or "output" not in c.key]
        print_table(out, None, columns, records, footer=totals)
        out.print(prices_note, style="dim", markup=False)
    return 0


def _nonnegative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a price >= 0 in USD per 1M tokens: {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `sub`."""
    p = sub.add_parser(
        "compare",
        help="tokens per tokenizer for the same text",
        description="Compare tokenizers on texts (arguments) or files (-i): tokens, characters "
        "and bytes per token, and tokens that are only part of a character.",
    )
    p.add_argument("text", nargs="*", help="texts, each compared on its own")
    p.add_argument("-i", "--input", action="append", metavar="FILE", help="a file ('-': stdin)")
    show = p.add_mutually_exclusive_group()
    show.add_argument("--tokens", action="store_true", default=None, help="show ids and tokens")
    show.add_argument("--no-tokens", dest="tokens", action="store_false", help="counts only")
    _add_common(p)
    p.set_defaults(func=_compare)

    p = sub.add_parser(
        "report",
        help="token premium per language over a parallel corpus",
        description="Per language and tokenizer: tokens, tokens per line, bytes per token, the "
        "token premium relative to the reference language, and the share of byte-fragment "
        "tokens. PATH is a directory of <language>.txt files aligned line by line, or files "
        "(aligned files that include the reference get a premium too). Each line is encoded on "
        "its own, without its line break, so the totals are below `toklm count` of the file.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="a corpus directory, or files ('-' or none: stdin)",
    )
    p.add_argument(
        "--text", action="append", default=[], metavar="TEXT", help="a literal text, repeatable"
    )
    p.add_argument("--reference", default="en", metavar="LANG", help="premium base (default en)")
    p.add_argument("--no-reference", action="store_true", help="no token premium")
    p.add_argument(
        "--no-parallel", action="store_true", help="the files are not aligned: no premium"
    )
    p.add_argument(
        "--plot", action="append", metavar="FILE", help="write the plots to FILE (.png or .svg)"
    )
    p.add_argument(
        "--plot-size", type=_plot_size, metavar="WxH", help="plot size in pixels (e.g. 1600x1200)"
    )
    _add_common(p)
    p.set_defaults(func=_report)

    p = sub.add_parser(
        "cost",
        help="tokens and price of files for a model",
        description="Count the tokens of FILEs (like wc; '-' or none: stdin) or --text as a "
        "model's input and price them from toklm's price table (no network).",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="files ('-' or none: stdin)")
    p.add_argument(
        "--text", action="append", default=[], metavar="TEXT", help="a literal text, repeatable"
    )
    p.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="MODEL",
        help="a model of the price table (--list-models), repeatable or comma-separated "
        "(default gpt-4o)",
    )
    p.add_argument("-e", "--encoding", metavar="NAME", help="tokenizer for every model")
    p.add_argument(
        "--output-tokens",
        type=_nonnegative_int,
        default=0,
        metavar="N",
        help="also price N generated tokens per input",
    )
    p.add_argument("--prices", metavar="FILE", help="a JSON price file merged over toklm's")
    p.add_argument("--input-price", type=_price, metavar="USD", help="USD per 1M input tokens")
    p.add_argument("--output-price", type=_price, metavar="USD", help="USD per 1M output tokens")
    p.add_argument("--list-models", action="store_true", help="show the price table and exit")
    _add_common(p, tokenizers=False)
    p.set_defaults(func=_cost)
