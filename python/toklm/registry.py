"""Encodings by name: `get_encoding` and `list_encoding_names`, as in tiktoken.

The OpenAI encodings come from `toklm.openai_public`. Third-party encodings plug in the way
tiktoken's do: a module in the `toklm_ext` namespace package (any installed distribution may add
one, e.g. `toklm_ext/my_encodings.py`) defining `ENCODING_CONSTRUCTORS = {name: constructor}`,
where each constructor returns the keyword arguments of `toklm.Encoding`.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
import importlib.util
import pkgutil
import threading
from collections.abc import Callable
from typing import Any

from toklm.encoding import Encoding

PLUGIN_NAMESPACE = "toklm_ext"

# Re-entrant: a plugin constructor may itself call get_encoding.
_lock = threading.RLock()
# Encodings are built once and kept for the life of the process, as tiktoken does.
_ENCODINGS: dict[str, Encoding] = {}
_CONSTRUCTORS: dict[str, Callable[[], dict[str, Any]]] | None = None


@functools.cache
def _plugin_modules() -> tuple[str, ...]:
    """Names of the modules inside the `toklm_ext` namespace package (none if it is absent)."""
    if importlib.util.find_spec(PLUGIN_NAMESPACE) is None:
        return ()
    namespace = importlib.import_module(PLUGIN_NAMESPACE)
    return tuple(
        name for _, name, _ in pkgutil.iter_modules(namespace.__path__, PLUGIN_NAMESPACE + ".")
    )


def _constructors() -> dict[str, Callable[[], dict[str, Any]]]:
    global _CONSTRUCTORS
    with _lock:
        if _CONSTRUCTORS is not None:
            return _CONSTRUCTORS
        from toklm import openai_public

        found = dict(openai_public.ENCODING_CONSTRUCTORS)
        for module_name in _plugin_modules():
            module = importlib.import_module(module_name)
            plugin = getattr(module, "ENCODING_CONSTRUCTORS", None)
            if not isinstance(plugin, dict):
                raise ValueError(
                    f"toklm plugin {module_name} does not define an ENCODING_CONSTRUCTORS dict"
                )
            for name, constructor in plugin.items():
                if name in found:
                    raise ValueError(
                        f"Duplicate encoding name {name} in toklm plugin {module_name}"
                    )
                found[name] = constructor
        # Only publish a complete table, so a failing plugin raises again on the next call.
        _CONSTRUCTORS = found
        return found


def get_encoding(encoding_name: str) -> Encoding:
    """The encoding called `encoding_name`, built on first use and then shared.

    >>> get_encoding("cl100k_base").encode("hello world")
    [15339, 1917]
    """
    if not isinstance(encoding_name, str):
        raise TypeError(f"Expected a string in get_encoding, got {type(encoding_name).__name__}")
    enc = _ENCODINGS.get(encoding_name)
    if enc is not None:
        return enc
    with _lock:
        enc = _ENCODINGS.get(encoding_name)
        if enc is not None:
            return enc
        constructors = _constructors()
        if encoding_name not in constructors:
            raise ValueError(
                f"Unknown encoding {encoding_name}.\n"
                f"Plugins found: {list(_plugin_modules())}\n"
                f"Known encodings: {', '.join(constructors)}"
            )
        enc = Encoding(**constructors[encoding_name]())
        _ENCODINGS[encoding_name] = enc
        return enc


def list_encoding_names() -> list[str]:
    """Names accepted by `get_encoding`, the OpenAI ones first.

    >>> list_encoding_names()[:3]
    ['gpt2', 'r50k_base', 'p50k_base']
    """
    return list(_constructors())


def is_shared(encoding: object) -> bool:
    """Whether `encoding` is the one `get_encoding` returns for its name (it then pickles, and
    can be sent to other processes, by name).

    >>> is_shared(get_encoding("gpt2"))
    True
    """
    name = getattr(encoding, "name", None)
    return isinstance(name, str) and _ENCODINGS.get(name) is encoding


def _pickle_encoding(encoding: Encoding) -> tuple[Any, ...]:
    """Shared encodings pickle by name (unpickling returns the shared one); others by value."""
    if is_shared(encoding):
        return (get_encoding, (encoding.name,))
    return encoding.__reduce_ex__(2)


copyreg.pickle(Encoding, _pickle_encoding)
