"""Checkpoint layouts (prefixes, buffers, shards, .bin, hub cache), dtypes, and bad checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from toklm.models import (
    AutoModelForCausalLM,
    CheckpointError,
    GPT2LMHeadModel,
    GPTNeoXForCausalLM,
)

from .conftest import VOCAB, gpt2_config, neox_config, save_hf, torch

IDS = torch.tensor([[1, 5, 9, 2, 33, 7]])


def max_diff(hf, ours, ids=IDS):
    with torch.no_grad():
        ref = hf(ids).logits
    return float((ours(ids).logits.float() - ref).abs().max())


def test_original_gpt2_layout_without_prefix_with_buffers(tmp_path):
    hf = save_hf(gpt2_config(), tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    legacy = {k.removeprefix("transformer."): v for k, v in state.items()}
    for i in range(2):  # the causal-mask buffers that old checkpoints carry
        legacy[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 48, 48))
        legacy[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    legacy["lm_head.weight"] = state["transformer.wte.weight"].clone()  # a stored tied copy
    (tmp_path / "model.safetensors").unlink()
    save_file(legacy, tmp_path / "model.safetensors")
    assert max_diff(hf, GPT2LMHeadModel.from_pretrained(tmp_path)) <= 1e-4


def test_pytorch_model_bin_with_weights_only(tmp_path):
    hf = save_hf(gpt2_config(), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    assert max_diff(hf, AutoModelForCausalLM.from_pretrained(tmp_path)) <= 1e-4


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_with_code_is_refused(tmp_path):
    save_hf(gpt2_config(), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"wte.weight": Exploit()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="pytorch_model.bin cannot be read"):
        AutoModelForCausalLM.from_pretrained(tmp_path)


def test_sharded_safetensors(tmp_path):
    hf = save_hf(neox_config(), tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert max_diff(hf, AutoModelForCausalLM.from_pretrained(tmp_path)) <= 1e-4
    shard = json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"]
    missing = sorted(set(shard.values()))[-1]
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"does not contain {missing}"):
        AutoModelForCausalLM.from_pretrained(tmp_path)


def test_neox_legacy_config_keys_and_names(tmp_path):
    hf = save_hf(neox_config(rotary_pct=0.5), tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    rope = raw.pop("rope_parameters")
    raw["rotary_pct"], raw["rotary_emb_base"] = rope["partial_rotary_factor"], rope["rope_theta"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    state = load_file(tmp_path / "model.safetensors")
    state["lm_head.weight"] = state.pop("embed_out.weight")  # transformers 5's in-memory name
    state["gpt_neox.layers.0.attention.rotary_emb.inv_freq"] = torch.ones(2)
    state["gpt_neox.layers.0.attention.masked_bias"] = torch.tensor(-1e9)
    save_file(state, tmp_path / "model.safetensors")
    ours = GPTNeoXForCausalLM.from_pretrained(tmp_path)
    assert ours.config.rotary_dims == 4
    assert max_diff(hf, ours) <= 1e-4


def test_generation_config_defaults(tmp_path):
    hf = save_hf(gpt2_config(), tmp_path)
    gen = {
        "do_sample": True,
        "top_k": 5,
        "temperature": 0.7,
        "max_new_tokens": 7,
        "eos_token_id": [3, 4],
        "pad_token_id": 0,
    }
    (tmp_path / "generation_config.json").write_text(json.dumps(gen))
    hf.generation_config = type(hf.generation_config)(**gen)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert ours.generation_defaults.eos_token_id == [3, 4]
    torch.manual_seed(2)
    with torch.no_grad():
        ref = hf.generate(IDS)
    assert torch.equal(ours.generate(IDS, seed=2), ref)


@pytest.mark.parametrize("dtype,tol", [("bfloat16", 0.5), ("float16", 0.05)])
def test_reduced_precision(tmp_path, dtype, tol):
    hf = save_hf(neox_config(initializer_range=0.1), tmp_path)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=dtype)
    assert ours.dtype == getattr(torch, dtype)
    assert max_diff(hf, ours) <= tol
    out = ours.generate(IDS, max_new_tokens=5, output_logits=True, return_dict_in_generate=True)
    assert out.logits[0].dtype == torch.float32  # processors always see fp32


def hub_layout(cache: Path, repo: str, files: Path) -> Path:
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = repo_dir / "snapshots" / commit
    blobs = repo_dir / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    for f in files.iterdir():  # blobs + symlinks, as huggingface_hub lays them out
        (blobs / f.name).write_bytes(f.read_bytes())
        (snap / f.name).symlink_to(Path("../../blobs") / f.name)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return snap


def test_hub_cache_repo_id(tmp_path, monkeypatch):
    hf = save_hf(gpt2_config(), tmp_path / "src")
    cache = tmp_path / "hub"
    hub_layout(cache, "tiny-org/tiny-gpt2", tmp_path / "src")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ours = AutoModelForCausalLM.from_pretrained("tiny-org/tiny-gpt2")
    assert max_diff(hf, ours) <= 1e-4
    with pytest.raises(FileNotFoundError, match="models--tiny-org--absent"):
        AutoModelForCausalLM.from_pretrained("tiny-org/absent")


def rewrite_config(path: Path, **changes) -> None:
    raw = json.loads((path / "config.json").read_text())
    raw.update(changes)
    (path / "config.json").write_text(json.dumps(raw))


def test_bad_checkpoints(tmp_path):
    src = tmp_path / "ok"
    save_hf(gpt2_config(), src)
    good = (src / "model.safetensors").read_bytes()

    def case(name: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        for f in src.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        return d

    d = case("arch")
    rewrite_config(d, model_type="llama")
    with pytest.raises(CheckpointError, match="model_type 'llama' is not supported"):
        AutoModelForCausalLM.from_pretrained(d)
    with pytest.raises(CheckpointError, match="model_type is 'gpt2'"):
        GPTNeoXForCausalLM.from_pretrained(src)

    d = case("shape")
    rewrite_config(d, vocab_size=VOCAB + 3)
    with pytest.raises(CheckpointError, match=r"'transformer.wte.weight' has shape \[97, 32\]"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("heads")
    rewrite_config(d, n_head=5)
    with pytest.raises(CheckpointError, match="n_embd=32 is not divisible by n_head=5"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("act")
    rewrite_config(d, activation_function="swish")
    with pytest.raises(CheckpointError, match="activation_function 'swish'"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("type")
    rewrite_config(d, n_layer="2")
    with pytest.raises(CheckpointError, match="'n_layer' must be int"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("json")
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("truncated")
    (d / "model.safetensors").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors is truncated"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("header")
    (d / "model.safetensors").write_bytes((10**9).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="header length 1000000000 exceeds"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("missing_tensor")
    state = load_file(src / "model.safetensors")
    del state["transformer.h.1.mlp.c_fc.bias"]
    save_file(state, d / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing from .*: h\.1\.mlp\.c_fc\.bias"):
        AutoModelForCausalLM.from_pretrained(d)

    d = case("no_weights")
    (d / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no weights: looked for model.safetensors"):
        AutoModelForCausalLM.from_pretrained(d)

    with pytest.raises(FileNotFoundError, match="config.json"):
        AutoModelForCausalLM.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="dtype 'int4'"):
        AutoModelForCausalLM.from_pretrained(src, dtype="int4")
    with pytest.raises(ValueError, match="quantize='int4'"):
        AutoModelForCausalLM.from_pretrained(src, quantize="int4")


def test_import_without_torch_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import toklm\n"
        "try:\n    import toklm.models\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "toklm[models]" in out.stdout


def test_fp32_weights_keep_the_checkpoint_layout(tmp_path):
    """fp32 weights are the checkpoint's tensors, not copies: GPT-2's Conv1D ones stay [in, out]
    (a transposed view), GPT-NeoX's [out, in], and GPT-2's tied head shares wte's memory."""
    save_hf(gpt2_config(), tmp_path / "gpt2")
    save_hf(neox_config(), tmp_path / "neox")
    g = AutoModelForCausalLM.from_pretrained(tmp_path / "gpt2")
    n = AutoModelForCausalLM.from_pretrained(tmp_path / "neox")
    assert g.h[0].attn.c_attn.weight.t().is_contiguous()
    for w in (g.lm_head.weight, n.layers[1].mlp.dense_4h_to_h.weight, n.lm_head.weight):
        assert w.is_contiguous()
    assert g.lm_head.weight.data_ptr() == g.wte.weight.data_ptr()
    mapped = load_file(tmp_path / "gpt2" / "model.safetensors")[
        "transformer.h.0.attn.c_attn.weight"
    ]
    assert torch.equal(g.h[0].attn.c_attn.weight.t(), mapped)
    bf = AutoModelForCausalLM.from_pretrained(tmp_path / "neox", dtype="bfloat16")
    assert bf.layers[0].attention.query_key_value.weight.is_contiguous()  # transformers' layout
