"""Helpers of the corpus tests: sample inputs cut from the shared corpora, output comparison."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import shared_path

CORPORA = ("en.txt", "en_sotu.txt", "ko.txt", "ja.txt", "zh.txt", "code.txt")


def sample_corpora(tmp: Path, nbytes: int) -> list[str]:
    """The first `nbytes` (cut after a newline) of each shared corpus, as files under `tmp`."""
    paths = []
    for name in CORPORA:
        data = shared_path(f"corpora/{name}").read_bytes()[:nbytes]
        data = data[: data.rfind(b"\n") + 1]
        path = tmp / name
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def reference_documents(text: str, split: str) -> list[str]:
    """The documents of `text`, written independently of toklm.corpus.inputs."""
    if split == "file":
        return [text]
    lines = text.split("\n")
    # A line followed by a newline loses the \r of a \r\n (the last line has no newline).
    cut = [line[:-1] if line.endswith("\r") and i < len(lines) - 1 else line
           for i, line in enumerate(lines)]  # fmt: skip
    if split == "lines":
        return [line for line in cut if line]
    docs, para = [], []
    for i, line in enumerate(lines):
        blank = re.fullmatch(r"[ \t\r\f\v]*", line) is not None
        if not blank:
            para.append(line)
        if para and (blank or i == len(lines) - 1):
            para[-1] = cut[i - 1] if blank else cut[i]
            docs.append("\n".join(para))
            para = []
    return docs


def dir_bytes(path: str | Path) -> dict[str, bytes]:
    """Every file of an output directory, by name."""
    return {name: Path(path, name).read_bytes() for name in sorted(os.listdir(path))}
