"""int8 weight-only and bf16 modes: bounded error against fp32 (they are not bit-exact)."""

from __future__ import annotations

import pytest
from toklm.models import AutoModelForCausalLM, quant
from toklm.models.quant import Bf16Linear, Int8Linear

from .conftest import gpt2_config, neox_config, save_hf, torch


@pytest.mark.parametrize("make,E", [(gpt2_config, 64), (neox_config, 64), (neox_config, 40)])
def test_int8_error_is_bounded(tmp_path, make, E):
    kw = dict(n_embd=E) if make is gpt2_config else dict(hidden_size=E, intermediate_size=4 * E)
    save_hf(make(vocab_size=300, initializer_range=0.05, **kw), tmp_path)
    ref_model = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(0, 300, (1, 40), generator=torch.Generator().manual_seed(0))
    ref = ref_model(ids).logits
    ppl = ref_model.perplexity(ids)
    for dtype in ("float32", "bfloat16"):
        model = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=dtype, quantize="int8")
        linears = [m for m in model.modules() if isinstance(m, Int8Linear)]
        assert len(linears) == 4 * 2 + 1  # every projection and the LM head
        assert all(m.weight.dtype == torch.int8 for m in linears)
        assert all(m.use_kernel == (E % 32 == 0) for m in linears if m.in_features == E)
        full = model(ids).logits.float()  # prefill rows: dequantize + GEMM
        assert (full - ref).abs().max() <= 0.05 * ref.abs().max()
        # One row at a time takes the int8 kernel path (when shapes allow): same bound.
        last = torch.cat([model(ids[:, :t]).logits[:, -1:].float() for t in (38, 39, 40)], 1)
        assert (last - ref[:, 37:]).abs().max() <= 0.05 * ref.abs().max()
        assert abs(model.perplexity(ids) / ppl - 1) < 0.01
        assert model.generate(ids[:, :5], max_new_tokens=4).shape == (1, 9)


@pytest.mark.parametrize("small_layer", [0, 1 << 18])
def test_bf16_weights_with_fp32_activations(tmp_path, monkeypatch, small_layer):
    """Both storages give transformers' numbers with bf16-rounded weights: fbgemm's fp16 kernel
    (every layer when `_SMALL_LAYER` is 0) and fp32 storage of the bf16 values (small layers)."""
    monkeypatch.setattr(quant, "_SMALL_LAYER", small_layer)
    hf = save_hf(gpt2_config(vocab_size=300, n_embd=64, initializer_range=0.05), tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantize="bf16")
    linears = [m for m in model.modules() if isinstance(m, Bf16Linear)]
    assert len(linears) == 4 * 2 + 1
    if quant._fbgemm_half_available():
        assert all((m.packed is None) == bool(small_layer) for m in linears)
    ids = torch.randint(0, 300, (2, 30), generator=torch.Generator().manual_seed(0))
    # Reference: transformers with every projection weight rounded to bf16, computed in fp32;
    # the tied head rounds its copy of wte (the embedding lookup keeps fp32).
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("weight") and (".attn." in name or ".mlp." in name):
                p.copy_(p.bfloat16().float())
        hidden = hf.transformer(ids).last_hidden_state
        ref = hidden @ hf.transformer.wte.weight.bfloat16().float().T
    assert (model(ids).logits - ref).abs().max() <= 1e-4
    assert model(ids).logits.dtype == torch.float32
    with pytest.raises(ValueError, match="leave dtype='float32'"):
        AutoModelForCausalLM.from_pretrained(tmp_path, dtype="bf16", quantize="bf16")
