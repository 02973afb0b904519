"""Shared test helpers: the `../shared` data directory and reference tiktoken encodings."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

BLOB = "https://openaipublic.blob.core.windows.net"
# tiktoken 0.14 reads these URLs; its cache names a file sha1(url).
TIKTOKEN_SOURCES = {
    f"{BLOB}/gpt-2/encodings/main/vocab.bpe": "tokenizers/gpt2/merges.txt",
    f"{BLOB}/gpt-2/encodings/main/encoder.json": "tokenizers/gpt2/vocab.json",
    f"{BLOB}/encodings/r50k_base.tiktoken": "tokenizers/tiktoken/r50k_base.tiktoken",
    f"{BLOB}/encodings/p50k_base.tiktoken": "tokenizers/tiktoken/p50k_base.tiktoken",
    f"{BLOB}/encodings/cl100k_base.tiktoken": "tokenizers/tiktoken/cl100k_base.tiktoken",
    f"{BLOB}/encodings/o200k_base.tiktoken": "tokenizers/tiktoken/o200k_base.tiktoken",
}


def shared_path(relative: str) -> Path:
    """A path under ../shared; skips the test when it is absent (fails under CI=true)."""
    path = SHARED / relative
    if not path.exists():
        message = f"shared data not found: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def tiktoken_ref(tmp_path_factory: pytest.TempPathFactory):
    """`name -> tiktoken.Encoding`, tiktoken 0.14 loading the local files (no network)."""
    tiktoken = pytest.importorskip("tiktoken")
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for url, rel in TIKTOKEN_SOURCES.items():
        shutil.copyfile(shared_path(rel), cache / hashlib.sha1(url.encode()).hexdigest())
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    yield tiktoken.get_encoding
    if old is None:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = old
