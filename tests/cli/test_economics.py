"""`toklm compare / report / cost` through the installed entry point."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import struct
import subprocess

import pytest

from tests.cli.runner import COMMAND, COUNTS, ENCODINGS, ENGLISH, KOREAN, assert_one_line_error
from tests.cli.runner import toklm as run
from tests.conftest import shared_path


def test_compare_the_issue_sentences_table() -> None:
    proc = run("compare", KOREAN, ENGLISH)
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r"<text (\d)>\s+(\S+)\s+(\d+)\s", proc.stdout)
    got = {(int(i), enc): int(n) for i, enc, n in rows}
    for i, text in enumerate([KOREAN, ENGLISH], 1):
        assert tuple(got[i, enc] for enc in ENCODINGS) == COUNTS[text]
    # the tokens, with the emoji's byte tokens shown as bytes
    o200k_tokens = '"안" "녕하세요" "," " 우리는" " G" "market" "입니다" "." <20 f0 9f 8e> <89>'
    assert o200k_tokens in proc.stdout
    assert "ids:    14307 171731 11 129416 499 27236 27001 13 139786 231" in proc.stdout


def test_compare_json_csv_and_files() -> None:
    out = json.loads(run("compare", "--json", "-e", "gpt2,o200k_base", KOREAN).stdout)
    assert [(r["tokenizer"], r["tokens"]) for r in out["records"]] == [
        ("gpt2", 37),
        ("o200k_base", 10),
    ]
    ko = shared_path("corpora/parallel/ntrex128/ko.txt")
    proc = run("compare", "--csv", "-e", "cl100k_base", "-e", "gpt2", "-i", str(ko))
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["tokenizer"] for r in rows] == ["cl100k_base", "gpt2"]
    assert int(rows[1]["tokens"]) > int(rows[0]["tokens"]) > 0
    assert "ids" not in rows[0]  # files are counted, not listed
    stdin = json.loads(run("compare", "--json", "-e", "gpt2", input=KOREAN).stdout)
    assert stdin["records"][0]["input"] == "<stdin>" and stdin["records"][0]["tokens"] == 37


@pytest.fixture(scope="module")
def ntrex_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    corpus = shared_path("corpora/parallel/ntrex128")
    out = tmp_path_factory.mktemp("plots")
    png, svg = out / "report.png", out / "report.svg"
    proc = run("report", str(corpus), "--plot", str(png), "--plot", str(svg))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout, {"png": png, "svg": svg}


def test_report_ntrex128_states_the_finding(ntrex_report: tuple[str, dict]) -> None:
    text, _ = ntrex_report
    for enc in ENCODINGS:
        assert re.search(rf"^ ?{enc} \(by premium\)\s*$", text, re.M), f"no table for {enc}"
    m = re.search(
        r"Finding: Korean: (\d+\.\d\d)x English tokens under gpt2 -> (\d+\.\d\d)x under "
        r"o200k_base \(([\d,]+) -> ([\d,]+) tokens, (\d+)% fewer",
        text,
    )
    assert m, text[-2000:]
    gpt2_premium, o200k_premium = float(m[1]), float(m[2])
    assert gpt2_premium > 3 * o200k_premium > 3  # the finding: the premium shrank several-fold
    # the tables (gpt2, cl100k_base, o200k_base) agree with the sentence
    korean = re.findall(r"Korean\s+ko\s+1,997\s+([\d,]+)\s+\S+\s+\S+\s+(\d+\.\d\d)x", text)
    assert len(korean) == 3
    assert (korean[0][0], float(korean[0][1])) == (m[3], gpt2_premium)
    assert (korean[2][0], float(korean[2][1])) == (m[4], o200k_premium)
    assert "English" in text and "1.00x" in text


def test_report_plots_are_valid_images(ntrex_report: tuple[str, dict]) -> None:
    _, plots = ntrex_report
    png = plots["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (200 + 30 * (14 * 3 + 12), 3 * 420)  # plots.default_size
    svg = plots["svg"].read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and svg.rstrip().endswith("</svg>")
    for lang in ("ko", "en", "my", "zh-Hant"):
        for enc in ENCODINGS:
            for panel in ("premium", "tokens_per_char", "tokens_per_line"):
                assert f'id="{panel}-{enc}-{lang}"' in svg
    assert "Token premium" in svg and "Tokens per line" in svg


def test_report_json_and_csv_on_udhr() -> None:
    corpus = shared_path("corpora/parallel/udhr")
    out = json.loads(run("report", "--json", "-e", "gpt2", "-e", "o200k_base", str(corpus)).stdout)
    assert len(out["records"]) == 26 * 2
    assert any(line.startswith("Finding: Korean") for line in out["summary"])
    rows = list(csv.DictReader(io.StringIO(run("report", "--csv", str(corpus)).stdout)))
    assert len(rows) == 26 * 3
    en = [r for r in rows if r["language"] == "en"]
    assert {r["premium"] for r in en} == {"1.0"}


def test_report_bad_input(tmp_path) -> None:
    (tmp_path / "en.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "ko.txt").write_text("가\n나\n", encoding="utf-8")
    assert_one_line_error(run("report", str(tmp_path)), "ko.txt has 2 lines", "--no-parallel")
    proc = run("report", "--no-parallel", "-e", "gpt2", str(tmp_path))
    assert proc.returncode == 0 and "No token premium" in proc.stdout
    (tmp_path / "ko.txt").write_bytes("가\n나\n".encode() + b"\xc0\n")
    assert_one_line_error(run("report", str(tmp_path)), "ko.txt", "invalid UTF-8", "line 3")
    assert_one_line_error(run("report", str(tmp_path / "missing")), "missing", "no such file")
    assert_one_line_error(run("report", str(tmp_path), "--plot", "x.jpg"), ".png or .svg")
    assert_one_line_error(run("report", "-e", "nope", str(tmp_path)), "unknown encoding 'nope'")


def test_cost(tmp_path) -> None:
    ko = shared_path("corpora/parallel/ntrex128/ko.txt")
    en = shared_path("corpora/parallel/ntrex128/en.txt")
    out = json.loads(run("cost", "--json", "-m", "gpt-4o,gpt-4", str(ko), str(en)).stdout)
    gpt4o, gpt4, en_gpt4o, _ = out["records"]
    assert (gpt4o["encoding"], gpt4["encoding"]) == ("o200k_base", "cl100k_base")
    assert gpt4o["total_usd"] == pytest.approx(gpt4o["tokens"] * 2.5 / 1e6)
    assert out["totals"][0]["tokens"] == gpt4o["tokens"] + en_gpt4o["tokens"]
    assert "as of 2026-06-30" in out["prices"]
    table = run("cost", "-m", "gpt-4o", "--output-tokens", "1000", input=KOREAN).stdout
    assert re.search(r"<stdin>\s+gpt-4o\s+o200k_base\s+10\s+\$2\.50\s+\$10\.00", table)
    assert "as of 2026-06-30" in table
    assert_one_line_error(run("cost", "-m", "gpt-4oo", str(ko)), "no price for model 'gpt-4oo'")
    prices = tmp_path / "p.json"
    prices.write_text('{"as_of": "2031-02-03", "models": {"house": {"input": 1, "output": 4}}}')
    out = json.loads(
        run("cost", "--json", "--prices", str(prices), "-m", "house", "-e", "gpt2", input=KOREAN)
        .stdout
    )  # fmt: skip
    assert out["records"][0]["tokens"] == 37 and out["records"][0]["prices_as_of"] == "2031-02-03"
    flags = run("cost", "--json", "-m", "gpt-4", "--input-price", "1", input="hi")
    flags = json.loads(flags.stdout)
    assert flags["records"][0]["input_usd_per_1m"] == 1.0
    assert flags["records"][0]["output_usd_per_1m"] == 60.0
    env = run("cost", "--list-models", "--json", env={"TOKLM_PRICES": str(prices)})
    assert "house" in {m["model"] for m in json.loads(env.stdout)["models"]}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(run("cost", "--prices", str(bad), input="x"), "bad.json", "JSON")


def test_progress_bar_only_on_a_terminal() -> None:
    corpus = str(shared_path("corpora/ko.txt"))

    def stderr_on_tty(*args: str) -> bytes:
        leader, follower = pty.openpty()
        proc = subprocess.run(
            [*COMMAND, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert proc.returncode == 0
        return b"".join(chunks)

    shown = stderr_on_tty("count", "-e", "gpt2", "-i", corpus)
    assert b"toklm [" in shown and b"MB" in shown and shown.endswith(b"\r\x1b[K")
    assert stderr_on_tty("count", "--quiet", "-e", "gpt2", "-i", corpus) == b""


def test_compare_colours_tokens_in_a_terminal() -> None:
    proc = run("compare", "-e", "o200k_base", KOREAN, env={"FORCE_COLOR": "1", "TERM": "xterm"})
    line = next(x for x in proc.stdout.splitlines() if "tokens:" in x)
    styled = re.findall(r"\x1b\[([\d;]+)m([^\x1b]+)\x1b\[0m", line)
    assert [text for _, text in styled] == [
        "안", "녕하세요", ",", " 우리는", " G", "market", "입니다", ".", "<20 f0 9f 8e>", "<89>",
    ]  # fmt: skip
    styles = [style for style, _ in styled]
    assert styles[0] != styles[1]  # neighbouring tokens differ in colour
    assert styles[8] == styles[9] and styles[8] not in styles[:8]  # fragments: their own style


def test_hugging_face_tokenizers_alongside() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    neox = shared_path("tokenizers/gpt-neox-20b")
    ref = tokenizers.Tokenizer.from_file(str(neox / "tokenizer.json"))
    expected = len(ref.encode(KOREAN, add_special_tokens=False).ids)
    out = json.loads(run("compare", "--json", "-e", f"gpt2,hf:{neox}", KOREAN).stdout)
    assert [r["tokens"] for r in out["records"]] == [37, expected]
    ko = shared_path("corpora/ko.txt")
    whole = len(ref.encode(ko.read_text(encoding="utf-8"), add_special_tokens=False).ids)
    assert run("count", "-e", str(neox), "-i", str(ko)).stdout == f"{whole}\n"
    assert_one_line_error(run("count", "-e", "hf:/nonexistent/tok", "x"), "Hugging Face")


def test_compare_invalid_utf8_argument_is_located() -> None:
    arg = "한글 ".encode() + b"\xff!"  # the shell passes bytes; 0xff is never UTF-8
    proc = run("compare", "-e", "gpt2", arg)  # type: ignore[arg-type]
    assert_one_line_error(proc, "<text>: invalid UTF-8 at byte 7 (line 1, column 8)")
    ok = run("compare", "--json", "--errors", "replace", "-e", "gpt2", arg)  # type: ignore[arg-type]
    assert json.loads(ok.stdout)["records"][0]["pieces"][-2:] == [" \ufffd", "!"]
    assert "replaced 1 invalid UTF-8 sequence(s)" in ok.stderr
