"""`toklm tokenize`: whole corpora to token shards (see `toklm.corpus` for the output layout).

    $ toklm tokenize books/*.txt -e gpt2 -o out/ --eot
    $ toklm tokenize data.jsonl --field text -e cl100k_base -o out/ --engine dask
    $ toklm tokenize part-*.parquet --column content -e o200k_base -o out/

An interrupted job resumes when run again with the same arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from toklm.cli import CliError
from toklm.cli.tokens import add_tokenizer_options, tokenizer_from_args

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from "64MB", "1G", "500k" or a plain number (powers of 1024).

    >>> parse_size("64MB"), parse_size("1g"), parse_size("4096")
    (67108864, 1073741824, 4096)
    """
    m = _SIZE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 64MB, 1G, 500k)")
    scale = 1024 ** "kmgt".find(m.group(2).lower()) * 1024 if m.group(2) else 1
    return int(float(m.group(1)) * scale)


def _eot(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--eot takes a token id, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--eot takes a token id >= 0, got {value}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tokenize",
        help="tokenize corpora into token shards (uint16/uint32 .bin + .idx, numpy-readable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="text, JSONL or Parquet files")
    add_tokenizer_options(p)
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output directory")
    p.add_argument(
        "--format",
        choices=("text", "jsonl", "parquet"),
        help="input format (default: from the file names: .jsonl, .parquet, else text)",
    )
    p.add_argument(
        "--split",
        choices=("lines", "file", "blank-line"),
        default="lines",
        help="text inputs: a document per non-empty line (default), per file, or per paragraph",
    )
    p.add_argument("--field", help="JSONL: the field holding the text (default: text)")
    p.add_argument("--column", help="Parquet: the column holding the text (default: text)")
    p.add_argument(
        "--eot",
        nargs="?",
        const=True,
        type=_eot,
        metavar="ID",
        help="append the end-of-text token (or token ID) after every document",
    )
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="invalid UTF-8: stop naming the file and byte (default), or substitute U+FFFD",
    )
    p.add_argument(
        "--shard-size",
        type=parse_size,
        default="64MB",
        metavar="SIZE",
        help="input bytes per shard (default 64MB)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "dask", "ray"),
        default="local",
        help="local threads (default), or a Dask / Ray cluster (--address, "
        "DASK_SCHEDULER_ADDRESS / RAY_ADDRESS, else a local one started for the job)",
    )
    p.add_argument("--address", help="the cluster's address (Dask scheduler or Ray head)")
    p.add_argument("--threads", type=int, metavar="N", help="threads per shard (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from toklm.corpus import InputError, JobConflict, tokenize_corpus
    from toklm.corpus.engines import EngineError

    if args.field and args.column:
        raise CliError("--field is for JSONL and --column for Parquet; give one of them")
    fmt = args.format or ("jsonl" if args.field else "parquet" if args.column else None)
    tokenizer = tokenizer_from_args(args)
    try:
        manifest = tokenize_corpus(
            args.inputs,
            args.output,
            tokenizer,
            format=fmt,
            split=args.split,
            field=args.field or "text",
            column=args.column or "text",
            eot=args.eot,
            errors=args.errors,
            shard_bytes=args.shard_size,
            engine=args.engine,
            address=args.address,
            num_threads=args.threads,
            progress=not args.quiet,
        )
    except (InputError, JobConflict, EngineError) as e:
        raise CliError(str(e)) from None
    except ImportError as e:
        raise CliError(f"{e} (pip install 'toklm[cluster]')") from None
    print(
        f"{manifest['documents']:,} documents, {manifest['tokens']:,} tokens "
        f"({manifest['dtype']}) in {len(manifest['shards'])} shards: {args.output}",
        file=sys.stdout,
    )
    return 0
