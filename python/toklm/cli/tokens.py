"""`toklm encode`, `toklm decode`, `toklm count`: the tokenizer on the command line, like `ttok`.

    $ toklm count "Hello world, we are Gmarket. 🎉"
    10
    $ toklm encode -e gpt2 "Hello world"
    15496 995
    $ toklm encode -e gpt2 "Hello world" | toklm decode -e gpt2
    Hello world

Text comes from the arguments (joined by spaces), from files (-i), or from stdin. Output is plain
by default and a JSON object with --json.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from toklm.cli import CliError
from toklm.cli._resolve import DEFAULT_ENCODING, resolve_model, resolve_tokenizer
from toklm.economics.measure import is_fragment, measure, tokenizer_label
from toklm.economics.render import plain_tokens, write_json
from toklm.economics.textio import DecodeReport, Source, iter_text


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


def add_input_options(p: argparse.ArgumentParser, *, several: bool) -> None:
    p.add_argument("text", nargs="*", help="text (arguments are joined by spaces); stdin if none")
    p.add_argument(
        "-i",
        "--input",
        action="append" if several else "store",
        metavar="FILE",
        help="read FILE ('-' for stdin)" + (", repeatable" if several else ""),
    )
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="invalid UTF-8: stop with its location (strict, default) or count U+FFFD in place",
    )


def tokenizer_from_args(args: argparse.Namespace) -> Any:
    if args.model:
        return resolve_model(args.model)
    return resolve_tokenizer(args.encoding or DEFAULT_ENCODING)


def sources_from_args(args: argparse.Namespace) -> list[Source]:
    files = args.input if isinstance(args.input, list) else [args.input] if args.input else []
    sources = [Source.from_arg(" ".join(args.text))] if args.text else []
    if sources and files:
        raise CliError("give text arguments or --input files, not both")
    return sources or [Source.from_path(f) for f in files] or [Source.stdin()]


def print_notes(reads: list[tuple[str, DecodeReport]]) -> None:
    """Say on stderr how invalid UTF-8 was handled (errors="replace"), one line per source."""
    for label, read in reads:
        note = read.note(label)
        if note:
            print(f"toklm: note: {note}", file=sys.stderr)


def _read_all(source: Source, errors: str) -> tuple[str, DecodeReport]:
    read = DecodeReport()
    return "".join(iter_text(source, errors=errors, report=read)), read


def _encode(args: argparse.Namespace) -> int:
    tok = tokenizer_from_args(args)
    (source,) = sources_from_args(args)
    text, read = _read_all(source, args.errors)
    if args.allow_special:
        ids = tok.encode(text, allowed_special="all")
    elif args.special_as_text:
        ids = tok.encode_ordinary(text)
    else:
        special = _find_special(tok, text)
        if special is not None:
            raise CliError(
                f"{source.label} contains the special token {special!r}: pass --allow-special "
                "to encode it as that token, or --special-as-text to encode it as plain text"
            )
        ids = tok.encode_ordinary(text)
    print_notes([(source.label, read)])
    pieces = [tok.decode_single_token_bytes(i) for i in ids] if args.tokens else []
    shown = plain_tokens(*_pieces(pieces)) if args.tokens else " ".join(map(str, ids))
    if args.json:
        out: dict[str, Any] = {"encoding": tokenizer_label(tok), "tokens": len(ids), "ids": ids}
        if args.tokens:
            out["pieces"], out["piece_is_fragment"] = _pieces(pieces)
        write_json(out)
    else:
        print(shown)
    return 0


def _pieces(pieces: list[bytes]) -> tuple[list[str], list[bool]]:
    from toklm.economics.compare import piece_text

    return [piece_text(b) for b in pieces], [is_fragment(b) for b in pieces]


def _find_special(tok: Any, text: str) -> str | None:
    """The first special-token string in `text`, if the tokenizer has special tokens."""
    specials = getattr(tok, "special_tokens_set", None)
    if not specials:
        return None
    found = re.search("|".join(map(re.escape, sorted(specials, key=len, reverse=True))), text)
    return found.group() if found else None


_ID_SEPARATORS = re.compile(r"[\s,\[\]]+")


def _parse_ids(words: list[str], where: str) -> list[int]:
    ids = []
    for n, word in enumerate(w for w in _ID_SEPARATORS.split(" ".join(words)) if w):
        if not word.isdigit() or not word.isascii():
            raise CliError(f"not a token id: {word!r} ({where}, item {n + 1})")
        ids.append(int(word))
    return ids


def _decode(args: argparse.Namespace) -> int:
    tok = tokenizer_from_args(args)
    if args.ids:
        ids = _parse_ids(args.ids, "arguments")
    else:
        text, _ = _read_all(Source.stdin(), "strict")
        ids = _parse_ids([text], "stdin")
    try:
        data = tok.decode_bytes(ids)
    except KeyError as e:
        msg = e.args[0] if e.args else e
        raise CliError(f"{msg} (encoding {tokenizer_label(tok)}, n_vocab {tok.n_vocab})") from None
    if args.bytes:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        text = data.decode("utf-8", "replace")
        print(
            f"toklm: note: the tokens are not valid UTF-8 (first at byte {e.start}: {e.reason}); "
            "shown with U+FFFD in place of invalid bytes (--bytes writes the raw bytes)",
            file=sys.stderr,
        )
    if args.json:
        write_json({"encoding": tokenizer_label(tok), "tokens": len(ids), "text": text})
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _count(args: argparse.Namespace) -> int:
    tok = tokenizer_from_args(args)
    sources = sources_from_args(args)
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
        description="Encode text to token ids (arguments, -i FILE or stdin).",
    )
    add_tokenizer_options(p)
    add_input_options(p, several=False)
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
        description="Count tokens exactly, streaming files of any size in bounded memory. "
        "Special-token text counts as plain text.",
    )
    add_tokenizer_options(p)
    add_input_options(p, several=True)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_count)
