"""The command line's view of `toklm.resolve`: the same resolvers, with a name that names no
tokenizer reported as a `CliError` (one line, exit status 2).

>>> resolve_tokenizer("gpt-4o").name
'o200k_base'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from toklm import resolve
from toklm.cli.errors import CliError
from toklm.resolve import DEFAULT_ENCODING, HF_PREFIX

__all__ = [
    "DEFAULT_ENCODING", "HF_PREFIX", "resolve_model", "resolve_tokenizer", "resolve_tokenizers",
]  # fmt: skip

_F = TypeVar("_F", bound=Callable[..., Any])


def _as_cli_error(resolver: _F) -> _F:
    @functools.wraps(resolver)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return resolver(*args, **kwargs)
        except resolve.UnknownTokenizer as e:
            raise CliError(str(e)) from None

    return wrapped  # type: ignore[return-value]


resolve_model = _as_cli_error(resolve.resolve_model)
resolve_tokenizer = _as_cli_error(resolve.resolve_tokenizer)
resolve_tokenizers = _as_cli_error(resolve.resolve_tokenizers)
