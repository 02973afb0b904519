"""toklm.openai_models: tiktoken 0.14's model -> encoding tables and lookup, unchanged."""

from __future__ import annotations

import pytest
import tiktoken.model
from toklm import model
from toklm.openai_models import encoding_for_model, encoding_name_for_model


def test_tables_equal_tiktoken_including_order():
    # Order matters for prefixes: the first match wins.
    assert list(model.MODEL_PREFIX_TO_ENCODING.items()) == list(
        tiktoken.model.MODEL_PREFIX_TO_ENCODING.items()
    )
    assert list(model.MODEL_TO_ENCODING.items()) == list(tiktoken.model.MODEL_TO_ENCODING.items())


@pytest.mark.parametrize(
    ("model_name", "encoding_name"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-2024-05-13", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5.1-codex", "o200k_base"),  # "gpt-5" prefix without hyphen
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-32k", "cl100k_base"),
        ("gpt-3.5-turbo-FAKE", "cl100k_base"),
        ("gpt-35-turbo-16k", "cl100k_base"),
        ("ft:gpt-4o-mini:org::id", "o200k_base"),
        ("ft:gpt-3.5-turbo:org::id", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-davinci-003", "p50k_base"),
        ("code-davinci-edit-001", "p50k_edit"),
        ("davinci", "r50k_base"),
        ("gpt-oss-120b", "o200k_harmony"),
        ("gpt2", "gpt2"),
        ("gpt-2", "gpt2"),
    ],
)
def test_encoding_name_for_model(model_name, encoding_name):
    assert encoding_name_for_model(model_name) == encoding_name
    assert tiktoken.model.encoding_name_for_model(model_name) == encoding_name


@pytest.mark.parametrize("model_name", ["gpt-4.5", "llama-3", "", "GPT-4"])
def test_unknown_model_raises_tiktokens_key_error(model_name):
    with pytest.raises(KeyError) as ours:
        encoding_name_for_model(model_name)
    with pytest.raises(KeyError) as theirs:
        tiktoken.model.encoding_name_for_model(model_name)
    assert str(ours.value) == str(theirs.value)
    assert ours.value.__suppress_context__
    with pytest.raises(KeyError):
        encoding_for_model(model_name)


def test_encoding_for_model_returns_the_shared_encoding():
    import toklm

    enc = encoding_for_model("gpt-4")
    assert enc is toklm.get_encoding("cl100k_base") and enc.n_vocab == 100277
    assert toklm.encoding_for_model("gpt-4o").n_vocab == 200019
