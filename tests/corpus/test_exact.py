"""Token shards hold exactly the reference tokenizer's ids for every document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import toklm
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.corpus import TokenShards, tokenize_corpus
from toklm.corpus.inputs import Source, documents_of, plan_shards, read_documents

from .helpers import reference_documents, sample_corpora

ENCODINGS = ("gpt2", "r50k_base", "p50k_base", "cl100k_base", "o200k_base")


@pytest.mark.parametrize("name", ENCODINGS)
def test_every_document_equals_tiktoken(tmp_path: Path, tiktoken_ref, name: str) -> None:
    inputs = sample_corpora(tmp_path, 120_000)
    out = tmp_path / "out"
    manifest = tokenize_corpus(inputs, str(out), name, eot=True, shard_bytes=50_000)
    ref = tiktoken_ref(name)
    docs = [d for p in inputs for d in reference_documents(Path(p).read_text("utf-8"), "lines")]
    want = ref.encode_ordinary_batch(docs)
    shards = TokenShards(out)
    assert len(shards) == len(docs) == manifest["documents"]
    assert shards.dtype == np.dtype("<u2" if ref.n_vocab <= 1 << 16 else "<u4")
    for i, (got, ids) in enumerate(zip(shards, want, strict=True)):
        assert got.tolist() == ids, (i, docs[i][:80])
    # The .bin files back to back: every document followed by <|endoftext|>.
    stream = np.concatenate([shards.tokens(k) for k in range(len(shards.shard_names))])
    expected = [t for ids in want for t in [*ids, ref.eot_token]]
    assert stream.tolist() == expected
    assert manifest["tokens"] == len(expected) and len(shards.shard_names) > 3


def test_hf_tokenizer_shards_equal_tokenizers(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tests.conftest import shared_path

    path = shared_path("tokenizers/gpt-neox-20b/tokenizer.json")
    ref = tokenizers.Tokenizer.from_file(str(path))
    tok = toklm.Tokenizer.from_file(path)
    inputs = sample_corpora(tmp_path, 30_000)
    manifest = tokenize_corpus(inputs, str(tmp_path / "out"), tok, shard_bytes=40_000)
    assert manifest["job"]["tokenizer"]["sha256"]  # travelled by value
    docs = [d for p in inputs for d in reference_documents(Path(p).read_text("utf-8"), "lines")]
    want = [e.ids for e in ref.encode_batch(docs, add_special_tokens=False)]
    assert [d.tolist() for d in TokenShards(tmp_path / "out")] == want


text_pieces = st.sampled_from(["a", "b c", " ", "\t", "\r", "\n", "\r\n", "\n\n", "é", "한", "🎉"])


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(text_pieces, max_size=80),
    split=st.sampled_from(["lines", "blank-line", "file"]),
    shard_bytes=st.integers(1, 40),
    block_bytes=st.integers(1, 30),
)
def test_documents_do_not_depend_on_shard_or_block_size(
    tmp_path_factory: pytest.TempPathFactory,
    pieces: list[str],
    split: str,
    shard_bytes: int,
    block_bytes: int,
) -> None:
    text = "".join(pieces)
    path = tmp_path_factory.mktemp("split") / "in.txt"
    path.write_bytes(text.encode("utf-8"))
    source = Source("text", split)
    plans = plan_shards([str(path)], source, shard_bytes)
    got = [
        doc
        for plan in plans
        for piece in plan.pieces
        for block in read_documents(piece, source, block_bytes)
        for doc in documents_of(block)
    ]
    assert got == reference_documents(text, split)
    if split == "lines":  # the core's own split of the same bytes
        enc = toklm.get_encoding("gpt2")
        tokens, offsets = enc._core_bpe.encode_lines_flat(text.encode("utf-8"), 2)
        want = enc.encode_ordinary_batch(got)
        assert np.frombuffer(tokens, "<u4").tolist() == [t for ids in want for t in ids]
        assert np.frombuffer(offsets, "<i8").tolist() == [0, *np.cumsum([len(x) for x in want])]
    # The shards cover the file exactly, in order.
    covered = [(p.start, p.end) for plan in plans for p in plan.pieces]
    assert [s for s, _ in covered[1:]] == [e for _, e in covered[:-1]]
    if split != "file" and text:
        assert covered[0][0] == 0 and covered[-1][1] == len(text.encode())
