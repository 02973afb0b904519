"""`toklm train` and `toklm extend`: learn a byte-level BPE vocabulary, or add tokens to one.

    $ toklm train corpus/*.txt --vocab-size 32000 --pattern o200k_base -o my.tiktoken
    $ toklm train ntrex128/*.txt --balanced --vocab-size 64000 -o fair.tiktoken
    $ toklm extend cl100k_base ../shared/corpora/ko.txt --add 16384 --scripts Hangul \\
          -o cl100k_ko.tiktoken --eval ../shared/corpora/parallel/ntrex128

The output is a `.tiktoken` file plus `OUT.json` (pattern, special tokens); `toklm.load_encoding`
reads both. `--tokenizer-json` also writes a Hugging Face `tokenizer.json`. Progress (bytes read,
tokens learned) goes to stderr unless `-q`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from toklm.cli import CliError


def _progress(quiet: bool) -> Any:
    """Progress on stderr: MB read while counting, then tokens learned."""
    if quiet:
        return None
    start = time.monotonic()

    def report(stage: str, done: int, total: int) -> None:
        if stage == "read":
            share = f" ({done / total:.0%})" if total else ""
            rate = done / max(time.monotonic() - start, 1e-9) / 1e6
            line = f"read {done / 1e6:,.1f} MB{share}, {rate:.0f} MB/s"
        else:
            line = f"learned {done:,} of {total:,} tokens"
        print(f"\r{line:<60}", end="", file=sys.stderr, flush=True)

    return report


def _inputs(files: list[str]) -> list[Path]:
    paths = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise CliError(f"{f}: no such file")
        paths.append(p)
    return paths


def _finish(args: argparse.Namespace, enc: Any, base: Any, started: float, learned: int) -> int:
    if not args.quiet:
        print(file=sys.stderr)
    enc.save(args.output)
    print(
        f"{enc.name}: {learned:,} tokens learned, n_vocab {enc.n_vocab:,}, "
        f"{time.monotonic() - started:.1f} s -> {args.output} (+ {args.output}.json)"
    )
    if args.tokenizer_json:
        from toklm.train import save_tokenizer_json

        save_tokenizer_json(enc, args.tokenizer_json)
        print(f"tokenizer.json -> {args.tokenizer_json}")
    if args.eval:
        _evaluate(args, enc, base)
    return 0


def _evaluate(args: argparse.Namespace, enc: Any, base: Any) -> None:
    """The premium table (`toklm report`) of the new encoding next to the base."""
    from toklm.economics import report
    from toklm.economics.render import Column, console, fmt_int, fmt_premium, print_table

    toks = [t for t in (base, enc) if t is not None]
    records = report([args.eval], toks, errors=args.errors, quiet=args.quiet)
    by_lang: dict[str, dict[str, Any]] = {}
    for r in records:
        row = by_lang.setdefault(r["language"], {"language": r["language_name"]})
        which = "new" if r["tokenizer"] == records[-1]["tokenizer"] else "base"
        row[f"{which}_tokens"] = r["tokens"]
        row[f"{which}_premium"] = r["premium"]
    columns = [Column("language", "language", justify="left")]
    for which in ("base", "new") if base is not None else ("new",):
        label = base.name if which == "base" else enc.name
        columns += [
            Column(f"{label} tokens", f"{which}_tokens", fmt_int),
            Column(
                f"{label} premium",
                f"{which}_premium",
                lambda x: "-" if x is None else fmt_premium(x),
            ),
        ]
    rows = sorted(by_lang.values(), key=lambda r: -(r.get("new_premium") or 0))
    print_table(console(), f"token premium on {args.eval}", columns, rows)


def _train_balanced(args: argparse.Namespace, paths: list[Path], specials: list[str]) -> Any:
    """--balanced: each FILE is one language (named by its stem), premiums printed at the end."""
    from toklm.train import train_bpe_balanced

    corpora = {p.stem: p for p in paths}
    if len(corpora) != len(paths):
        raise CliError("--balanced: two files have the same name; each FILE is one language")
    dev = None
    if args.dev:
        dev = {lang: Path(args.dev) / f"{lang}.txt" for lang in corpora}
        for lang, p in dev.items():
            if not p.is_file():
                raise CliError(f"--dev {args.dev}: no {p.name} for language {lang!r}")
    enc, premiums = train_bpe_balanced(
        corpora,
        args.vocab_size,
        dev=dev,
        reference=args.reference,
        pattern=args.pattern,
        special_tokens=specials,
        min_frequency=args.min_frequency,
        name=args.name or Path(args.output).name.removesuffix(".tiktoken"),
        errors=args.errors,
    )
    worst = sorted(premiums.items(), key=lambda kv: -kv[1])
    print("premium per language: " + ", ".join(f"{k} {v:.2f}" for k, v in worst))
    return enc


def _train(args: argparse.Namespace) -> int:
    from toklm.train import train_bpe

    paths = _inputs(args.files)
    started = time.monotonic()
    specials = [s for group in args.special or [] for s in group.split(",") if s]
    base = None
    if args.eval and args.compare:
        from toklm.cli._resolve import resolve_tokenizer

        base = resolve_tokenizer(args.compare)
    if args.balanced:
        enc = _train_balanced(args, paths, specials)
        learned = enc.max_token_value + 1 - 256 - len(specials)
        return _finish(args, enc, base, started, learned)
    enc = train_bpe(
        paths,
        args.vocab_size,
        pattern=args.pattern,
        special_tokens=specials,
        min_frequency=args.min_frequency,
        name=args.name or Path(args.output).name.removesuffix(".tiktoken"),
        errors=args.errors,
        progress=_progress(args.quiet),
    )
    learned = enc.max_token_value + 1 - 256 - len(specials)
    return _finish(args, enc, base, started, learned)


def _extend(args: argparse.Namespace) -> int:
    from toklm.cli._resolve import resolve_tokenizer
    from toklm.encoding import Encoding
    from toklm.train import extend_encoding, load_encoding

    if os.path.isfile(args.base):
        base = load_encoding(args.base)
    else:
        base = resolve_tokenizer(args.base)
    if not isinstance(base, Encoding):
        raise CliError(f"{args.base}: extending needs a tiktoken-style encoding")
    paths = _inputs(args.files)
    started = time.monotonic()
    scripts = [s for group in args.scripts or [] for s in group.split(",") if s] or None
    enc = extend_encoding(
        base,
        paths,
        args.add,
        scripts=scripts,
        min_frequency=args.min_frequency,
        name=args.name,
        errors=args.errors,
        progress=_progress(args.quiet),
    )
    return _finish(args, enc, base, started, enc.n_vocab - base.n_vocab)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output .tiktoken file (+ OUT.json)")
    p.add_argument("--min-frequency", type=_positive, default=2, help="stop below this pair count")
    p.add_argument("--name", help="encoding name stored in OUT.json")
    p.add_argument("--tokenizer-json", metavar="PATH", help="also write a HF tokenizer.json")
    p.add_argument("--eval", metavar="DIR", help="print the token premium on a parallel corpus")
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="invalid UTF-8: stop with file and byte offset (strict) or read U+FFFD",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a byte-level BPE vocabulary on text files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--vocab-size", type=_positive, required=True, help="tokens incl. 256 bytes")
    p.add_argument("--pattern", default="o200k_base", help="encoding name or regex")
    p.add_argument("--special", action="append", metavar="TOKENS", help="special tokens")
    p.add_argument("--compare", metavar="ENCODING", help="with --eval: show this one beside")
    p.add_argument(
        "--balanced",
        action="store_true",
        help="each FILE is one language; each merge goes to the language with the worst premium",
    )
    p.add_argument("--dev", metavar="DIR", help="--balanced: parallel texts DIR/LANG.txt")
    p.add_argument("--reference", default="en", help="--balanced: reference language (en)")
    _common(p)
    p.set_defaults(func=_train)
    p = sub.add_parser("extend", help="add tokens learned from text files to an encoding")
    p.add_argument("base", metavar="BASE", help="encoding name or saved .tiktoken file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--add", type=_positive, required=True, help="number of tokens to add")
    p.add_argument("--scripts", action="append", metavar="NAMES", help="e.g. Hangul")
    _common(p)
    p.set_defaults(func=_extend)
