"""`encode_batch_to_numpy`: one flat token array and document offsets, as per-text encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import toklm
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import shared_path

from .helpers import CORPORA


def split_flat(tokens: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    assert tokens.dtype == np.uint32 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == len(tokens) and np.all(np.diff(offsets) >= 0)
    return [tokens[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


@pytest.fixture(scope="module")
def lines() -> list[str]:
    out = []
    for name in CORPORA:
        text = shared_path(f"corpora/{name}").read_text("utf-8")[:150_000]
        out += [line for line in text.split("\n") if line]
    return out


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base"])
@pytest.mark.parametrize("threads", [1, 2])
def test_flat_equals_tiktoken_batch(tiktoken_ref, lines: list[str], name: str, threads: int):
    ref = tiktoken_ref(name).encode_ordinary_batch(lines)
    enc = toklm.get_encoding(name)
    assert split_flat(*enc.encode_ordinary_batch_to_numpy(lines, num_threads=threads)) == ref
    # Few long documents (several chunks each) and many short ones give the same tokens.
    joined = ["\n".join(lines[i : i + 500]) for i in range(0, len(lines), 500)]
    want = tiktoken_ref(name).encode_ordinary_batch(joined)
    assert split_flat(*enc.encode_batch_to_numpy(joined, disallowed_special=())) == want


def test_special_tokens_follow_encode_rules() -> None:
    enc = toklm.get_encoding("cl100k_base")
    texts = ["a<|endoftext|>b", "plain", ""]
    tokens, offsets = enc.encode_batch_to_numpy(texts, allowed_special="all")
    assert split_flat(tokens, offsets) == [enc.encode(t, allowed_special="all") for t in texts]
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode_batch_to_numpy(texts)
    assert split_flat(*enc.encode_ordinary_batch_to_numpy(texts)) == [
        enc.encode_ordinary(t) for t in texts
    ]


@pytest.mark.parametrize(
    "texts",
    [
        ["plain", "x <|fim_prefix|> y", "z <|endoftext|>"],  # the first offending text counts
        ["<|endof", "text|>", "ok"],  # a token split over two texts is no token
        ["ok", "a\ud800b", "<|endoftext|>"],  # a lone surrogate: the per-text path
        ["a\ud800b", "fine"],
    ],
)
def test_batch_special_checks_equal_tiktoken(tiktoken_ref, texts: list[str]) -> None:
    """One native search over all texts (not a call per text) decides as tiktoken's
    per-text checks do, for both batch APIs."""
    ref, enc = tiktoken_ref("cl100k_base"), toklm.get_encoding("cl100k_base")
    for kwargs in ({}, {"disallowed_special": {"<|endoftext|>"}}, {"allowed_special": "all"}):
        try:
            want: list[list[int]] | str = ref.encode_batch(texts, **kwargs)
        except ValueError as e:
            want = str(e)
        for fn in (enc.encode_batch, enc.encode_batch_to_numpy):
            try:
                got = fn(texts, **kwargs)
                got = got if isinstance(got, list) else split_flat(*got)
            except ValueError as e:
                got = str(e)
            assert got == want, (fn.__name__, kwargs)


def test_empty_batch_and_bad_items() -> None:
    enc = toklm.get_encoding("gpt2")
    tokens, offsets = enc.encode_ordinary_batch_to_numpy([])
    assert tokens.tolist() == [] and offsets.tolist() == [0]
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        enc.encode_ordinary_batch_to_numpy(["a", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single str"):
        enc.encode_ordinary_batch_to_numpy("abc")


def test_items_read_while_encoding_keep_the_batch_order_and_errors() -> None:
    """The core reads the list a block at a time while earlier blocks are encoded: many blocks
    (by size and by count: 64 KB of text or 4,096 documents), errors in a late block."""
    enc = toklm.get_encoding("cl100k_base")
    texts = [f"{i} w\u00f6rd \uac00" * (i % 7) for i in range(30_000)]
    tokens, offsets = enc.encode_batch_to_numpy(texts, num_threads=2)
    want = enc.encode_ordinary_batch(texts, num_threads=1)
    assert split_flat(tokens, offsets) == want
    late = texts.copy()
    late[25_000] = b"bytes"  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"texts\[25000\]"):
        enc.encode_batch_to_numpy(late)
    late[25_000] = "x <|endoftext|>"
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode_batch_to_numpy(late)
    late[25_000] = "lone \ud800 surrogate"
    got = split_flat(*enc.encode_batch_to_numpy(late, num_threads=2))
    assert got[25_000] == enc.encode("lone \ud800 surrogate") and got[:25_000] == want[:25_000]


def test_a_list_changed_by_another_thread_is_read_as_it_was() -> None:
    """Each call encodes the items the list held when it began, whatever another thread does to
    the list meanwhile (the strings stay alive while they are encoded)."""
    import threading

    enc = toklm.get_encoding("gpt2")
    texts = [f"document number {i}" for i in range(20_000)]
    originals = enc.encode_ordinary_batch(texts)
    replaced = enc.encode("replaced")
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            texts[i % len(texts)] = "".join(["replaced ", str(i)])  # a new string each time
            i += 7919

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(5):
            got = split_flat(*enc.encode_batch_to_numpy(texts, num_threads=2))
            for doc, ids in enumerate(got):
                assert ids == originals[doc] or ids[: len(replaced)] == replaced, doc
    finally:
        stop.set()
        worker.join()


CALLS_AT_ONCE = """
from concurrent.futures import ThreadPoolExecutor
import toklm

