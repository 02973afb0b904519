"""Feeding a corpus (file paths or an iterable of texts) into the native trainer.

A corpus is one path (`str` or `os.PathLike`), an iterable of paths (`os.PathLike`), or an
iterable of texts (`str`), each text split on its own. Files are streamed by the Rust core in
blocks, so their size is not limited by memory; texts are sent in batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Union

from toklm import _core

Corpus = Union[str, "os.PathLike[str]", Iterable[Union[str, "os.PathLike[str]"]]]

# Texts are handed to the native trainer in batches of about this many characters.
_BATCH_CHARS = 8 << 20


def feed(
    trainer: _core.BpeTrainer,
    corpus: Corpus,
    *,
    errors: str = "strict",
    progress: Callable[[int], None] | None = None,
) -> None:
    """Count the pieces of `corpus` into `trainer`; `progress(bytes_so_far)` after each block.

    >>> t = _core.BpeTrainer(r"\\S+|\\s+"); feed(t, ["ab ab", "cd"]); t.n_pieces(), t.n_bytes()
    (3, 7)
    """
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
    replace = errors == "replace"
    if isinstance(corpus, (str, os.PathLike)):
        corpus = [Path(corpus)]
    done = 0
    batch: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size, done
        if batch:
            trainer.add_texts(batch)
            done += sum(len(t.encode("utf-8", "surrogatepass")) for t in batch)
            batch, size = [], 0
            if progress is not None:
                progress(done)

    for item in corpus:
        if isinstance(item, os.PathLike):
            flush()
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: no such file")
            base = done

            def report(n: int, base: int = base) -> None:
                if progress is not None:
                    progress(base + n)

            trainer.add_file(path, replace, report)
            done = base + os.path.getsize(path)
        elif isinstance(item, str):
            if not replace:
                _check_surrogates(item)
            else:
                item = item.encode("utf-8", "replace").decode("utf-8")
            batch.append(item)
            size += len(item)
            if size >= _BATCH_CHARS:
                flush()
        else:
            raise TypeError(
                f"a corpus holds paths (os.PathLike) or texts (str), got {type(item).__name__}"
            )
    flush()


def _check_surrogates(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"text is not valid Unicode (lone surrogate at character {e.start}); "
            "pass errors='replace' to replace it"
        ) from None
