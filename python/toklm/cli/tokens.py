"""`toklm encode`, `toklm decode`, `toklm count`: the tokenizer on the command line, like `ttok`.

    $ toklm count --text "Hello world, we are Gmarket. 🎉"
    10
    $ toklm count -e cl100k_base README.md        # files, like wc; '-' or none: stdin
    $ toklm encode -e gpt2 "Hello world"
    15496 995
    $ toklm encode -e gpt2 "Hello world" | toklm decode -e gpt2
    Hello world

Measuring (count) takes FILE arguments, like wc, and --text for a literal text; showing (encode)
takes TEXT arguments, and -i FILE for a file. Output is plain by default and a JSON object with
--json.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from toklm.cli import CliError
from toklm.cli._resolve import DEFAULT_ENCODING, resolve_model, resolve_tokenizer
from toklm.cli.decode_stream import IdReader, write_decoding
from toklm.cli.encode_stream import EncodeOptions, write_encoding
from toklm.economics.measure import measure, tokenizer_label
from toklm.economics.render import write_json
from toklm.economics.textio import DecodeReport, Source


def add_tokenizer_options(p: argparse.ArgumentParser) -> None:
    """-e/--encoding or -m/--model (one of them): the tokenizer of encode/decode/count."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "-e",
        "--encoding",
        metavar="NAME",
        help=f"encoding (default {DEFAULT_ENCODING}), or hf:REPO_OR_PATH for a Hugging Face "
        "tokenizer",
    )
    g.add_argument("-m", "--model", metavar="MODEL", help="use the encoding of an OpenAI model")


def add_errors_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="invalid UTF-8: stop with its location (strict, default) or count U+FFFD in place",
    )


def add_text_input_options(p: argparse.ArgumentParser) -> None:
    """A showing command (encode): TEXT arguments, or -i FILE, or stdin."""
    p.add_argument("text", nargs="*", help="text (arguments are joined by spaces); stdin if none")
    p.add_argument("-i", "--input", metavar="FILE", help="read FILE ('-' for stdin)")
    add_errors_option(p)


def add_file_input_options(p: argparse.ArgumentParser) -> None:
    """A measuring command (count), like wc: FILE arguments ('-' or none: stdin), or --text."""
    p.add_argument("files", nargs="*", metavar="FILE", help="files to read ('-' or none: stdin)")
    p.add_argument(
        "-i", "--input", action="append", default=[], metavar="FILE", help=argparse.SUPPRESS
    )
    p.add_argument(
        "--text", action="append", default=[], metavar="TEXT", help="a literal text, repeatable"
    )
    add_errors_option(p)


def check_files(paths: list[str]) -> None:
    """Fail (before any output) on a FILE argument that is not a readable file."""
    for path in paths:
        if path == "-":
            continue
        if not os.path.exists(path):
            looks_like_text = " " in path or not (os.sep in path or "." in path)
            hint = " (to measure a text itself, pass it with --text)" if looks_like_text else ""
            raise CliError(f"{path}: no such file{hint}")
        if os.path.isdir(path):
            raise CliError(f"{path}: is a directory, not a file")


def note_if_file(args: argparse.Namespace, read_with: str) -> None:
    """A showing command given one argument that names a file: say that the text was used."""
    if len(args.text) == 1 and os.path.isfile(args.text[0]):
        print(
            f"toklm: note: {args.text[0]!r} is read as text, not as the file of that name; "
            f"use {read_with} {args.text[0]} for the file",
            file=sys.stderr,
        )


def tokenizer_from_args(args: argparse.Namespace) -> Any:
    if args.model:
        return resolve_model(args.model)
    return resolve_tokenizer(args.encoding or DEFAULT_ENCODING)


def text_source(args: argparse.Namespace) -> Source:
    """encode's one input: the TEXT arguments, -i FILE, or stdin."""
    if args.text and args.input:
        raise CliError("give text arguments or --input FILE, not both")
    if args.input:
        check_files([args.input])
        return Source.from_path(args.input)
    return Source.from_arg(" ".join(args.text)) if args.text else Source.stdin()


