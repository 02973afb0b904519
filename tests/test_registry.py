"""toklm.registry and toklm.openai_public: encodings by name, exactly as in tiktoken 0.14."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

import pytest
import tiktoken_ext.openai_public as tiktoken_public
from toklm import openai_public, registry
from toklm.load import CompactRanks, bundled_ranks

REPO = Path(__file__).resolve().parents[1]
NAMES = [
    "gpt2",
    "r50k_base",
    "p50k_base",
    "p50k_edit",
    "cl100k_base",
    "o200k_base",
    "o200k_harmony",
]
N_VOCAB = {
    "gpt2": 50257,
    "r50k_base": 50257,
    "p50k_base": 50281,
    "p50k_edit": 50284,
    "cl100k_base": 100277,
    "o200k_base": 200019,
    "o200k_harmony": 201088,
}


@pytest.fixture
def tiktoken_kwargs(monkeypatch):
    """tiktoken's own constructors, with their network file loading replaced by a marker."""
    marker = {b"<ranks>": 0}
    monkeypatch.setattr(tiktoken_public, "load_tiktoken_bpe", lambda *a, **k: marker)
    monkeypatch.setattr(tiktoken_public, "data_gym_to_mergeable_bpe_ranks", lambda *a, **k: marker)
    return lambda name: tiktoken_public.ENCODING_CONSTRUCTORS[name]()


@pytest.mark.parametrize("name", NAMES)
def test_constructor_matches_tiktoken(name, tiktoken_kwargs):
    ours, theirs = openai_public.ENCODING_CONSTRUCTORS[name](), tiktoken_kwargs(name)
    assert ours.keys() == theirs.keys()
    assert ours["name"] == theirs["name"] == name
    assert ours["pat_str"] == theirs["pat_str"]
    assert ours["special_tokens"] == theirs["special_tokens"]
    assert list(ours["special_tokens"]) == list(theirs["special_tokens"])  # insertion order too
    assert ours.get("explicit_n_vocab") == theirs.get("explicit_n_vocab")
    ranks = ours["mergeable_ranks"]
    assert isinstance(ranks, CompactRanks)  # the bundled data, never the network
    assert max(ranks.n_ranks - 1, *ours["special_tokens"].values()) + 1 == N_VOCAB[name]


def test_constructor_table_matches_tiktoken():
    assert list(openai_public.ENCODING_CONSTRUCTORS) == list(tiktoken_public.ENCODING_CONSTRUCTORS)


def test_o200k_harmony_special_tokens():
    specials = openai_public.o200k_harmony()["special_tokens"]
    assert len(specials) == 1091
    # tiktoken's quirk, kept: two names share id 200018.
    assert specials["<|endofprompt|>"] == specials["<|reserved_200018|>"] == 200018
    assert specials["<|startoftext|>"] == 199998 and specials["<|reserved_201087|>"] == 201087
    assert openai_public.o200k_harmony()["mergeable_ranks"] is bundled_ranks("o200k_base")


def test_pattern_constants_equal_tiktoken(tiktoken_kwargs):
    assert openai_public.R50K_PAT_STR == tiktoken_public.r50k_pat_str
    assert openai_public.CL100K_PAT_STR == tiktoken_kwargs("cl100k_base")["pat_str"]
    assert openai_public.O200K_PAT_STR == tiktoken_kwargs("o200k_base")["pat_str"]


