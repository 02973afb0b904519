"""`toklm encode / decode / count` through the installed entry point."""

from __future__ import annotations

import json

import pytest
import toklm

from tests.cli.runner import COUNTS, ENCODINGS, ENGLISH, KOREAN, assert_one_line_error
from tests.cli.runner import toklm as run
from tests.conftest import shared_path

# The ids of issue 2's example, as OpenAI's tiktoken gives them.
ISSUE_IDS = {
    ("gpt2", ENGLISH): [15496, 995, 11, 356, 389, 402, 10728, 13, 12520, 236, 231],
    ("gpt-4", KOREAN): [31495, 230, 75265, 243, 92245, 11, 66822, 108, 29102, 16969, 480, 19859,
                        80052, 13, 11410, 236, 231],
    ("gpt-4o", KOREAN): [14307, 171731, 11, 129416, 499, 27236, 27001, 13, 139786, 231],
}  # fmt: skip


@pytest.mark.parametrize("text", [KOREAN, ENGLISH])
@pytest.mark.parametrize("i", range(3))
def test_count_the_issue_sentences(text: str, i: int) -> None:
    proc = run("count", "-e", ENCODINGS[i], "--text", text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{COUNTS[text][i]}\n"
    assert proc.stderr == ""


def test_count_reads_stdin_and_encode_joins_arguments_with_spaces() -> None:
    assert run("count", "-e", "gpt2", input=KOREAN).stdout == "37\n"
    assert run("count", "-e", "gpt2", "-", input=KOREAN).stdout == "37\n"
    words = ENGLISH.split(" ")
    assert len(run("encode", "-e", "gpt2", *words).stdout.split()) == 11


@pytest.mark.parametrize(("tokenizer", "text"), list(ISSUE_IDS))
def test_encode_gives_openai_ids(tokenizer: str, text: str) -> None:
    flag = "-e" if tokenizer == "gpt2" else "-m"
    proc = run("encode", flag, tokenizer, text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(i) for i in ISSUE_IDS[tokenizer, text]]


def test_encode_json_and_tokens() -> None:
    out = json.loads(run("encode", "--json", "--tokens", "-e", "gpt2", ENGLISH).stdout)
    assert out["encoding"] == "gpt2"
    assert out["ids"] == ISSUE_IDS["gpt2", ENGLISH]
    assert out["tokens"] == 11
    assert out["pieces"][:2] == ["Hello", " world"]
    # 🎉 is split into three byte tokens, none of them a whole character.
    assert out["pieces"][-3:] == ["<20 f0 9f>", "<8e>", "<89>"]
    assert out["piece_is_fragment"] == [False] * 8 + [True] * 3
    plain = run("encode", "--tokens", "-e", "gpt2", ENGLISH).stdout
    assert plain.startswith('"Hello" " world" "," " we"')
    assert plain.rstrip().endswith("<20 f0 9f> <8e> <89>")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encode_then_decode_round_trips(encoding: str) -> None:
    text = KOREAN + "\n" + ENGLISH + "\n"
    ids = run("encode", "-e", encoding, input=text).stdout
    assert run("decode", "-e", encoding, input=ids).stdout == text
    as_args = run("decode", "-e", encoding, *ids.split()).stdout
    assert as_args == text


def test_decode_accepts_commas_and_json_lists() -> None:
    ids = ",".join(map(str, ISSUE_IDS["gpt2", ENGLISH]))
    assert run("decode", "-e", "gpt2", f"[{ids}]").stdout == ENGLISH + "\n"
    out = json.loads(run("decode", "--json", "-e", "gpt2", ids).stdout)
    assert out == {"encoding": "gpt2", "tokens": 11, "text": ENGLISH}


def test_decode_partial_character_says_so() -> None:
    proc = run("decode", "-e", "gpt2", "12520", "236")  # two of 🎉's three byte tokens
    assert proc.returncode == 0
    assert proc.stdout == " \ufffd\n"
    assert "not valid UTF-8" in proc.stderr and "byte 1" in proc.stderr
    raw = run("decode", "--bytes", "-e", "gpt2", "12520", "236", "231")
    assert raw.stdout.encode() == " 🎉".encode()


def test_special_tokens() -> None:
    text = "hi <|endoftext|>"
    assert_one_line_error(run("encode", "-e", "gpt2", text), "<|endoftext|>", "--allow-special")
    assert run("encode", "-e", "gpt2", "--allow-special", text).stdout.split()[-1] == "50256"
    as_text = run("encode", "-e", "gpt2", "--special-as-text", text).stdout.split()
    assert "50256" not in as_text and len(as_text) > 3
    # count treats special-token text as text, as an API bills it
    assert run("count", "-e", "gpt2", "--text", text).stdout == f"{len(as_text)}\n"


def test_count_files_exactly_and_streamed() -> None:
    en = shared_path("corpora/en.txt")
    ko = shared_path("corpora/ko.txt")
    enc = toklm.get_encoding("cl100k_base")
    expected = [enc.count_batch([p.read_text(encoding="utf-8")])[0] for p in (en, ko)]
    proc = run("count", "-e", "cl100k_base", "-i", str(en), "-i", str(ko))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{sum(expected)}\n"
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    out = json.loads(run("count", "--json", "-m", "gpt-4", "-i", str(en)).stdout)
    assert out["encoding"] == "cl100k_base"
    assert out["tokens"] == expected[0]
    assert out["inputs"][0]["bytes"] == en.stat().st_size


def test_bad_input_is_one_line_and_nothing_on_stdout(tmp_path) -> None:
    assert_one_line_error(run("count", "-i", str(tmp_path / "nope.txt")), "nope.txt", "no such")
    assert_one_line_error(run("count", "-i", str(tmp_path)), "directory")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"first line\nsecond \xff line\n")
    assert_one_line_error(
        run("count", "-i", str(bad)), "bad.txt", "invalid UTF-8", "byte 18", "line 2, column 8"
    )
    replaced = run("count", "-e", "gpt2", "--errors", "replace", "-i", str(bad))
    assert replaced.returncode == 0
    enc = toklm.get_encoding("gpt2")
    assert replaced.stdout == str(enc.count("first line\nsecond \ufffd line\n")) + "\n"
    assert "replaced 1 invalid UTF-8" in replaced.stderr and "line 2, column 8" in replaced.stderr
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert_one_line_error(run("count", "-i", str(binary)), "binary data", "byte 4")
    assert_one_line_error(run("encode", "-m", "gpt-99"), "unknown model 'gpt-99'")
    assert_one_line_error(run("count", "-e", "cl100k", "x"), "unknown encoding 'cl100k'")
    assert_one_line_error(run("decode", "1", "two"), "not a token id: 'two'")
    assert_one_line_error(run("decode", "-e", "cl100k_base", "100256"), "100256", "cl100k_base")
    assert_one_line_error(run("encode", "-e", "hf:/nonexistent/tokenizer", "x"), "Hugging Face")
    assert_one_line_error(run("encode", "x", "-i", str(bad)), "not both")


def test_encoding_and_model_exclude_each_other() -> None:
    proc = run("count", "-e", "gpt2", "-m", "gpt-4", "x")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
