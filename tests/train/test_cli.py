"""`toklm train` / `toklm extend` as a user runs them."""

from __future__ import annotations

import toklm
from toklm.train import load_encoding

from tests.cli.runner import toklm as run
from tests.conftest import shared_path

TEXT = "the cat sat on the mat\n안녕하세요 우리는 한국어를 공부합니다\n" * 40


def test_train_then_extend(tmp_path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "t.tiktoken"
    p = run(
        "train",
        str(corpus),
        "--vocab-size",
        "300",
        "--pattern",
        "cl100k_base",
        "--special",
        "<|end|>",
        "-o",
        str(out),
        "--tokenizer-json",
        str(tmp_path / "tok.json"),
    )
    assert p.returncode == 0, p.stderr
    assert "tokens learned" in p.stdout and "read" in p.stderr
    enc = load_encoding(out)
    assert enc.n_vocab <= 300 and enc._special_tokens == {"<|end|>": enc.n_vocab - 1}
    assert (tmp_path / "tok.json").is_file()
    ext_out = tmp_path / "e.tiktoken"
    p = run(
        "extend",
        str(out),
        str(corpus),
        "--add",
        "5",
        "--scripts",
        "Hangul",
        "-o",
        str(ext_out),
        "-q",
    )
    assert p.returncode == 0, p.stderr
    ext = load_encoding(ext_out)
    assert ext.n_vocab == enc.n_vocab + 5
    assert ext.encode_ordinary("the cat sat") == enc.encode_ordinary("the cat sat")


def test_eval_prints_premium_table(tmp_path) -> None:
    ntrex = shared_path("corpora/parallel/ntrex128")
    ko = shared_path("corpora/ko.txt")
    out = tmp_path / "ko.tiktoken"
    p = run(
        "extend",
        "o200k_base",
        str(ko),
        "--add",
        "200",
        "--scripts",
        "Hangul",
        "-o",
        str(out),
        "--eval",
        str(ntrex),
        "-q",
    )
    assert p.returncode == 0, p.stderr
    assert "o200k_base premium" in p.stdout and "Korean" in p.stdout
    assert toklm.load_encoding(out).n_vocab == 200019 + 200


def test_user_errors_are_one_line_exit_2(tmp_path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    for args in (
        ["train", str(bad), "--vocab-size", "300", "-o", str(tmp_path / "x.tiktoken")],
        ["train", str(tmp_path / "none.txt"), "--vocab-size", "300", "-o", "x.tiktoken"],
        ["train", str(bad), "--vocab-size", "10", "-o", "x.tiktoken", "--errors", "replace"],
        ["extend", "gpt2", str(bad), "--add", "3", "--scripts", "Klingon", "-o", "x.tiktoken"],
    ):
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert "byte offset 3" in run("train", str(bad), "--vocab-size", "300", "-o", "x").stderr
    assert not (tmp_path / "x.tiktoken").exists()


def test_balanced_cli_prints_premiums(tmp_path) -> None:
    (tmp_path / "en.txt").write_text("the rule of law\n" * 30, encoding="utf-8")
    (tmp_path / "ko.txt").write_text("법의 지배\n" * 30, encoding="utf-8")
    out = tmp_path / "b.tiktoken"
    files = [str(tmp_path / "en.txt"), str(tmp_path / "ko.txt")]
    p = run("train", *files, "--balanced", "--vocab-size", "270", "-o", str(out), "-q")
    assert p.returncode == 0, p.stderr
    assert "premium per language:" in p.stdout and "ko " in p.stdout
    assert load_encoding(out).n_vocab <= 270
