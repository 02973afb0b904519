"""Each tokenizer.json component toklm supports, against `tokenizers`, on variants of Pythia's."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toklm.hf import Tokenizer

from tests.conftest import shared_path

CL100K_LIKE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TEXTS = [
    "Hello world, we are Gmarket.",
    "  leading and trailing spaces   ",
    "It's 2024: naïve café — ÀÉÎ 12345678 'LL",
    "<|endoftext|>Hi<|endoftext|> <|padding|>  x",
    "tab\there\n\n  indented\r\n  code(x) {}",
    "안녕하세요 日本語 🎉👍🏽 e\u0301 \ufb01ne \u212b",
    "",
    " ",
    "foo bar<|endoftext|>",
]
BYTE_LEVEL = {
    "type": "ByteLevel",
    "add_prefix_space": False,
    "trim_offsets": True,
    "use_regex": True,
}


@pytest.fixture(scope="module")
def neox_json():
    return json.loads(shared_path("tokenizers/gpt-neox-20b/tokenizer.json").read_text("utf-8"))


def build(tmp_path, data):
    import tokenizers

    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return Tokenizer.from_file(path), tokenizers.Tokenizer.from_file(str(path))


def assert_same(ours, theirs, texts=TEXTS):
    for text in texts:
        for special in (True, False):
            want = theirs.encode(text, add_special_tokens=special)
            got = ours(text, add_special_tokens=special, return_offsets_mapping=True)
            assert got["input_ids"] == want.ids, text
            assert got["offset_mapping"] == want.offsets, text
            assert ours.tokenize(text, add_special_tokens=special) == want.tokens, text
        for skip in (True, False):
            assert ours.decode(want.ids, skip_special_tokens=skip) == theirs.decode(
                want.ids, skip_special_tokens=skip
            )


def variant(base, **changes):
    data = copy.copy(base)
    data["model"] = dict(base["model"])
    for key, value in changes.items():
        if key.startswith("model_"):
            data["model"][key[6:]] = value
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("prefix", [True, False])
@pytest.mark.parametrize("trim", [True, False])
def test_byte_level_prefix_space_and_trim_offsets(tmp_path, neox_json, prefix, trim):
    bl = {**BYTE_LEVEL, "add_prefix_space": prefix, "trim_offsets": trim}
    data = variant(neox_json, pre_tokenizer=bl, post_processor=bl)
    assert_same(*build(tmp_path, data))


def test_byte_level_without_regex(tmp_path, neox_json):
    bl = {**BYTE_LEVEL, "use_regex": False, "add_prefix_space": True}
    assert_same(*build(tmp_path, variant(neox_json, pre_tokenizer=bl, normalizer=None)))


def llama3_style(base, behavior="Isolated", invert=False, pattern=None):
    pattern = pattern or {"Regex": CL100K_LIKE}
    pre = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert},
            {**BYTE_LEVEL, "use_regex": False},
        ],
    }
    post = {
        "type": "Sequence",
        "processors": [
            {**BYTE_LEVEL, "trim_offsets": False},
            {
                "type": "TemplateProcessing",
                "single": [
                    {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}},
                ],
                "pair": [],
                "special_tokens": {
                    "<|endoftext|>": {
                        "id": "<|endoftext|>",
                        "ids": [0],
                        "tokens": ["<|endoftext|>"],
                    }
                },
            },
        ],
    }
    return variant(base, pre_tokenizer=pre, post_processor=post, normalizer=None)


def test_split_then_byte_level_with_bos_template(tmp_path, neox_json):
    ours, theirs = build(tmp_path, variant(llama3_style(neox_json), model_ignore_merges=True))
    assert_same(ours, theirs)
    assert ours("Hi")["input_ids"][0] == 0


@pytest.mark.parametrize(
    "behavior", ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
)
@pytest.mark.parametrize("invert", [False, True])
def test_split_behaviors(tmp_path, neox_json, behavior, invert):
    data = llama3_style(neox_json, behavior, invert, pattern={"Regex": r"\s+|[,.]"})
    assert_same(*build(tmp_path, data))


def test_split_on_a_literal_string(tmp_path, neox_json):
    data = llama3_style(neox_json, "Removed", pattern={"String": "a."})
    assert_same(*build(tmp_path, data), TEXTS + ["xa.ya.a.za", "a+b a.*"])


FLAGS = [{"lstrip": True}, {"rstrip": True}, {"single_word": True},
         {"lstrip": True, "rstrip": True, "normalized": True}]  # fmt: skip
MARKS = "aeoAÅ \u0301\u0308\u0323\u0327\ufb01\u212b\u1100\u1161\u11a8가"


@pytest.mark.parametrize("flags", FLAGS)
def test_added_token_flags(tmp_path, neox_json, flags):
    added = list(neox_json["added_tokens"])
    for i, content in enumerate(["<mask>", "cat", "ab"]):
        token = {"id": 50300 + i, "content": content, "single_word": False, "lstrip": False,
                 "rstrip": False, "normalized": False, "special": i == 0}  # fmt: skip
        added.append({**token, **flags})
    ours, theirs = build(tmp_path, variant(neox_json, added_tokens=added))
    texts = TEXTS + ["a  <mask>  b", "<mask>cat<mask>", "concat cat cats ab", " ab_ab ab.", "  "]
    assert_same(ours, theirs, texts)


@pytest.mark.parametrize(
    "normalizer",
    [
        None,
        {"type": "NFKC"},
        {"type": "NFD"},
        {"type": "NFKD"},
        {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "NFC"}]},
    ],
)
def test_normalizers(tmp_path, neox_json, normalizer):
    ours, theirs = build(tmp_path, variant(neox_json, normalizer=normalizer))
    assert_same(ours, theirs)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from(MARKS), max_size=12))
def test_normalizer_offsets_random(tmp_path_factory, neox_json, text):
    ours, theirs = _nfkc_pair(tmp_path_factory, neox_json)
    assert_same(ours, theirs, [text])


_NFKC: dict[str, object] = {}


def _nfkc_pair(tmp_path_factory, neox_json):
    if "pair" not in _NFKC:
        _NFKC["pair"] = build(
            tmp_path_factory.mktemp("nfkc"), variant(neox_json, normalizer={"type": "NFKC"})
        )
    return _NFKC["pair"]


def tiny_char_model(byte_fallback: bool, unk: str | None, fuse_unk: bool) -> dict:
    vocab = {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "é": 4, "abé": 5, "c": 6}
    vocab.update({f"<0x{b:02X}>": 7 + b for b in range(256)})
    return {
        "version": "1.0",
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk,
            "fuse_unk": fuse_unk,
            "byte_fallback": byte_fallback,
            "vocab": vocab,
            "merges": ["a b", "ab é"],
        },  # fmt: skip
    }


@pytest.mark.parametrize("byte_fallback", [True, False])
@pytest.mark.parametrize("unk,fuse", [(None, False), ("<unk>", False), ("<unk>", True)])
def test_char_level_model_with_byte_fallback_and_unk(tmp_path, byte_fallback, unk, fuse):
    ours, theirs = build(tmp_path, tiny_char_model(byte_fallback, unk, fuse))
    assert_same(ours, theirs, ["abé", "xyzab", "ab é c", "ééab\u00e0\u00e0c", ""])


def test_split_regex_anchors_mean_what_oniguruma_means(tmp_path, neox_json):
    """Ruby syntax: `$` and `^` match at line breaks too."""
    data = llama3_style(neox_json, "Removed", pattern={"Regex": r" +$|^[a-z]+|\s"})
    texts = TEXTS + ["ab  \ncd  \n  ef  ", "x \r\n y", "  \n\n  "]
    assert_same(*build(tmp_path, data), texts)


def test_split_regex_read_differently_is_refused(tmp_path, neox_json):
    data = llama3_style(neox_json, pattern={"Regex": r"\p{N}{1,3}+|\s+"})
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"uses '\{m,n\}\+'.*refuses"):
        Tokenizer.from_file(path)
