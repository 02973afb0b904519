"""The `toklm` command line: one sub-command module per feature.

Each module in `COMMAND_MODULES` exposes `register(subparsers)`, which adds its sub-commands and
sets `func` on each parser; `func(args)` returns the exit status.

Every sub-command gets the same endings from `main`, without code of its own:

* a user mistake (`CliError`, and the ValueError/KeyError/OSError of bad input) is one line
  ``toklm: error: ...`` on stderr, exit status 2, no traceback;
* a missing optional package (`require_extra`, or any ImportError of a module in
  `OPTIONAL_MODULES`) is one line naming the extra to install, exit status 2;
* a closed stdout (``toklm demo | head -1``) ends quietly with status 141 (128 + SIGPIPE),
  what a shell reports for a command that a broken pipe stopped;
* Ctrl-C ends with status 130.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from toklm.cli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OPTIONAL_MODULES,
    CliError,
    MissingExtra,
    missing_extra_message,
    require_extra,
    set_running,
)

__all__ = [
    "CliError", "MissingExtra", "OPTIONAL_MODULES", "build_parser", "main", "require_extra",
]  # fmt: skip

COMMAND_MODULES = (
    "toklm.cli.demo",
    "toklm.cli.tokens",
    "toklm.cli.economics",
    "toklm.cli.models",
    "toklm.cli.corpus",
    "toklm.cli.train",
    "toklm.cli.playground",
    "toklm.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toklm", description="Exact, fast tokenizers and small language models."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _is_broken_pipe(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno == errno.EPIPE


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so that the flush at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _error(message: object) -> int:
    print(f"toklm: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Run one `toklm` command line and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        set_running(args.command)
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a broken pipe surfaces here, inside the handlers below
        return status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CliError as e:
        return _error(e)
    except ImportError as e:
        message = missing_extra_message(e)
        if message is None:
            raise
        return _error(message)
    except (ValueError, KeyError, OSError, TypeError) as e:
        if _is_broken_pipe(e):
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        return _error(msg)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