def _rust_pattern_constants() -> dict[str, str]:
    """The `pub const *_PATTERN` strings of src/pretok/mod.rs (raw strings, `concat!`s)."""
    source = (REPO / "src" / "pretok" / "mod.rs").read_text()
    constants = {}
    for name, body in re.findall(r"pub const (\w+_PATTERN): &str =\s*(.*?);\n", source, re.S):
        pieces = re.findall(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', body, re.S)
        constants[name] = "".join(raw if hashes or raw else plain for hashes, raw, plain in pieces)
    return constants


def test_pattern_constants_equal_rust_scanner_patterns():
    if not (REPO / "src" / "pretok" / "mod.rs").is_file():
        pytest.skip("src/pretok/mod.rs is not part of this checkout (installed package)")
    rust = _rust_pattern_constants()
    assert rust["R50K_PATTERN"] == openai_public.R50K_PAT_STR
    assert rust["CL100K_PATTERN"] == openai_public.CL100K_PAT_STR
    assert rust["O200K_PATTERN"] == openai_public.O200K_PAT_STR


def test_list_encoding_names():
    assert registry.list_encoding_names() == NAMES


def test_unknown_encoding_lists_known_names():
    with pytest.raises(
        ValueError,
        match=r"^Unknown encoding o300k_base\.\nPlugins found: \[\]\n"
        r"Known encodings: gpt2, r50k_base, .*o200k_harmony$",
    ):
        registry.get_encoding("o300k_base")
    with pytest.raises(TypeError, match="Expected a string in get_encoding, got bytes"):
        registry.get_encoding(b"gpt2")


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A `toklm_ext` namespace package on sys.path, with the registry's caches reset around it."""
    root = tmp_path / "site"
    (root / "toklm_ext").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(registry, "_CONSTRUCTORS", None)
    registry._plugin_modules.cache_clear()
    yield root / "toklm_ext"
    registry._plugin_modules.cache_clear()
    for name in [m for m in sys.modules if m == "toklm_ext" or m.startswith("toklm_ext.")]:
        del sys.modules[name]


def test_plugin_encodings_are_found(plugin_dir):
    (plugin_dir / "bytes_only.py").write_text(
        "def byte_level():\n"
        "    return {'name': 'byte_level', 'pat_str': r'\\S+|\\s+',\n"
        "            'mergeable_ranks': {bytes([b]): b for b in range(256)},\n"
        "            'special_tokens': {'<|end|>': 256}}\n"
        "ENCODING_CONSTRUCTORS = {'byte_level': byte_level}\n"
    )
    assert registry.list_encoding_names() == [*NAMES, "byte_level"]
    with pytest.raises(ValueError, match=r"Plugins found: \['toklm_ext.bytes_only'\]"):
        registry.get_encoding("nope")


def test_plugin_errors(plugin_dir):
    (plugin_dir / "broken.py").write_text("ENCODING_CONSTRUCTORS = {'gpt2': None}\n")
    with pytest.raises(ValueError, match="Duplicate encoding name gpt2 in toklm plugin"):
        registry.list_encoding_names()
    (plugin_dir / "broken.py").write_text("X = 1\n")
    sys.modules.pop("toklm_ext.broken", None)
    with pytest.raises(ValueError, match="toklm_ext.broken does not define an ENCODING_CONS"):
        registry.list_encoding_names()  # errors are raised again, not cached as an empty table


# --- With the native core -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_get_encoding_builds_each_encoding(name):
    enc = registry.get_encoding(name)
    assert enc.name == name and enc.n_vocab == N_VOCAB[name]
    assert registry.get_encoding(name) is enc


def test_get_encoding_hello_world():
    import toklm

    assert toklm.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert toklm.get_encoding("gpt2").encode("hello world") == [31373, 995]
    assert toklm.get_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_bundled_encodings_build_no_python_dict(monkeypatch):
    # The compact blob goes straight to Rust: a dict of 200k bytes objects costs ~130 ms.
    monkeypatch.setattr(registry, "_ENCODINGS", {})
    bundled_ranks.cache_clear()  # other tests may have used the shared object as a mapping
    enc = registry.get_encoding("o200k_base")
    assert enc.encode("hello world") == [24912, 2375]
    assert bundled_ranks("o200k_base")._dict is None


def test_get_encoding_is_thread_safe(monkeypatch):
    built = []
    real = openai_public.ENCODING_CONSTRUCTORS["r50k_base"]

    def slow_r50k():
        built.append(threading.get_ident())
        time.sleep(0.05)  # widen the race window
        return real()

    monkeypatch.setattr(registry, "_ENCODINGS", {})
    monkeypatch.setattr(registry, "_CONSTRUCTORS", {"r50k_base": slow_r50k})
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(registry.get_encoding("r50k_base")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len(results) == 8 and all(r is results[0] for r in results)
