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
    from toklm.corpus.encoder import EncoderSpec

    spec = EncoderSpec.of(custom)  # the ranks as a compact blob, not a pickled dict
    assert spec.kind == "compact" and len(spec.value) < 500_000
    tokenize_corpus([str(src)], str(tmp_path / "l"), custom, shard_bytes=200)
    assert dir_bytes(tmp_path / "d") == dir_bytes(tmp_path / "l")


def test_existing_dask_cluster_from_the_environment(
    local_run: tuple[list[str], Path], tmp_path: Path, monkeypatch
) -> None:
    distributed = need("dask.distributed")
    inputs, local = local_run
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        from tests.cli.runner import toklm

        proc = toklm("tokenize", *inputs, "-e", "cl100k_base", "--eot", "--shard-size", "100000",
                     "--engine", "dask", "-q", "-o", str(tmp_path / "env"),
                     env={"DASK_SCHEDULER_ADDRESS": cluster.scheduler_address})  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert dir_bytes(tmp_path / "env") == dir_bytes(local)


def test_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    need("dask.distributed")
    from tests.cli.runner import assert_one_line_error, toklm

    src = tmp_path / "in.txt"
    src.write_text("hello\n")
    proc = toklm("tokenize", str(src), "--engine", "dask", "--address", "tcp://127.0.0.1:9",
                 "-q", "-o", str(tmp_path / "o"))  # fmt: skip
    assert_one_line_error(proc, "Dask scheduler at tcp://127.0.0.1:9")


def test_datasets_map_fn_equals_encode_batch() -> None:
    datasets = need("datasets")
    import toklm
    from toklm.corpus import datasets_map_fn

    enc = toklm.get_encoding("o200k_base")
    texts = ["hello world", "", "안녕하세요 🎉", "<|endoftext|> is text here"] * 50
    ds = datasets.Dataset.from_dict({"body": texts})
    fn = datasets_map_fn(enc, column="body", output="ids", eot=enc.eot_token)
    mapped = ds.map(fn, batched=True, batch_size=64, remove_columns=["body"])
    assert mapped["ids"] == [ids + [enc.eot_token] for ids in enc.encode_ordinary_batch(texts)]
