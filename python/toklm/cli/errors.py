"""How the command line ends: user errors, missing optional packages, exit statuses.

A sub-command that needs an optional package asks for it with `require_extra`:

    torch = require_extra("torch", "models")   # the module, or one line naming the extra

`main` turns the `MissingExtra` it raises (and any `ModuleNotFoundError` of a module listed in
`OPTIONAL_MODULES`, should one slip through) into ``toklm: error: ...`` and exit status 2.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "EXIT_USAGE", "OPTIONAL_MODULES", "CliError",
    "MissingExtra", "missing_extra_message", "require_extra", "set_running",
]  # fmt: skip

EXIT_USAGE = 2  # a user mistake, as argparse exits for a bad flag
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`'s `yes`

# Top-level module -> the toklm extra (pyproject.toml) that installs it.
OPTIONAL_MODULES = {
    "torch": "models",
    "safetensors": "models",
    "matplotlib": "economics",
    "rich": "economics",  # a plain dependency since issue 8; named for installs that predate it
    "huggingface_hub": "hub",
    "fastapi": "web",
    "starlette": "web",
    "uvicorn": "web",
    "jinja2": "web",
    "dask": "cluster",
    "distributed": "cluster",
    "ray": "cluster",
    "pyarrow": "cluster",
}


class CliError(Exception):
    """An error reported to the user as one line on stderr, without a traceback (exit 2)."""


class MissingExtra(CliError):
    """An optional package that a sub-command needs is not installed."""


# The sub-command being run ("toklm embed"), set by `main` once the arguments are parsed.
_running = ["toklm"]


def set_running(command: str | None) -> None:
    """Name the sub-command being run, for the messages of `require_extra`."""
    _running[0] = f"toklm {command}" if command else "toklm"


def _command() -> str:
    return _running[0]


def _message(module: str, extra: str, missing: str | None = None) -> str:
    what = (
        f"the '{module}' package"
        if not missing or missing == module
        else (f"the '{module}' package (its dependency '{missing}' is missing)")
    )
    return (
        f"{_command()} needs {what}, which is not installed: "
        f"pip install 'toklm[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
    )


def require_extra(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise `MissingExtra` with one line naming the extra that installs it.

    >>> require_extra("json", "models").__name__
    'json'
    >>> require_extra("no_such_module_xyz", "models")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    toklm.cli.errors.MissingExtra: toklm... needs the 'no_such_module_xyz' package, ...
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise MissingExtra(_message(module, extra, e.name)) from None


def missing_extra_message(e: ImportError) -> str | None:
    """The one-line message for a `ModuleNotFoundError` of an optional module, else None.

    >>> missing_extra_message(ModuleNotFoundError("No module named 'torch'", name="torch"))
    ... # doctest: +ELLIPSIS
    "toklm... needs the 'torch' package, which is not installed: pip install 'toklm[models]' ..."
    >>> missing_extra_message(ModuleNotFoundError("x", name="numpy")) is None
    True
    """
    if not isinstance(e, ModuleNotFoundError) or not e.name:
        return None
    top = e.name.split(".")[0]
    extra = OPTIONAL_MODULES.get(top)
    return None if extra is None else _message(top, extra)
