"""Issue 8, item 1: one input convention. Measuring commands (count, cost, report) read FILE
arguments like wc ('-' or none: stdin; --text for a literal text); showing commands (encode,
compare) take text. A positional argument is never silently read the other way."""

from __future__ import annotations

import json
import re

from tests.cli.runner import KOREAN, assert_one_line_error
from tests.cli.runner import toklm as run
from tests.conftest import SHARED, shared_path


def _corpus_files() -> list[str]:
    shared_path("corpora")
    return sorted(str(p) for p in (SHARED / "corpora").rglob("*.txt"))


def test_count_reads_a_path_argument_as_the_file(tmp_path) -> None:
    ko = shared_path("corpora/ko.txt")
    as_arg = run("count", "-e", "cl100k_base", str(ko))
    as_flag = run("count", "-e", "cl100k_base", "-i", str(ko))
    as_stdin = run("count", "-e", "cl100k_base", "-", input=ko.read_bytes())
    assert as_arg.returncode == 0, as_arg.stderr
    assert int(as_arg.stdout) > 100_000  # the file, not the 8 tokens of its name
    assert as_arg.stdout == as_flag.stdout == as_stdin.stdout


def test_count_never_reads_a_missing_path_as_text(tmp_path) -> None:
    assert_one_line_error(run("count", "hello world"), "hello world: no such file", "--text")
    assert_one_line_error(run("count", str(tmp_path / "ko.txt")), "ko.txt: no such file")
    assert_one_line_error(run("cost", "hello world"), "no such file", "--text")
    assert run("count", "-e", "gpt2", "--text", KOREAN).stdout == "37\n"
    out = json.loads(run("cost", "--json", "-m", "gpt-4o", "--text", KOREAN).stdout)
    assert out["records"][0]["tokens"] == 10


def test_showing_commands_take_text_and_say_so_for_a_file_name() -> None:
    ko = str(shared_path("corpora/ko.txt"))
    proc = run("encode", "-e", "gpt2", ko)
    assert proc.returncode == 0
    assert len(proc.stdout.split()) < 30  # the name was encoded, as documented ...
    assert "read as text, not as the file" in proc.stderr and f"-i {ko}" in proc.stderr  # ... aloud
    compare = run("compare", "--json", ko)
    assert "read as text" in compare.stderr


def test_count_equals_tiktoken_on_every_shared_corpus(tiktoken_ref) -> None:
    files = _corpus_files()
    out = json.loads(run("count", "--json", "-q", "-e", "cl100k_base", *files).stdout)
    ref = tiktoken_ref("cl100k_base")
    got = {i["input"]: i["tokens"] for i in out["inputs"]}
    for path in files:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        assert got[path] == len(ref.encode(text, disallowed_special=())), path


def test_report_explains_why_it_counts_fewer_tokens_than_count(tiktoken_ref) -> None:
    ko = shared_path("corpora/ko.txt")
    report = json.loads(run("report", "--json", "-e", "cl100k_base", str(ko)).stdout)
    count = int(run("count", "-e", "cl100k_base", str(ko)).stdout)
    ref = tiktoken_ref("cl100k_base")
    with open(ko, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    lines = [line.removesuffix("\r") for line in (lines[:-1] if lines[-1] == "" else lines)]
    per_line = sum(len(ref.encode(line, disallowed_special=())) for line in lines)
    assert report["records"][0]["tokens"] == per_line < count  # each line on its own
    table = run("report", "-e", "cl100k_base", str(ko)).stdout
    assert re.search(r"each line encoded on its own, without its line break", table)
    assert "toklm count FILE" in table


def test_report_reads_stdin_and_text() -> None:
    out = json.loads(run("report", "--json", "-e", "gpt2", input=KOREAN + "\n").stdout)
    assert out["records"][0]["tokens"] == 37 and out["records"][0]["file"] == "<stdin>"
    out = json.loads(run("report", "--json", "-e", "gpt2", "--text", KOREAN).stdout)
    assert out["records"][0]["tokens"] == 37
