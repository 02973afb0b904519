"""Malformed tokenizer.json files: a SpecError naming the file and the JSON path, never an
AttributeError or RecursionError; whatever `tokenizers` refuses, toklm refuses too."""

from __future__ import annotations

import copy
import json

import pytest
from toklm.cli import main as cli_main
from toklm.hf import Tokenizer
from toklm.hf.spec import SpecError

from tests.conftest import shared_path


@pytest.fixture(scope="module")
def small_json():
    data = json.loads(shared_path("tokenizers/gpt-neox-20b/tokenizer.json").read_text("utf-8"))
    data["model"]["vocab"] = {k: v for k, v in data["model"]["vocab"].items() if v < 300}
    data["model"]["merges"] = []
    return data


def _template(special_ids, single=None):
    return {
        "type": "TemplateProcessing",
        "single": single
        if single is not None
        else [{"SpecialToken": {"id": "X", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {"X": {"id": "X", "ids": special_ids, "tokens": ["X"]}},
    }


def _nested_pre_tokenizer(levels):
    step = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    for _ in range(levels):
        step = {"type": "Sequence", "pretokenizers": [step]}
    return step


# (where in the document, new value or DELETE, the JSON path the message must name)
DELETE = object()
CASES = {
    "pre-tokenizer list": ("pre_tokenizer", [{"type": "ByteLevel"}], "pre_tokenizer must be"),
    "pretokenizers map": (
        "pre_tokenizer",
        {"type": "Sequence", "pretokenizers": {"a": 1}},
        "pre_tokenizer.pretokenizers must be a list",
    ),
    "Sequence is a string": (
        "post_processor",
        _template([5], single=[{"Sequence": "A"}]),
        r"post_processor.single\[0\].Sequence must be an object",
    ),
    "type_id is a string": (
        "post_processor",
        _template([5], single=[{"Sequence": {"id": "A", "type_id": "x"}}]),
        r"post_processor.single\[0\].Sequence.type_id must be an integer id",
    ),
    "special_tokens list": (
        "post_processor",
        {"type": "TemplateProcessing", "single": [], "special_tokens": [1]},
        "post_processor.special_tokens must be an object",
    ),
    "post-processor id 2**40": (
        "post_processor",
        _template([2**40]),
        r"post_processor.special_tokens\['X'\].ids\[0\] must be an integer id",
    ),
    "post-processor id -1": ("post_processor", _template([-1]), r"ids\[0\] must be an integer"),
    "added id -1": (
        "added_tokens",
        [{"id": -1, "content": "zz", "special": True}],
        r"added_tokens\[0\].id must be an integer id in 0..2\*\*32-1",
    ),
    "added id 2**40": (
        "added_tokens",
        [{"id": 2**40, "content": "zz", "special": True}],
        r"added_tokens\[0\].id must be an integer id",
    ),
    "added_tokens map": ("added_tokens", {"a": 1}, "added_tokens must be a list"),
    "merges missing": ("model/merges", DELETE, "model.merges is missing"),
    "merge is an int": ("model/merges", [5], r"merges\[0\]: expected two tokens"),
    "merge of three": ("model/merges", [["a", "b", "c"]], r"merges\[0\]: expected two tokens"),
    "vocab id -1": ("model/vocab/zzz", -1, r'vocab\["zzz"\] = -1 is not an id'),
    "vocab id 2**40": ("model/vocab/zzz", 2**40, r'vocab\["zzz"\] = 1099511627776'),
    "normalizer list": ("normalizer", [1], "normalizer: normalizer type None"),
    "normalizers map": (
        "normalizer",
        {"type": "Sequence", "normalizers": {"a": 1}},
        "normalizer.normalizers must be a list",
    ),
    "padding list": ("padding", [1], "padding must be an object"),
    "nested 64 deep": ("pre_tokenizer", _nested_pre_tokenizer(64), "nested more than 127 levels"),
}


def _changed(data, where, value):
    data = copy.deepcopy(data)
    *outer, last = where.split("/")
    target = data
    for key in outer:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


@pytest.mark.parametrize("case", CASES)
def test_malformed_shape_is_a_spec_error_naming_file_and_path(tmp_path, small_json, case):
    where, value, message = CASES[case]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(_changed(small_json, where, value)), encoding="utf-8")
    with pytest.raises(SpecError, match=message) as got:
        Tokenizer.from_file(path)
    assert str(got.value).startswith(f"{path}: ")
    tokenizers = pytest.importorskip("tokenizers")
    with pytest.raises(Exception):  # noqa: B017 (tokenizers raises a bare Exception)
        tokenizers.Tokenizer.from_file(str(path))


def test_the_deepest_file_tokenizers_reads_is_read(tmp_path, small_json):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(_changed(small_json, "pre_tokenizer", _nested_pre_tokenizer(62))))
    ids = Tokenizer.from_file(path).encode("hi there")
    tokenizers = pytest.importorskip("tokenizers")
    assert ids == tokenizers.Tokenizer.from_file(str(path)).encode("hi there").ids


def test_nesting_deeper_than_python_recursion_is_a_spec_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SpecError, match=f"{path}: JSON nested too deeply"):
        Tokenizer.from_file(path)


def test_cli_shows_one_line(tmp_path, small_json, capsys):
    for n, (where, value) in enumerate(
        [("post_processor", _template([5], single=[{"Sequence": "A"}])), ("model", None)]
    ):
        d = tmp_path / f"tok{n}"
        d.mkdir()
        (d / "tokenizer.json").write_text(json.dumps(_changed(small_json, where, value)))
        assert cli_main(["encode", "-e", f"hf:{d}", "hi"]) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(d / "tokenizer.json") in err, err
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "tokenizer.json").write_text('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert cli_main(["encode", "-e", f"hf:{deep}", "hi"]) != 0
    assert capsys.readouterr().err.count("\n") == 1