def file_sources(args: argparse.Namespace) -> list[Source]:
    """count's inputs: --text texts, then FILE arguments ('-' for stdin); stdin when none."""
    files = [*args.files, *args.input]
    check_files(files)
    texts = args.text
    sources = [
        Source.from_arg(t, "<text>" if len(texts) == 1 else f"<text {i}>")
        for i, t in enumerate(texts, 1)
    ]
    sources += [Source.from_path(f) for f in files]
    if sum(1 for f in files if f == "-") > 1:
        raise CliError("stdin ('-') can be read only once")
    return sources or [Source.stdin()]


def print_notes(reads: list[tuple[str, DecodeReport]]) -> None:
    """Say on stderr how invalid UTF-8 was handled (errors="replace"), one line per source."""
    for label, read in reads:
        note = read.note(label)
        if note:
            print(f"toklm: note: {note}", file=sys.stderr)


def _encode(args: argparse.Namespace) -> int:
    tok = tokenizer_from_args(args)
    source = text_source(args)
    note_if_file(args, "-i")
    opts = EncodeOptions(
        allow_special=args.allow_special,
        special_as_text=args.special_as_text,
        tokens=args.tokens,
        json=args.json,
        errors=args.errors,
    )
    read = write_encoding(tok, source, opts, sys.stdout)
    print_notes([(source.label, read)])
    return 0


def _decode(args: argparse.Namespace) -> int:
    tok = tokenizer_from_args(args)
    reader = IdReader(words=args.ids) if args.ids else IdReader(stream=sys.stdin.buffer)
    write_decoding(tok, reader, raw=args.bytes, as_json=args.json)
    return 0


def _count(args: argparse.Namespace) -> int:
    tok = tokenizer_from_args(args)
    sources = file_sources(args)
    results = measure(sources, [tok], errors=args.errors, quiet=args.quiet)
    print_notes([(r.source.label, r.read) for r in results])
    total = sum(r.tallies[0].tokens for r in results)
    if args.json:
        inputs = [
            {
                "input": r.source.label,
                "tokens": r.tallies[0].tokens,
                "bytes": r.read.bytes,
                "chars": r.read.chars,
                "invalid_utf8_replaced": r.read.replaced,
            }
            for r in results
        ]
        write_json({"encoding": tokenizer_label(tok), "tokens": total, "inputs": inputs})
    else:
        print(total)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `sub`."""
    p = sub.add_parser(
        "encode",
        help="text -> token ids",
        description="Encode text to token ids: the TEXT arguments, -i FILE, or stdin. Files "
        "and stdin are streamed: the ids are written as the input is read.",
    )
    add_tokenizer_options(p)
    add_text_input_options(p)
    p.add_argument("--tokens", action="store_true", help="show the tokens instead of the ids")
    special = p.add_mutually_exclusive_group()
    special.add_argument(
        "--allow-special", action="store_true", help="encode special-token text as those tokens"
    )
    special.add_argument(
        "--special-as-text", action="store_true", help="encode special-token text as plain text"
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=_encode)

    p = sub.add_parser(
        "decode",
        help="token ids -> text",
        description="Decode token ids (arguments or stdin; separated by spaces or commas).",
    )
    add_tokenizer_options(p)
    p.add_argument("ids", nargs="*", help="token ids; stdin if none")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print a JSON object")
    out.add_argument("--bytes", action="store_true", help="write the raw bytes, not text")
    p.set_defaults(func=_decode)

    p = sub.add_parser(
        "count",
        help="count tokens",
        description="Count the tokens of FILEs (like wc; '-' or no FILE: stdin) or of --text, "
        "exactly, streaming files of any size in bounded memory. Special-token text counts as "
        "plain text.",
    )
    add_tokenizer_options(p)
    add_file_input_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_count)
