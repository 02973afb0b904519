"""Loading: hub-cache repo ids, config files, class aliases, and bad files with clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
from toklm.hf import (
    AutoTokenizer,
    GPT2Tokenizer,
    GPT2TokenizerFast,
    GPTNeoXTokenizerFast,
    Tokenizer,
    UnknownTokenIdError,
)

from tests.conftest import shared_path

COMMIT = "a" * 40
TEXT = "Hello world, we are Gmarket."


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    """An HF hub cache (HF_HUB_CACHE) holding EleutherAI/pythia-410m and openai-community/gpt2."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for repo, files in {
        "EleutherAI/pythia-410m": {"tokenizer.json": "tokenizers/gpt-neox-20b/tokenizer.json"},
        "openai-community/gpt2": {
            "vocab.json": "tokenizers/gpt2/vocab.json",
            "merges.txt": "tokenizers/gpt2/merges.txt",
        },
    }.items():
        root = cache / ("models--" + repo.replace("/", "--"))
        (root / "refs").mkdir(parents=True)
        (root / "refs" / "main").write_text(COMMIT)
        snapshot = root / "snapshots" / COMMIT
        snapshot.mkdir(parents=True)
        for name, rel in files.items():
            (root / "blobs").mkdir(exist_ok=True)
            blob = root / "blobs" / name
            shutil.copyfile(shared_path(rel), blob)
            (snapshot / name).symlink_to(blob)
    return cache


def test_repo_ids_from_the_hub_cache(hub_cache):
    pythia = AutoTokenizer.from_pretrained("EleutherAI/pythia-410m")
    assert pythia(TEXT)["input_ids"] == [12092, 1533, 13, 359, 403, 443, 16532, 15]
    assert pythia.name == "EleutherAI/pythia-410m"
    gpt2 = Tokenizer.from_pretrained("openai-community/gpt2", revision=COMMIT)
    assert gpt2.encode(TEXT) == [15496, 995, 11, 356, 389, 402, 10728, 13]


def test_tokenizer_config_picks_the_class_and_specials(hub_cache):
    snapshot = hub_cache / "models--EleutherAI--pythia-410m" / "snapshots" / COMMIT
    config = {"tokenizer_class": "GPTNeoXTokenizer", "add_bos_token": True, "model_max_length": 4}
    (snapshot / "tokenizer_config.json").write_text(json.dumps(config))
    (snapshot / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": {"content": "<|endoftext|>"}})
    )
    tok = Tokenizer.from_pretrained("EleutherAI/pythia-410m")
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|endoftext|>",) * 2 + (
        "<|padding|>",
    )
    assert tok("Hi")["input_ids"] == [0, 12764]
    assert tok(TEXT, truncation=True)["input_ids"] == [0, 12092, 1533, 13]
    assert tok(TEXT, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"][
        1
    ] == (5, 11)


def test_aliases_follow_their_transformers_class(gpt2_dir, neox_dir):
    assert GPT2TokenizerFast is GPT2Tokenizer
    neox = GPTNeoXTokenizerFast.from_pretrained(neox_dir)
    assert (neox.pad_token, neox.pad_token_id, neox.eos_token_id) == ("<|padding|>", 1, 0)
    assert neox("  x", return_offsets_mapping=True)["offset_mapping"] == [(0, 2), (2, 3)]
    auto = AutoTokenizer.from_pretrained(neox_dir)
    assert auto.pad_token is None
    assert auto("  x", return_offsets_mapping=True)["offset_mapping"] == [(2, 2), (2, 3)]
    gpt2 = GPT2Tokenizer.from_pretrained(gpt2_dir / "vocab.json")
    assert gpt2.bos_token == gpt2.eos_token == gpt2.unk_token == "<|endoftext|>"
    assert type(gpt2) is GPT2Tokenizer and len(gpt2) == 50257


def test_from_pretrained_kwargs(gpt2_dir):
    tok = GPT2Tokenizer.from_pretrained(gpt2_dir, add_prefix_space=True, pad_token="<|endoftext|>")
    assert tok.encode("Hello") == [18435]
    assert tok.pad_token_id == 50256
    with pytest.raises(TypeError, match="unexpected keyword"):
        GPT2Tokenizer.from_pretrained(gpt2_dir, no_such_option=1)