enc = toklm.get_encoding("cl100k_base")
batches = [[f"thread {k} document {i} \\uac00\\ub098" for i in range(3_000)] for k in range(6)]
want = [[enc.encode_ordinary(t) for t in texts] for texts in batches]

def run(job):
    texts, threads = job
    tokens, offsets = enc.encode_batch_to_numpy(texts, num_threads=threads)
    return [tokens[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]

jobs = [(texts, 2 + k % 2) for k, texts in enumerate(batches * 3)]
with ThreadPoolExecutor(6) as pool:
    got = list(pool.map(run, jobs))
assert got == want * 3, "a call returned another call's tokens"
"""


def test_calls_from_several_threads_asking_for_few_threads_each() -> None:
    """Calls at once, each asking for fewer threads than the pool has (2 or 3 of 4): each runs
    on a pool of its own and returns the tokens of its own texts."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "RAYON_NUM_THREADS": "4"}  # a pool of 4, whatever the cores
    proc = subprocess.run(
        [sys.executable, "-c", CALLS_AT_ONCE], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=40), st.sampled_from([1, 2, 4]))
def test_flat_equals_per_text_encoding(texts: list[str], threads: int) -> None:
    enc = toklm.get_encoding("o200k_base")
    got = split_flat(*enc.encode_ordinary_batch_to_numpy(texts, num_threads=threads))
    assert got == [enc.encode_ordinary(t) for t in texts]  # surrogates replaced as tiktoken does


def test_hf_tokenizer_flat_equals_tokenizers(lines: list[str]) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    path = shared_path("tokenizers/gpt-neox-20b/tokenizer.json")
    ref = tokenizers.Tokenizer.from_file(str(path))
    tok = toklm.Tokenizer.from_file(Path(path))
    want = [e.ids for e in ref.encode_batch(lines[:3000], add_special_tokens=False)]
    assert split_flat(*tok.encode_batch_to_numpy(lines[:3000], num_threads=2)) == want


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
            st.integers(0, 1200),
            st.sampled_from(["\n", "\r\n", "\n\n", "\r\n\r\n"]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([1, 2, 3]),
)
@example(parts=[("ab c\u00e9", 2000, "\r\n"), ("x\ny", 900, "\n\n")] * 20, threads=2)
def test_lines_cut_in_64kb_blocks_equal_tiktoken_per_line(
    tiktoken_ref, parts: list[tuple[str, int, str]], threads: int
) -> None:
    # Lines up to ~10 KB and texts of up to ~600 KB: the core cuts the bytes after a newline
    # every 64 KB and checks, splits and encodes each block on its own task.
    text = "".join(piece * reps + end for piece, reps, end in parts)
    enc = toklm.get_encoding("cl100k_base")
    tokens, offsets = enc._core_bpe.encode_lines_flat(text.encode("utf-8"), threads)
    got = split_flat(np.frombuffer(tokens, "<u4").astype(np.uint32), np.frombuffer(offsets, "<i8"))
    lines = [s.removesuffix("\r") for s in text.split("\n")[:-1]]  # the text ends with "\n"
    want = tiktoken_ref("cl100k_base").encode_ordinary_batch([s for s in lines if s])
    assert got == want
