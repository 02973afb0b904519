"""Issue 8, items 5 and 7: the small traps of compare / report / cost, run as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.runner import assert_one_line_error
from tests.cli.runner import toklm as run
from tests.conftest import REPO, shared_path


def test_report_of_blank_lines_is_a_table_not_a_crash(tmp_path: Path) -> None:
    blank = tmp_path / "b.txt"
    blank.write_text("\n\n\n", encoding="utf-8")
    proc = run("report", str(blank))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "b" in proc.stdout and "No token premium" in proc.stdout
    mixed = tmp_path / "en.txt"
    mixed.write_text("hello\n", encoding="utf-8")
    assert run("report", str(blank), str(mixed)).returncode == 0


def test_two_languages_are_not_both_highest_and_lowest(tmp_path: Path) -> None:
    (tmp_path / "en.txt").write_text("Hello world\nGood morning\n", encoding="utf-8")
    (tmp_path / "ko.txt").write_text("안녕하세요 세계\n좋은 아침\n", encoding="utf-8")
    summary = json.loads(run("report", "--json", "-e", "gpt2", str(tmp_path)).stdout)["summary"]
    line = next(s for s in summary if s.startswith("gpt2:"))
    assert "highest" not in line and "Korean" in line, line
    (tmp_path / "ja.txt").write_text("こんにちは世界\nおはよう\n", encoding="utf-8")
    summary = json.loads(run("report", "--json", "-e", "gpt2", str(tmp_path)).stdout)["summary"]
    line = next(s for s in summary if s.startswith("gpt2:"))
    high, low = re.match(r"gpt2: highest premium (.*); lowest (.*)\.", line).groups()  # type: ignore[union-attr]
    assert not set(high.split(", ")) & set(low.split(", ")), line


def test_files_given_one_by_one_say_why_there_is_no_premium(tmp_path: Path) -> None:
    en, ko = tmp_path / "en.txt", tmp_path / "ko.txt"
    en.write_text("a\nb\nc\n", encoding="utf-8")
    ko.write_text("가\n나\n", encoding="utf-8")
    proc = run("report", "-e", "gpt2", str(en), str(ko))
    assert proc.returncode == 0
    assert re.search(r"No token premium: the files are not aligned line by line \(.*ko\.txt has 2 "
                     r"lines, .*en\.txt has 3\)", proc.stdout), proc.stdout  # fmt: skip
    ko.write_text("가\n나\n다\n", encoding="utf-8")  # aligned, with the reference: a premium
    out = json.loads(run("report", "--json", "-e", "gpt2", str(en), str(ko)).stdout)
    assert [r["premium"] is not None for r in out["records"]] == [True, True]
    no_ref = json.loads(run("report", "--json", "-e", "gpt2", str(ko), str(ko)).stdout)
    assert "no en.txt among the files" in no_ref["records"][0]["premium_note"]


def test_compare_refuses_tokens_it_would_not_show() -> None:
    ko = shared_path("corpora/parallel/ntrex128/ko.txt")
    assert_one_line_error(run("compare", "-i", str(ko), "--tokens"), "--tokens", "encode --tokens")
    assert run("compare", "-i", str(ko), "--no-tokens", "-e", "gpt2").returncode == 0


def test_costs_print_in_one_format(tmp_path: Path) -> None:
    ko = shared_path("corpora/ko.txt")
    table = run("cost", "-m", "gpt-4", "--output-tokens", "5000000", str(ko)).stdout
    amounts = re.findall(r"\$[\d,]+\.\d+", table)
    assert amounts and all(re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d", a) for a in amounts), amounts
    tiny = run("cost", "-m", "gpt-4o", "--text", "hi").stdout
    assert "$0.0000025" in tiny  # 1 token at $2.50 per 1M: under a cent, 3 significant digits


def test_the_readme_names_what_toklm_load_really_has() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"toklm\.load\.(\w+)", readme))
    assert named, "the README no longer mentions toklm.load"
    import toklm.load

    assert all(hasattr(toklm.load, name) for name in named), named
    assert "`toklm.load` reads" not in readme  # the module is not callable
    ranks = toklm.load.load_tiktoken_bpe(str(shared_path("tokenizers/tiktoken/r50k_base.tiktoken")))
    assert len(ranks) == toklm.get_encoding("r50k_base").n_vocab - 1  # + <|endoftext|>


def test_a_misspelled_plot_directory_fails_before_the_work(tmp_path: Path) -> None:
    corpus = shared_path("corpora/parallel/udhr")
    proc = run("report", str(corpus), "--plot", str(tmp_path / "nope" / "p.png"))
    assert_one_line_error(proc, "no such directory")
