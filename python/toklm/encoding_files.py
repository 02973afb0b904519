"""The files of a saved encoding: a `.tiktoken` file plus a JSON sidecar.

`PATH` holds the mergeable ranks in tiktoken's format (`base64(token) rank` per line), so
`tiktoken.load.load_tiktoken_bpe(PATH)` reads it; `PATH.json` holds what the ranks do not: the
name, the pattern and the special tokens. Both are written atomically (a temporary file in the
same directory, then a rename), the ranks first, so an interrupted save leaves no half file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toklm.load import load_tiktoken_bpe, tiktoken_bpe_bytes

if TYPE_CHECKING:
    from toklm.encoding import Encoding

FORMAT = "toklm-encoding/1"


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the JSON beside a `.tiktoken` file lives.

    >>> str(sidecar_path("out/ko.tiktoken"))
    'out/ko.tiktoken.json'
    """
    p = Path(path)
    return p.with_name(p.name + ".json")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename.

    >>> import tempfile, os; p = os.path.join(tempfile.mkdtemp(), "x")
    >>> write_atomic(p, b"hi"); open(p, "rb").read()
    b'hi'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file is like any other
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_encoding(encoding: Encoding, path: str | os.PathLike[str]) -> None:
    """Write `encoding` to `path` (ranks) and `path.json` (name, pattern, special tokens).

    >>> import tempfile, os, toklm
    >>> p = os.path.join(tempfile.mkdtemp(), "gpt2.tiktoken")
    >>> save_encoding(toklm.get_encoding("gpt2"), p); read_encoding(p)["name"]
    'gpt2'
    """
    meta: dict[str, Any] = {
        "format": FORMAT,
        "name": encoding.name,
        "pat_str": encoding.pat_str,
        "special_tokens": encoding._special_tokens,
        "n_vocab": encoding.n_vocab,
    }
    write_atomic(path, tiktoken_bpe_bytes(encoding._mergeable_ranks))
    write_atomic(sidecar_path(path), json.dumps(meta, ensure_ascii=False, indent=1).encode())


def read_encoding(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The keyword arguments of `toklm.Encoding` for the files `Encoding.save` wrote.

    >>> import tempfile, os, toklm
    >>> p = os.path.join(tempfile.mkdtemp(), "cl.tiktoken")
    >>> toklm.get_encoding("cl100k_base").save(p); len(read_encoding(p)["mergeable_ranks"])
    100256
    """
    meta_path = sidecar_path(path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{meta_path}: missing (it holds the pattern and special tokens of {path}); "
            "for a bare .tiktoken file use toklm.Encoding(name, pat_str=..., "
            "mergeable_ranks=toklm.load.load_tiktoken_bpe(path), special_tokens=...)"
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{meta_path}: not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: not a toklm encoding file (format {FORMAT!r} expected)")
    return {
        "name": str(meta.get("name", Path(path).stem)),
        "pat_str": meta["pat_str"],
        "mergeable_ranks": load_tiktoken_bpe(os.fspath(path)),
        "special_tokens": {str(k): int(v) for k, v in meta["special_tokens"].items()},
    }
