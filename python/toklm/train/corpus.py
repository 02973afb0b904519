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


Progress = Callable[[str, int, int], object]


def feed(
    trainer: _core.BpeTrainer,
    corpus: Corpus,
    *,
    errors: str = "strict",
    progress: Progress | None = None,
) -> None:
    """Count the pieces of `corpus` into `trainer`.

    `progress("read", bytes_so_far, total_bytes)` is called after each block (total_bytes is
    the size of the files, 0 for texts).

    >>> t = _core.BpeTrainer(r"\\S+|\\s+"); feed(t, ["ab ab", "cd"]); t.n_pieces(), t.n_bytes()
    (3, 7)
    """
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
    replace = errors == "replace"
    if isinstance(corpus, (str, os.PathLike)):
        corpus = [Path(corpus)]
    total = 0
    if isinstance(corpus, (list, tuple)):
        total = sum(
            os.path.getsize(p) for p in corpus if isinstance(p, os.PathLike) and os.path.isfile(p)
        )
    batch: list[str] = []
    size = 0

    def report(n: int | None = None) -> None:
        if progress is not None:
            progress("read", trainer.n_bytes() if n is None else n, total)

    def flush() -> None:
        nonlocal batch, size
        if batch:
            _add_texts(trainer, batch, replace)
            batch, size = [], 0
            report()

    for item in corpus:
        if isinstance(item, os.PathLike):
            flush()
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: no such file")
            base = trainer.n_bytes()
            trainer.add_file(path, replace, lambda n, base=base: report(base + n))
        elif isinstance(item, str):
            batch.append(item)
            size += len(item)
            if size >= _BATCH_CHARS:
                flush()
        else:
            raise TypeError(
                f"a corpus holds paths (os.PathLike) or texts (str), got {type(item).__name__}"
            )
    flush()


def _add_texts(trainer: _core.BpeTrainer, batch: list[str], replace: bool) -> None:
    """Send texts to the trainer; lone surrogates are an error unless replaced."""
    try:
        trainer.add_texts(batch)
        return
    except UnicodeEncodeError:
        if not replace:
            for text in batch:
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ValueError(
                        f"text is not valid Unicode (lone surrogate at character {e.start}: "
                        f"{text[max(0, e.start - 20) : e.start]!r}...); pass errors='replace'"
                    ) from None
            raise
    trainer.add_texts([t.encode("utf-8", "replace").decode("utf-8") for t in batch])
