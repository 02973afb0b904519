"""`--engine dask` and `--engine ray` on local clusters started for the job: the same bytes as
`--engine local`. Under CI=true a missing engine fails instead of skipping."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest
from toklm.corpus import tokenize_corpus

from .helpers import dir_bytes, sample_corpora


def need(module: str) -> ModuleType:
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    tmp = tmp_path_factory.mktemp("engines")
    inputs = sample_corpora(tmp, 150_000)
    out = tmp / "local"
    tokenize_corpus(inputs, str(out), "cl100k_base", eot=True, shard_bytes=100_000)
    return inputs, out


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_cluster_output_equals_local(
    engine: str, local_run: tuple[list[str], Path], tmp_path: Path, monkeypatch
) -> None:
    need("dask.distributed" if engine == "dask" else "ray")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    inputs, local = local_run
    out = tmp_path / engine
    manifest = tokenize_corpus(
        inputs, str(out), "cl100k_base", eot=True, shard_bytes=100_000, engine=engine
    )
    assert len(manifest["shards"]) > 4
    assert dir_bytes(out) == dir_bytes(local)


def test_custom_encoding_travels_by_value_to_dask(tmp_path: Path, monkeypatch) -> None:
    need("dask.distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    import toklm

    base = toklm.get_encoding("gpt2")
    custom = toklm.Encoding(
        "gpt2-custom",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens={"<|endoftext|>": 50256, "<|sep|>": 50257},
    )
    src = tmp_path / "in.txt"
    src.write_text("hello world\n" * 50 + "<|sep|> stays text\n")
    m = tokenize_corpus([str(src)], str(tmp_path / "d"), custom, engine="dask", shard_bytes=200)
    assert m["job"]["tokenizer"]["name"] == "gpt2-custom" and "sha256" in m["job"]["tokenizer"]
    tokenize_corpus([str(src)], str(tmp_path / "l"), custom, shard_bytes=200)
    assert dir_bytes(tmp_path / "d") == dir_bytes(tmp_path / "l")
