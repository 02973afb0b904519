"""Issue 8, item 8: quantized loads map converted weights cached beside the checkpoint."""

from __future__ import annotations

import os

import pytest
from toklm.models import AutoModelForCausalLM, quant
from toklm.models.quant_cache import cache_path

from .conftest import gpt2_config, save_hf, torch


@pytest.fixture
def checkpoint(tmp_path):
    save_hf(gpt2_config(vocab_size=300, n_embd=64, initializer_range=0.05), tmp_path)
    return tmp_path


def _logits(path, mode, **env):
    ids = torch.arange(20)[None] % 300
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return AutoModelForCausalLM.from_pretrained(path, quantize=mode)(ids).logits
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.parametrize("mode", ["int8", "bf16"])
def test_cached_load_gives_the_same_model(checkpoint, mode, monkeypatch):
    monkeypatch.setattr(quant, "_SMALL_LAYER", 0)  # every layer through fbgemm's packing
    fresh = _logits(checkpoint, mode, TOKLM_QUANT_CACHE="0")
    cache = cache_path(checkpoint, mode, torch.float32)
    assert not cache.exists()
    written = _logits(checkpoint, mode)
    assert cache.is_file()
    assert not [p for p in checkpoint.iterdir() if p.name.startswith(".toklm-tmp-")]  # renamed
    stamp = cache.stat().st_mtime_ns
    cached = _logits(checkpoint, mode)
    assert cache.stat().st_mtime_ns == stamp  # read, not rewritten
    assert torch.equal(fresh, written) and torch.equal(fresh, cached)


def test_a_changed_checkpoint_or_a_damaged_cache_is_rebuilt(checkpoint):
    fresh = _logits(checkpoint, "int8", TOKLM_QUANT_CACHE="0")
    _logits(checkpoint, "int8")
    cache = cache_path(checkpoint, "int8", torch.float32)
    weights = checkpoint / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "the source changed"
    stamp = cache.stat().st_mtime_ns
    assert torch.equal(_logits(checkpoint, "int8"), fresh)
    assert cache.stat().st_mtime_ns != stamp  # rewritten for the new source
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # truncated
    assert torch.equal(_logits(checkpoint, "int8"), fresh)
    assert torch.equal(_logits(checkpoint, "int8"), fresh)


def test_big_layers_packed_in_row_blocks_compute_the_same(monkeypatch):
    if not quant._fbgemm_half_available():
        pytest.skip("fbgemm's fp16 kernel is not available")
    from toklm.models.layers import Linear

    lin = Linear(64, 1000, bias=True)
    with torch.no_grad():
        lin.weight.normal_()
        lin.bias.normal_()
    monkeypatch.setattr(quant, "_SMALL_LAYER", 0)
    whole = quant.Bf16Linear(lin, True)
    monkeypatch.setattr(quant, "_PACK_ROWS", 96)
    blocks = quant.Bf16Linear(lin, True)
    assert len(whole.packed) == 1 and len(blocks.packed) == 11
    x = torch.randn(3, 64)
    assert torch.equal(whole(x), blocks(x))
