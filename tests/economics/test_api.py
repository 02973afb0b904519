"""The Python API of `toklm.economics`: plain records for compare, report, cost; prices; plots."""

from __future__ import annotations

import importlib.resources
import json
import struct

import pytest
import toklm
from toklm.economics import InputError, compare, cost, load_prices, report, summarize
from toklm.economics.plots import default_size, report_figure, save_figure

from tests.cli.runner import COUNTS, ENCODINGS, ENGLISH, KOREAN
from tests.conftest import shared_path


def _plain(records: list[dict]) -> None:
    """Records are flat: every value a str, int, float, bool or None (one DataFrame column)."""
    for rec in records:
        for key, value in rec.items():
            assert value is None or isinstance(value, (str, int, float, bool)), (key, value)


@pytest.fixture(scope="module")
def udhr() -> list[dict]:
    return report([shared_path("corpora/parallel/udhr")])


def test_compare_the_issue_sentences() -> None:
    records = compare([KOREAN, ENGLISH])
    got = {(r["input"], r["tokenizer"]): r["tokens"] for r in records}
    for i, text in enumerate([KOREAN, ENGLISH], 1):
        assert tuple(got[f"<text {i}>", e] for e in ENCODINGS) == COUNTS[text]
    gpt2_ko = records[0]
    assert gpt2_ko["ids"][:3] == [168, 243, 230]
    assert gpt2_ko["chars"] == len(KOREAN) and gpt2_ko["bytes"] == len(KOREAN.encode())
    assert gpt2_ko["bytes_per_token"] == pytest.approx(len(KOREAN.encode()) / 37)
    # gpt2 splits every Hangul syllable but 하 and the emoji into bytes: 33 of 37 tokens
    assert gpt2_ko["byte_fragments"] == sum(gpt2_ko["piece_is_fragment"]) == 33
    o200k_en = records[5]
    assert o200k_en["pieces"][-2:] == ["<20 f0 9f 8e>", "<89>"]
    assert o200k_en["byte_fragment_share"] == pytest.approx(2 / 10)


def test_compare_files_are_counted_whole() -> None:
    ko = shared_path("corpora/parallel/ntrex128/ko.txt")
    records = compare(files=[ko], tokenizers=["o200k_base", "gpt-4"])
    assert [r["tokenizer"] for r in records] == ["o200k_base", "cl100k_base"]
    text = ko.read_text(encoding="utf-8")
    for r in records:
        assert r["tokens"] == toklm.get_encoding(r["tokenizer"]).count_batch([text])[0]
        assert r["bytes"] == ko.stat().st_size and r["chars"] == len(text)
        assert "ids" not in r
    assert records[0]["byte_fragment_share"] < records[1]["byte_fragment_share"]
    _plain(records)


def test_report_premium_and_fragments(udhr: list[dict]) -> None:
    assert len(udhr) == 26 * 3
    _plain(udhr)
    by = {(r["language"], r["tokenizer"]): r for r in udhr}
    for enc in ENCODINGS:
        en = by["en", enc]
        assert en["premium"] == 1.0 and en["reference"] == "en" and en["lines"] == 31
        ko = by["ko", enc]
        assert ko["premium"] == pytest.approx(ko["tokens"] / en["tokens"])
        assert ko["tokens_per_line"] == pytest.approx(ko["tokens"] / 31)
        assert ko["tokens_per_line_p5"] <= ko["tokens_per_line_p50"] <= ko["tokens_per_line_p95"]
        assert ko["tokens_per_line_p95"] <= ko["tokens_per_line_max"]
    # the finding: Korean's premium falls from gpt2 to o200k_base, and so do byte fragments
    assert by["ko", "gpt2"]["premium"] > 2 * by["ko", "o200k_base"]["premium"]
    assert (
        by["ko", "gpt2"]["byte_fragment_share"]
        > 0.5
        > by["ko", "o200k_base"]["byte_fragment_share"]
    )
    text = shared_path("corpora/parallel/udhr/ko.txt").read_text(encoding="utf-8")
    lines = text.removesuffix("\n").split("\n")  # each line on its own, without its break
    enc = toklm.get_encoding("cl100k_base")
    assert by["ko", "cl100k_base"]["tokens"] == sum(enc.count_batch(lines))


def test_summary_states_the_finding_in_numbers(udhr: list[dict]) -> None:
    text = "\n".join(summarize(udhr))
    by = {(r["language"], r["tokenizer"]): r for r in udhr}
    a, b = by["ko", "gpt2"]["premium"], by["ko", "o200k_base"]["premium"]
    assert f"Korean: {a:.2f}x English tokens under gpt2 -> {b:.2f}x under o200k_base" in text


