"""The tokenize job: resume after a kill, refusing another job's directory, the reader, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from toklm import get_encoding
from toklm.corpus import InputError, JobConflict, TokenShards, tokenize_corpus

from tests.cli.runner import COMMAND, assert_one_line_error, toklm

from .helpers import dir_bytes, sample_corpora


def test_resume_after_kill_is_byte_identical(tmp_path: Path) -> None:
    inputs = sample_corpora(tmp_path, 400_000)
    args = [*inputs, "-e", "cl100k_base", "--eot", "--shard-size", "40k", "--threads", "1", "-q"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert toklm("tokenize", *args, "-o", str(whole)).returncode == 0
    # Kill a run once some shards are finished, before it is done.
    proc = subprocess.Popen([*COMMAND, "tokenize", *args, "-o", str(resumed)])
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".json" and p.stem.startswith("shard") for p in resumed.glob("*")):
        assert proc.poll() is None and time.monotonic() < deadline, "finished before the kill"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = json.loads((resumed / "manifest.json").read_text())
    assert manifest["complete"] is False
    n_shards = len(json.loads((whole / "manifest.json").read_text())["shards"])
    assert len(list(resumed.glob("shard-*.idx"))) < n_shards
    assert toklm("tokenize", *args, "-o", str(resumed)).returncode == 0
    assert dir_bytes(resumed) == dir_bytes(whole)
    # Run again on a finished directory: nothing changes.
    assert toklm("tokenize", *args, "-o", str(resumed)).returncode == 0
    assert dir_bytes(resumed) == dir_bytes(whole)


def test_another_jobs_directory_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("hello\nworld\n")
    out = tmp_path / "out"
    tokenize_corpus([str(src)], str(out), "gpt2")
    with pytest.raises(JobConflict, match=r"another job \(tokenizer.name: \"gpt2\" there"):
        tokenize_corpus([str(src)], str(out), "cl100k_base")
    with pytest.raises(JobConflict, match="eot"):
        tokenize_corpus([str(src)], str(out), "gpt2", eot=True)
    src.write_text("changed\n")
    with pytest.raises(JobConflict, match="inputs"):
        tokenize_corpus([str(src)], str(out), "gpt2")
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    proc = toklm("tokenize", str(src), "-o", str(stray))
    assert_one_line_error(proc, "is not empty")


def test_reader_documents_random_access_and_slices(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    lines = [f"document {i} " + "word " * (i % 7) for i in range(300)]
    src.write_text("\n".join(lines) + "\n")
    tokenize_corpus([str(src)], str(tmp_path / "out"), "gpt2", eot=True, shard_bytes=700)
    shards = TokenShards(tmp_path / "out")
    import toklm

    enc = toklm.get_encoding("gpt2")
    assert len(shards) == 300 and len(shards.shard_names) > 5
    assert [enc.decode(d.tolist()) for d in shards] == lines
    assert enc.decode(shards[-1].tolist()) == lines[-1]
    assert [enc.decode(d.tolist()) for d in shards[10:50:7]] == lines[10:50:7]
    assert shards[123].dtype == np.dtype("<u2")
    with pytest.raises(IndexError, match="300 documents"):
        shards[300]
    first, doc = shards.locate(150)
    offsets = shards.offsets(first)
    assert offsets[0] == 0 and offsets[-1] == len(shards.tokens(first))
    assert shards.tokens(first)[offsets[doc + 1] - 1] == enc.eot_token


def test_invalid_utf8_names_file_and_byte(tmp_path: Path) -> None:
    src = tmp_path / "bad.txt"
    src.write_bytes(b"fine line\nsecond \xff line\n")
    with pytest.raises(InputError, match=r"bad.txt: invalid UTF-8 at byte 17 \(0xff"):
        tokenize_corpus([str(src)], str(tmp_path / "a"), "gpt2")
    proc = toklm("tokenize", str(src), "-o", str(tmp_path / "b"), "-q")
    assert_one_line_error(proc, "bad.txt", "byte 17")
    tokenize_corpus([str(src)], str(tmp_path / "c"), "gpt2", errors="replace")
    import toklm as t

    assert (
        t.get_encoding("gpt2").decode(TokenShards(tmp_path / "c")[1].tolist())
        == "second \ufffd line"
    )


def test_jsonl_field_errors_name_the_line(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text('{"text": "a"}\n\n{"text": "b"}\n{"body": "c"}\n')
    with pytest.raises(InputError, match=r"d.jsonl:4: no field 'text' \(fields: 'body'\)"):
        tokenize_corpus([str(src)], str(tmp_path / "a"), "gpt2")
    proc = toklm("tokenize", str(src), "--field", "text", "-o", str(tmp_path / "b"), "-q")
    assert_one_line_error(proc, "d.jsonl:4", "no field 'text'")
    src.write_text('{"text": "a"}\n{"text": 5}\nnot json\n')
    with pytest.raises(InputError, match=r"d.jsonl:2: field 'text' is int"):
        tokenize_corpus([str(src)], str(tmp_path / "c"), "gpt2")
    src.write_text('{"body": "a"}\n{"body": "b \\ud83c\\udf89"}\n')
    tokenize_corpus([str(src)], str(tmp_path / "d"), "cl100k_base", field="body")
    import toklm as t

    enc = t.get_encoding("cl100k_base")
    assert [d.tolist() for d in TokenShards(tmp_path / "d")] == [
        enc.encode("a"),
        enc.encode("b 🎉"),
    ]


def test_parquet_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow") if os.environ.get("CI") != "true" else __import__("pyarrow")
    import pyarrow.parquet as pq

    texts = [f"row {i} " * (i % 5 + 1) for i in range(1000)]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(1000)), "content": texts}), path, row_group_size=100)
    tokenize_corpus([str(path)], str(tmp_path / "out"), "o200k_base", column="content",
                    shard_bytes=3000)  # fmt: skip
    import toklm

    enc = toklm.get_encoding("o200k_base")
    shards = TokenShards(tmp_path / "out")
    assert len(shards.shard_names) > 2
    assert [d.tolist() for d in shards] == enc.encode_ordinary_batch(texts)
    with pytest.raises(InputError, match=r"t.parquet: no column 'text' \(columns: id, content\)"):
        tokenize_corpus([str(path)], str(tmp_path / "x"), "gpt2")


def test_cli_bad_arguments(tmp_path: Path) -> None:
    proc = toklm("tokenize", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "o"))
    assert_one_line_error(proc, "missing.txt: no such file")
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    proc = toklm("tokenize", str(src), "-o", str(tmp_path / "o"), "--shard-size", "lots")
    assert proc.returncode == 2 and "not a size" in proc.stderr


def test_shards_sharing_the_cores_write_the_same_bytes(tmp_path: Path) -> None:
    # Blocks of 8 KB, so that a shard has many, and the threads of its blocks change while it
    # runs (one each while two shards run, two for the last one): the bytes of every shard
    # are those of a run on one thread per shard, and of one on two threads per block.
    from toklm.corpus.encoder import EncoderSpec
    from toklm.corpus.engines import run_shards
    from toklm.corpus.inputs import Source, plan_shards
    from toklm.corpus.shard import ShardJob

    inputs = sample_corpora(tmp_path, 40_000)
    source = Source()
    plans = plan_shards(inputs, source, 50_000)
    assert len(plans) > 3
    spec = EncoderSpec.of(get_encoding("cl100k_base"))
    outputs = []
    for threads in (0, 1, 2):  # 0: the local engine shares the cores block by block
        out = tmp_path / f"threads-{threads}"
        out.mkdir()
        job = ShardJob(spec, source, str(out), "uint32", 100257, threads, block_bytes=8 << 10)
        records = run_shards("local", job, plans, lambda record: None)
        assert [r["name"] for r in records] == [f"shard-{p.index:05d}" for p in plans]
        outputs.append(dir_bytes(out))
    assert outputs[0] == outputs[1] == outputs[2]
    assert sum(name.endswith(".bin") for name in outputs[0]) == len(plans)
