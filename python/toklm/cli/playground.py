"""`toklm playground`: a local web page that shows how 1-4 tokenizers split text.

$ toklm playground --open
toklm playground: http://127.0.0.1:8765/  (Ctrl-C to stop)
"""

from __future__ import annotations

import argparse

from toklm.cli import CliError, require_extra
from toklm.playground import DEFAULT_HOST, DEFAULT_MAX_CHARS, DEFAULT_PORT


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _port(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0: any free port), got {n}")
    return n


def _run(args: argparse.Namespace) -> int:
    require_extra("starlette", "web")
    require_extra("uvicorn", "web")
    from toklm.playground.server import serve

    try:
        serve(
            args.host,
            args.port,
            tokenizers=args.tokenizer,
            max_chars=args.max_chars,
            open_browser=args.open,
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `toklm playground` to `sub`."""
    p = sub.add_parser(
        "playground",
        help="a local web page that shows the tokens",
        description="Serve a web page that shows how 1-4 tokenizers split a text, side by side, "
        "with counts, cost and the token premium over English. Nothing is loaded from the "
        "internet; the server listens on this machine only unless --host says otherwise.",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 opens "
        "it to the network)",
    )
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument(
        "--tokenizer",
        action="append",
        default=[],
        metavar="PATH",
        help="also offer this tokenizer: a Hugging Face tokenizer directory or tokenizer.json, "
        "or a .tiktoken file (repeatable)",
    )
    p.add_argument(
        "--max-chars",
        type=_positive,
        default=DEFAULT_MAX_CHARS,
        metavar="N",
        help=f"refuse texts longer than N characters (default {DEFAULT_MAX_CHARS:,})",
    )
    p.set_defaults(func=_run)
