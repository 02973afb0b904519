"""The `toklm` command line: one sub-command module per feature.

Each module in `COMMAND_MODULES` exposes `register(subparsers)`, which adds its sub-commands and
sets `func` on each parser; `func(args)` returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "toklm.cli.demo",
    "toklm.cli.tokens",
    "toklm.cli.economics",
    "toklm.cli.models",
)


class CliError(Exception):
    """An error reported to the user as one line on stderr, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toklm", description="Exact, fast tokenizers and small language models."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"toklm: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, OSError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"toklm: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
