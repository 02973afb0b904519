"""`toklm.show`, `Encoding.show` and `Tokenizer.show`: notebook HTML and terminal views."""

from __future__ import annotations

import io

import pytest
import toklm

from tests.cli.runner import KOREAN
from tests.playground.conftest import require


def test_show_counts_and_html() -> None:
    view = toklm.show(KOREAN, tokenizers=["gpt2", "cl100k_base", "o200k_base"])
    assert view.counts == {"gpt2": 37, "cl100k_base": 17, "o200k_base": 10}
    page = view._repr_html_()
    for n in (37, 17, 10):
        assert f'data-count="{n}"' in page
    assert "<style>" in page and "toklm-view" in page


def test_defaults_and_objects() -> None:
    assert list(toklm.show("hi").counts) == ["gpt2", "cl100k_base", "o200k_base"]
    enc = toklm.get_encoding("cl100k_base")
    assert enc.show(KOREAN).counts == {"cl100k_base": 17}
    assert toklm.show("hi", tokenizers="gpt-4o").counts == {"gpt-4o (o200k_base)": 1}


def test_hf_tokenizer_show(neox_path: str) -> None:
    from toklm.hf import Tokenizer

    tok = Tokenizer.from_pretrained(neox_path)
    view = tok.show(KOREAN)
    assert list(view.counts.values()) == [len(tok.encode(KOREAN))]


def test_plain_and_rich_terminal_views() -> None:
    view = toklm.show("hi 🎉\nok", tokenizers=["gpt2"])
    assert view.plain().splitlines()[1] == "  hi|·[f0 9f]|[8e]|[89]|↵"
    assert str(view) == view.plain()  # not a terminal
    rich = require("rich.console")
    buf = io.StringIO()
    rich.Console(file=buf, force_terminal=True, color_system="truecolor").print(view)
    out = buf.getvalue()
    assert "\x1b[" in out and "f0 9f" in out and "gpt2: 6 tokens" in out
    buf = io.StringIO()
    rich.Console(file=buf, color_system=None).print(view)
    assert "\x1b[" not in buf.getvalue() and "[f0 9f]" in buf.getvalue()


def test_long_texts_are_cut_with_a_note() -> None:
    view = toklm.show("안녕 " * 3000, tokenizers=["o200k_base"], max_tokens=10)
    assert "… " in view.plain() and "more tokens" in view.plain()
    assert "Pass max_tokens=None" in view._repr_html_()
    assert "more tokens" not in toklm.show("hi", max_tokens=None).plain()


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="text must be a str"):
        toklm.show(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="unknown encoding 'nope'"):
        toklm.show("hi", tokenizers=["nope"])
