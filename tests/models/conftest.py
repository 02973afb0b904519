"""Tiny random-weight models made with transformers (pinned), saved to tmp dirs, loaded by toklm."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ..conftest import shared_path

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TRANSFORMERS_PINNED = "5.23.0"  # generate() defaults, warnings and key names differ across versions
VOCAB = 97  # odd on purpose


@pytest.fixture(autouse=True)
def _pinned_transformers() -> None:
    if transformers.__version__ != TRANSFORMERS_PINNED:
        why = f"needs transformers=={TRANSFORMERS_PINNED}, found {transformers.__version__}"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def gpt2_config(**overrides):
    base = dict(
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=48,
        initializer_range=0.3,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    base.update(overrides)
    return transformers.GPT2Config(**base)


def neox_config(**overrides):
    base = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=48,
        initializer_range=0.3,
        bos_token_id=0,
        eos_token_id=0,
    )
    base.update(overrides)
    return transformers.GPTNeoXConfig(**base)


def save_hf(config, path: Path, *, seed: int = 0, attn: str = "sdpa", **save_kw):
    """Build a random transformers model from `config`, save it to `path`, return it (eval)."""
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn)
    model.eval()
    model.save_pretrained(path, **save_kw)
    return model


@pytest.fixture
def gpt2_pair(tmp_path: Path):
    """(transformers model, toklm model) for a default tiny GPT-2."""
    from toklm.models import AutoModelForCausalLM

    hf = save_hf(gpt2_config(), tmp_path)
    return hf, AutoModelForCausalLM.from_pretrained(tmp_path)


@pytest.fixture
def neox_pair(tmp_path: Path):
    """(transformers model, toklm model) for a default tiny GPT-NeoX."""
    from toklm.models import AutoModelForCausalLM

    hf = save_hf(neox_config(), tmp_path)
    return hf, AutoModelForCausalLM.from_pretrained(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Tiny models: one thread is faster, and immune to OpenMP spin-waits on a busy 2-core box.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_pythia(path, *, context=64):
    """A tiny Pythia-shaped checkpoint with the real GPT-NeoX tokenizer, saved in `path`."""
    save_hf(
        neox_config(
            vocab_size=50304,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            initializer_range=0.5,
            max_position_embeddings=context,
        ),
        path,
    )
    shutil.copy(shared_path("tokenizers/gpt-neox-20b/tokenizer.json"), path / "tokenizer.json")
    return path


@pytest.fixture(scope="module")
def cli_model_dir(tmp_path_factory):
    """A tiny Pythia-shaped checkpoint with the real GPT-NeoX tokenizer, for CLI runs."""
    pytest.importorskip("toklm.hf")
    return tiny_pythia(tmp_path_factory.mktemp("pythia-tiny-device"))
