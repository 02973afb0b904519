"""The trainer: merges equal a reference trainer; saved files load in tiktoken and tokenizers
with identical ids; clear errors; same output whatever the thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import toklm
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.train import load_encoding, save_tokenizer_json

from tests.conftest import shared_path
from tests.train import reference

SMALL = [
    "low lower lowest newer newest wider widest",
    "the cat sat on the mat; the cat ate the rat",
    "안녕하세요 우리는 한국어를 공부합니다 안녕 하세요",
    "aaaa aaa aa a abab ababab 1234567 12 123",
] * 3


def learned(enc: toklm.Encoding) -> list[bytes]:
    n = enc.max_token_value + 1 - len(enc._special_tokens)
    return [enc.decode_single_token_bytes(i) for i in range(256, n)]


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k_base", "o200k_base", r"\S+|\s+"])
@pytest.mark.parametrize("min_frequency", [1, 2, 4])
def test_merges_equal_reference(pattern: str, min_frequency: int) -> None:
    enc = toklm.train_bpe(SMALL, 256 + 80, pattern=pattern, min_frequency=min_frequency)
    pat_str = toklm.train.resolve_pattern(pattern)
    assert learned(enc) == reference.train(SMALL, pat_str, 80, min_frequency)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("ab c\n가é'1"), max_size=40), min_size=1, max_size=8),
    st.integers(1, 3),
)
def test_merges_equal_reference_random(texts: list[str], min_frequency: int) -> None:
    if not any(texts):
        return
    enc = toklm.train_bpe(texts, 256 + 30, pattern="o200k_base", min_frequency=min_frequency)
    pat_str = toklm.train.resolve_pattern("o200k_base")
    assert learned(enc) == reference.train(texts, pat_str, 30, min_frequency)


def test_specials_and_sizes() -> None:
    enc = toklm.train_bpe(SMALL, 300, special_tokens=["<|a|>", "<|b|>"], name="t")
    assert enc.name == "t" and enc.n_vocab == 300
    assert enc._special_tokens == {"<|a|>": 298, "<|b|>": 299}
    assert enc.encode("<|b|>x", allowed_special="all") == [299, ord("x")]


def _shared_texts(limit: int = 200_000) -> list[str]:
    root = shared_path("corpora")
    texts = []
    for p in sorted(root.glob("*.txt")) + sorted((root / "parallel" / "ntrex128").glob("*.txt")):
        texts.append(p.read_text(encoding="utf-8")[:limit])
    return texts


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[toklm.Encoding, str]:
    root = shared_path("corpora")
    files = [root / "en.txt", root / "ko.txt", root / "code.txt"]
    enc = toklm.train_bpe(files, 4000, pattern="cl100k_base", special_tokens=["<|endoftext|>"])
    path = tmp_path_factory.mktemp("enc") / "t.tiktoken"
    enc.save(path)
    return enc, str(path)


def test_saved_file_loads_in_tiktoken_with_identical_ids(trained) -> None:
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    enc, path = trained
    meta = json.loads(open(path + ".json", encoding="utf-8").read())
    ref = tiktoken.Encoding(
        "t",
        pat_str=meta["pat_str"],
        mergeable_ranks=load_tiktoken_bpe(path),
        special_tokens=meta["special_tokens"],
    )
    again = load_encoding(path)
    assert again.n_vocab == enc.n_vocab == ref.n_vocab
    for text in _shared_texts():
        ids = enc.encode_ordinary(text)
        assert ids == ref.encode_ordinary(text)
        assert ids == again.encode_ordinary(text)


def test_tokenizer_json_loads_in_tokenizers_with_identical_ids(trained, tmp_path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    enc, _ = trained
    save_tokenizer_json(enc, tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in _shared_texts(50_000):
        assert hf.encode(text, add_special_tokens=False).ids == enc.encode_ordinary(text)


def test_extension_keeps_english_ids(tmp_path) -> None:
    root = shared_path("corpora")
    base = toklm.get_encoding("cl100k_base")
    ext = toklm.extend_encoding(base, [root / "ko.txt"], 2000, scripts=["Hangul"])
    assert ext.n_vocab == base.n_vocab + 2000
    assert ext._special_tokens == base._special_tokens
    en = (root / "parallel" / "ntrex128" / "en.txt").read_text(encoding="utf-8")
    assert ext.encode_ordinary(en) == base.encode_ordinary(en)
    ko = (root / "parallel" / "ntrex128" / "ko.txt").read_text(encoding="utf-8")
    assert len(ext.encode_ordinary(ko)) < 0.85 * len(base.encode_ordinary(ko))
    assert ext.decode(ext.encode(ko)) == ko
    # Saved with the base's specials between the base ranks and the new ids; tiktoken agrees.
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    ext.save(tmp_path / "ext.tiktoken")
    ref = tiktoken.Encoding(
        "ext",
        pat_str=base._pat_str,
        mergeable_ranks=load_tiktoken_bpe(str(tmp_path / "ext.tiktoken")),
        special_tokens=base._special_tokens,
    )
    assert ref.encode_ordinary(ko) == ext.encode_ordinary(ko)
    assert load_encoding(tmp_path / "ext.tiktoken").encode(ko) == ext.encode(ko)


def test_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="corpus is empty"):
        toklm.train_bpe([], 300)
    with pytest.raises(ValueError, match="corpus is empty"):
        toklm.train_bpe([""], 300)
    with pytest.raises(ValueError, match=r"below 256 \(the bytes\) \+ 2 special"):
        toklm.train_bpe(SMALL, 257, special_tokens=["<a>", "<b>"])
    with pytest.raises(ValueError, match="does not compile"):
        toklm.train_bpe(SMALL, 300, pattern="(unclosed")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello world\nfine line\nbroken \xff here\n")
    with pytest.raises(ValueError, match=r"bad\.txt: invalid UTF-8 at byte offset 29"):
        toklm.train_bpe([bad], 300)
    enc = toklm.train_bpe([bad], 300, min_frequency=1, errors="replace")
    assert enc.n_vocab > 256
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        toklm.train_bpe([tmp_path / "missing.txt"], 300)
    with pytest.raises(ValueError, match="overflow the id space"):
        toklm.extend_encoding("gpt2", SMALL, 2**32)
    with pytest.raises(ValueError, match="unknown script 'Klingon'"):
        toklm.extend_encoding("gpt2", SMALL, 10, scripts=["Klingon"])
    with pytest.raises(FileNotFoundError, match="missing"):
        load_encoding(tmp_path / "nothing.tiktoken")


def test_same_output_whatever_the_thread_count(tmp_path) -> None:
    root = shared_path("corpora")
    outputs = []
    for threads in (1, 3):
        out = tmp_path / f"t{threads}.tiktoken"
        code = (
            "import sys, toklm; "
            "toklm.train_bpe([__import__('pathlib').Path(p) for p in sys.argv[2:]], 3000, "
            "pattern='o200k_base').save(sys.argv[1])"
        )
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        files = [str(root / "ko.txt"), str(root / "en.txt")]
        subprocess.run([sys.executable, "-c", code, str(out), *files], check=True, env=env)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_balanced_training_lowers_the_worst_premium() -> None:
    ntrex = shared_path("corpora/parallel/ntrex128")
    langs = ["en", "ko", "th", "de"]
    dev = {lang: [(ntrex / f"{lang}.txt").read_text(encoding="utf-8")[:60_000]] for lang in langs}
    # Training corpora of very different sizes: English dominates a pooled run.
    train = {lang: dev[lang] * (8 if lang == "en" else 1) for lang in langs}
    enc, premium = toklm.train.train_bpe_balanced(train, 2000, dev=dev, pattern="cl100k_base")
    assert set(premium) == set(langs) and premium["en"] == 1.0
    plain = toklm.train_bpe(
        [t for texts in train.values() for t in texts], 2000, pattern="cl100k_base"
    )

    def measured(e: toklm.Encoding) -> dict[str, float]:
        en = len(e.encode_ordinary(dev["en"][0]))
        return {lang: len(e.encode_ordinary(dev[lang][0])) / en for lang in langs}

    assert measured(enc) == pytest.approx(premium, rel=0.01)
    assert max(premium.values()) < max(measured(plain).values())
    with pytest.raises(ValueError, match="reference language 'xx'"):
        toklm.train.train_bpe_balanced(train, 300, reference="xx")


def test_saved_files_have_ordinary_permissions(tmp_path) -> None:
    enc = toklm.train_bpe(SMALL, 260)
    enc.save(tmp_path / "p.tiktoken")
    mask = os.umask(0)
    os.umask(mask)
    for name in ("p.tiktoken", "p.tiktoken.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tiktoken", "p.tiktoken.json"]


def test_extended_encoding_exports_to_tokenizers(tmp_path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    root = shared_path("corpora")
    ext = toklm.extend_encoding("gpt2", root / "ko.txt", 300, scripts=["Hangul"])
    save_tokenizer_json(ext, tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for name in ("ko.txt", "en.txt"):
        text = (root / name).read_text(encoding="utf-8")[:50_000]
        assert hf.encode(text, add_special_tokens=False).ids == ext.encode_ordinary(text)
    assert ext.encode("<|endoftext|>", allowed_special="all") == [50256]


def test_progress_and_surrogates() -> None:
    seen: list[tuple[str, int, int]] = []
    texts = [
        " ".join(str(i * 7919 % 1000003) for i in range(k, k + 100)) for k in range(0, 30000, 100)
    ]
    toklm.train_bpe(
        texts, 256 + 2500, pattern="gpt2", min_frequency=1, progress=lambda *a: seen.append(a)
    )
    assert ("read", sum(len(t) for t in texts), 0) in seen
    assert ("merge", 1000, 2500) in seen and ("merge", 2000, 2500) in seen
    with pytest.raises(ValueError, match="lone surrogate at character 3"):
        toklm.train_bpe(["abc\ud800"], 300)
    enc = toklm.train_bpe(["abc\ud800 abc"] * 3, 300, errors="replace")
    assert enc.n_vocab > 256

    calls: list[str] = []

    def interrupt(stage: str, done: int, total: int) -> None:
        calls.append(stage)
        if stage == "merge":
            raise KeyboardInterrupt

    # The exception stops the merging at once (one call), not at the end.
    with pytest.raises(KeyboardInterrupt):
        toklm.train_bpe(texts, 256 + 2500, pattern="gpt2", min_frequency=1, progress=interrupt)
    assert calls.count("merge") == 1


def test_interrupted_save_leaves_nothing(tmp_path, monkeypatch) -> None:
    enc = toklm.train_bpe(SMALL, 260)

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        enc.save(tmp_path / "x.tiktoken")
    assert list(tmp_path.iterdir()) == []