def test_missing_files_name_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as e:
        Tokenizer.from_pretrained("nobody/nothing")
    msg = str(e.value)
    assert "tokenizer.json" in msg and "vocab.json" in msg
    assert str(tmp_path / "cache" / "models--nobody--nothing") in msg
    (tmp_path / "only_vocab").mkdir()
    (tmp_path / "only_vocab" / "vocab.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        Tokenizer.from_pretrained(tmp_path / "only_vocab")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_json_names_file_and_line(tmp_path):
    path = write(tmp_path, "tokenizer.json", '{\n  "model": {\n    "type": "BPE",,\n')
    with pytest.raises(ValueError, match=r"tokenizer\.json: malformed JSON at line 3"):
        Tokenizer.from_file(path)


@pytest.fixture(scope="module")
def small_json():
    data = json.loads(shared_path("tokenizers/gpt-neox-20b/tokenizer.json").read_text("utf-8"))
    data["model"]["vocab"] = {k: v for k, v in data["model"]["vocab"].items() if v < 300}
    data["model"]["merges"] = []
    return data


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": {"type": "WordPiece", "vocab": {}}}, "model type 'WordPiece' is not supported"),
        ({"model": {"type": "Unigram", "vocab": []}}, "model type 'Unigram'"),
        ({"model/dropout": 0.1}, "dropout is 0.1: BPE dropout samples merges at random"),
        ({"model/merges": ["Ġ t", "Ġt he x"]}, r"merges\[1\]: expected two tokens"),
        ({"model/merges": ["Ġ zzz"]}, "merge 0.*zzz.* is not in the vocab"),
        ({"model/continuing_subword_prefix": "##"}, "continuing_subword_prefix"),
        (
            {"pre_tokenizer": {"type": "Metaspace"}},
            "pre-tokenizer type 'Metaspace' is not supported",
        ),
        ({"normalizer": {"type": "Lowercase"}}, "normalizer type 'Lowercase' is not supported"),
        (
            {"post_processor": {"type": "RobertaProcessing"}},
            "post-processor type 'RobertaProcessing'",
        ),
        ({"decoder": {"type": "WordPiece"}}, "decoder type 'WordPiece' is not supported"),
        (
            {
                "pre_tokenizer": {
                    "type": "Sequence",
                    "pretokenizers": [
                        {"type": "ByteLevel"},
                        {"type": "Split", "pattern": {"Regex": "a"}},
                    ],
                }
            },
            "ByteLevel to be the last",
        ),  # fmt: skip
        ({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}}}, "Split pattern"),
        (
            {"added_tokens": [{"content": "x"}]},
            r"added_tokens\[0\] must be an object with an int 'id'",
        ),
    ],
)
def test_unsupported_or_broken_components(tmp_path, small_json, change, message):
    data = json.loads(json.dumps(small_json))
    for key, value in change.items():
        if "/" in key:
            outer, inner = key.split("/")
            data[outer][inner] = value
        else:
            data[key] = value
    path = write(tmp_path, "tokenizer.json", json.dumps(data))
    with pytest.raises(ValueError, match=message) as e:
        Tokenizer.from_file(path)
    assert str(path) in str(e.value)


def test_bad_merges_txt_names_file_and_line(tmp_path, gpt2_dir):
    shutil.copyfile(gpt2_dir / "vocab.json", tmp_path / "vocab.json")
    write(tmp_path, "merges.txt", "#version: 0.2\nĠ t\nĠt he extra\n")
    with pytest.raises(ValueError, match=r"merges\.txt: line 3: a merge must be two tokens"):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path, "merges.txt", "#version: 0.2\nĠ t\n")
    write(tmp_path, "vocab.json", '["not", "an", "object"]')
    with pytest.raises(ValueError, match=r"vocab\.json: expected a JSON object"):
        Tokenizer.from_pretrained(tmp_path)


def test_decode_out_of_range_ids_is_a_clear_error(ours):
    tok = ours["gpt2"]
    for bad in (50257, 10**12, -1):
        with pytest.raises(UnknownTokenIdError, match=f"token id {bad} is not in the vocabulary"):
            tok.decode([15496, bad])
        with pytest.raises(KeyError):
            tok.decode_single_token_bytes(bad)
    with pytest.raises(ValueError):
        tok.decode_bytes([99999999])


def test_no_pad_token_is_a_clear_error(ours):
    with pytest.raises(ValueError, match="no padding token"):
        ours["gpt2"](["a", "b c"], padding=True)
    with pytest.raises(ValueError, match="different lengths.*padding=True"):
        ours["gpt2"](["a", "b c"], return_tensors="np")


@pytest.mark.parametrize("layout", ["pythia", "gpt2"])
def test_hub_style_directories_like_transformers(tmp_path, neox_dir, gpt2_dir, layout):
    """Config files as the real repos have them pick the class and special tokens."""
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    transformers.logging.set_verbosity_error()
    if layout == "pythia":
        shutil.copyfile(neox_dir / "tokenizer.json", tmp_path / "tokenizer.json")
        specials = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                    "unk_token": "<|endoftext|>"}  # fmt: skip
        config = {**specials, "add_prefix_space": False, "tokenizer_class": "GPTNeoXTokenizer"}
        (tmp_path / "special_tokens_map.json").write_text(json.dumps(specials))
    else:  # a tokenizer.json with a ByteLevel post-processor; the class comes from config.json
        from tokenizers import decoders, pre_tokenizers, processors
        from tokenizers.models import BPE

        ref = tokenizers.Tokenizer(
            BPE.from_file(str(gpt2_dir / "vocab.json"), str(gpt2_dir / "merges.txt"))
        )
        ref.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        ref.decoder = decoders.ByteLevel()
        ref.post_processor = processors.ByteLevel(trim_offsets=False)
        ref.add_special_tokens([tokenizers.AddedToken("<|endoftext|>", special=True)])
        ref.save(str(tmp_path / "tokenizer.json"))
        config = {"model_max_length": 8}
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = Tokenizer.from_pretrained(tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    for attr in ("bos_token", "eos_token", "unk_token", "pad_token", "model_max_length",
                 "all_special_tokens", "vocab_size"):  # fmt: skip
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    text = "Hello  world <|padding|><|endoftext|>x and more words than eight"
    for kwargs in ({}, {"truncation": True}):
        got = ours(text, return_offsets_mapping=True, **kwargs)
        assert dict(got) == dict(theirs(text, return_offsets_mapping=True, **kwargs))