def test_report_refuses_misaligned_parallel_files(tmp_path) -> None:
    (tmp_path / "en.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "ko.txt").write_text("하나\n", encoding="utf-8")
    with pytest.raises(InputError, match="ko.txt has 1 lines, .*en.txt has 2"):
        report([tmp_path])
    rows = report([tmp_path], ["gpt2"], parallel=False)
    assert [r["premium"] for r in rows] == [None, None]
    assert "No token premium" in summarize(rows)[-1]
    (tmp_path / "ko.txt").write_text("하나\n둘\n", encoding="utf-8")
    with pytest.raises(InputError, match="no reference file de.txt"):
        report([tmp_path], reference="de")


def test_report_monolingual_files() -> None:
    files = [shared_path("corpora/en.txt"), shared_path("corpora/code.txt")]
    rows = report(files, ["o200k_base"])
    assert [r["language"] for r in rows] == ["en", "code"]
    assert all(r["premium"] is None for r in rows)
    assert rows[0]["lines"] == 40000


def test_cost_arithmetic_and_prices(tmp_path) -> None:
    r = cost(texts=[KOREAN], models=["gpt-4o", "gpt-4"], output_tokens=100)
    assert [x["tokens"] for x in r] == [10, 17]
    assert r[1]["input_usd"] == pytest.approx(17 * 30.0 / 1e6)
    assert r[1]["output_usd"] == pytest.approx(100 * 60.0 / 1e6)
    assert r[1]["total_usd"] == pytest.approx(r[1]["input_usd"] + r[1]["output_usd"])
    assert r[0]["prices_as_of"] == load_prices().as_of
    with pytest.raises(KeyError, match="no price for model 'gpt-4oo'.*did you mean gpt-4o"):
        cost(texts=["x"], models=["gpt-4oo"])
    user = tmp_path / "prices.json"
    user.write_text(json.dumps({"as_of": "2030-01-01", "models": {
        "gpt-4o": {"input": 1.0, "output": 2.0},
        "my-model": {"input": 3.0, "output": None, "encoding": "gpt2"}}}))  # fmt: skip
    r = cost(texts=[KOREAN], models=["gpt-4o", "my-model"], prices=load_prices(str(user)))
    assert r[0]["input_usd_per_1m"] == 1.0 and r[0]["prices_as_of"] == "2030-01-01"
    assert r[1]["encoding"] == "gpt2" and r[1]["tokens"] == 37
    user.write_text(json.dumps({"as_of": "x", "models": {"m": {"input": -1}}}))
    with pytest.raises(ValueError, match="cannot be negative"):
        load_prices(str(user))


def test_every_priced_model_has_a_tokenizer() -> None:
    table = load_prices()
    assert table.as_of == "2026-06-30"
    shipped = importlib.resources.files("toklm.economics") / "prices.json"
    data = json.loads(shipped.read_text(encoding="utf-8"))
    for model, entry in data["models"].items():
        assert entry["source"], model
        for name in [model, *entry.get("aliases", [])]:
            assert table.lookup(name).model == model
            toklm.encoding_for_model(name)  # raises KeyError if toklm cannot tokenize for it


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plots(udhr: list[dict], tmp_path) -> None:
    fig = report_figure(udhr, size=(1500, 1200))
    premium, per_char, per_line = fig.axes
    # one bar series per tokenizer, one bar per language, heights = the records' premiums
    assert [c.get_label() for c in premium.containers] == list(ENCODINGS)
    by = {(r["language"], r["tokenizer"]): r for r in udhr}
    languages = [t.get_text() for t in premium.get_xticklabels()]
    assert sorted(languages) == sorted({r["language"] for r in udhr})
    for enc, bars in zip(ENCODINGS, premium.containers, strict=True):
        assert [b.get_height() for b in bars] == pytest.approx(
            [by[lang, enc]["premium"] for lang in languages]
        )
    assert [b.get_height() for b in per_char.containers[1]] == pytest.approx(
        [by[lang, "cl100k_base"]["tokens_per_char"] for lang in languages]
    )
    assert len(per_line.patches) == 3 * 26  # one box per tokenizer and language
    save_figure(fig, tmp_path / "r.png")
    assert _png_size(tmp_path / "r.png") == (1500, 1200)
    save_figure(fig, tmp_path / "r.svg")
    svg = (tmp_path / "r.svg").read_text(encoding="utf-8")
    assert 'width="1080pt" height="864pt"' in svg  # 1500x1200 px at 100 dpi = 72 pt per inch
    for enc in ENCODINGS:
        assert f">{enc}<" in svg  # legend text kept as text
        for panel in ("premium", "tokens_per_char", "tokens_per_line"):
            assert f'id="{panel}-{enc}-ko"' in svg
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        save_figure(fig, tmp_path / "r.jpg")


def test_plot_without_premium_has_two_panels() -> None:
    rows = report([shared_path("corpora/parallel/udhr/ko.txt")], ["gpt2"])
    fig = report_figure(rows)
    assert len(fig.axes) == 2
    w, h = default_size(rows)
    assert (fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi) == (w, h) == (1000, 840)
