"""The issue's end-to-end workflow with toklm's own tokenizer, against transformers' generate."""

from __future__ import annotations

import pytest

from ..conftest import shared_path
from .conftest import gpt2_config, neox_config, save_hf, torch

hf_tok = pytest.importorskip("toklm.hf")


def test_gpt2_example(tmp_path):
    from toklm.models import GPT2LMHeadModel

    tok_dir = shared_path("tokenizers/gpt2")
    hf = save_hf(
        gpt2_config(vocab_size=50257, bos_token_id=50256, eos_token_id=50256, n_positions=64),
        tmp_path,
    )
    for f in ("vocab.json", "merges.txt"):
        (tmp_path / f).write_bytes((tok_dir / f).read_bytes())
    model = GPT2LMHeadModel.from_pretrained(tmp_path)
    tokenizer = hf_tok.GPT2Tokenizer.from_pretrained(tmp_path)
    input_tokens = tokenizer.encode("Hello world, we are Gmarket.", return_tensors="pt")
    kw = dict(max_length=50, do_sample=True, top_k=50, repetition_penalty=1.5, temperature=0.5)
    torch.manual_seed(0)
    output = model.generate(input_tokens, **kw)
    torch.manual_seed(0)
    with torch.no_grad():
        ref = hf.generate(input_tokens, **kw)
    assert torch.equal(output, ref)
    text = tokenizer.decode(output[0], skip_special_tokens=True)
    assert text.startswith("Hello world, we are Gmarket.")
    emb = model.wte(input_tokens)
    assert emb.shape == (1, input_tokens.shape[1], 32)
    assert torch.equal(emb, hf.transformer.wte(input_tokens))


def test_pythia_batch_with_padding(tmp_path):
    from toklm.models import AutoModelForCausalLM

    hf = save_hf(neox_config(vocab_size=50304, max_position_embeddings=64), tmp_path)
    tok_file = shared_path("tokenizers/gpt-neox-20b/tokenizer.json")
    (tmp_path / "tokenizer.json").write_bytes(tok_file.read_bytes())
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tokenizer = model.tokenizer  # loaded from the checkpoint directory
    tokenizer.pad_token = "<|padding|>"
    tokenizer.padding_side = "left"
    inputs = tokenizer(["Hello", "The quick brown fox jumps"], padding=True, return_tensors="pt")
    assert inputs["attention_mask"][0, 0] == 0  # left padding
    out = model.generate(**inputs, max_length=30, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        ref = hf.generate(**inputs, max_length=30, pad_token_id=tokenizer.pad_token_id)
    assert torch.equal(out, ref)
    # The tokenizer's output may also be passed as one argument.
    assert torch.equal(model.generate(inputs, max_length=30, pad_token_id=1), ref)
    texts = tokenizer.batch_decode(out, skip_special_tokens=True)
    assert texts[1].startswith("The quick brown fox jumps")
