"""Hostile checkpoints and settings: config values checked against the weights before anything
is built, safetensors headers validated as the safetensors library does, and generate()
settings validated with transformers' own rules and messages."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import warnings

import pytest
from safetensors.torch import save_file
from toklm.models import AutoModelForCausalLM, CheckpointError
from toklm.models.loading import read_safetensors

from .conftest import gpt2_config, neox_config, save_hf, torch


def _rewrite_config(path, **changes):
    raw = json.loads((path / "config.json").read_text())
    raw.update(changes)
    (path / "config.json").write_text(json.dumps(raw))


@pytest.mark.parametrize(
    "make, key", [(gpt2_config, "n_layer"), (neox_config, "num_hidden_layers")]
)
def test_config_asking_for_more_layers_than_the_weights_hold(tmp_path, make, key):
    save_hf(make(), tmp_path)
    _rewrite_config(tmp_path, **{key: 10**6})
    # In a child allowed 2 GB more address space than its imports took: building 10**6 layers
    # (as the loader once did before looking at a weight) would not fit.
    code = (
        "import resource, sys\n"
        "from toklm.models import AutoModelForCausalLM, CheckpointError\n"
        "vm = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + (2 << 30), vm + (2 << 30)))\n"
        "try:\n"
        f"    AutoModelForCausalLM.from_pretrained({str(tmp_path)!r})\n"
        "except CheckpointError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "config.json asks for 1000000 layers" in done.stdout
    assert "holds 2 (no tensor of layer 2" in done.stdout


def test_fewer_layers_in_the_config_still_load_with_a_warning(tmp_path):
    save_hf(gpt2_config(n_layer=3), tmp_path)
    _rewrite_config(tmp_path, n_layer=2)
    with pytest.warns(UserWarning, match="ignored .* unexpected tensor"):
        model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.config.num_layers == 2


def _safetensors(path, header, data):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


@pytest.mark.parametrize(
    "header, data, message",
    [
        (
            {"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}},
            8,
            "shape must be a list of non-negative integers",
        ),
        (
            {"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}},
            8,
            "shape must be a list",
        ),
        ({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, 4, "shape must"),
        (
            {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0.0, 8.0]}},
            8,
            "data_offsets must be two non-negative integers",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            12,
            r"tensor 'b' \(bytes 4..12\) overlaps tensor 'a'",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            },
            8,
            "overlaps",
        ),
        (
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
            8,
            "leaves a gap after the header",
        ),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 12, "holds 12 bytes"),
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8, "is truncated"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, 8, "data_offsets 8..0"),
        ({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}, 8, "bad header entry"),
    ],
)
def test_bad_safetensors_headers_are_refused_as_safetensors_refuses(
    tmp_path, header, data, message
):
    path = _safetensors(tmp_path / "model.safetensors", header, bytes(data))
    with pytest.raises(CheckpointError, match=message) as got:
        read_safetensors(path)
    assert str(path) in str(got.value)
    from safetensors import safe_open

    with pytest.raises(Exception):  # noqa: B017 (the reference refuses it too)
        with safe_open(str(path), "pt") as f:
            [f.get_tensor(k) for k in f.keys()]  # noqa: SIM118


def test_a_valid_file_reads_back(tmp_path):
    tensors = {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(0), "c": torch.tensor([7])}
    save_file(tensors, tmp_path / "m.safetensors")
    got = read_safetensors(tmp_path / "m.safetensors")
    assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in tensors.items()}


# ---- generate() settings: transformers' behaviour and messages -----------------------------

NAN = math.nan
SETTINGS = [
    {"temperature": 0.0, "do_sample": False},  # ignored when greedy, as in transformers
    {"temperature": NAN, "do_sample": False},
    {"temperature": -1.0, "do_sample": False},
    {"top_p": 2.0, "do_sample": False},
    {"temperature": 0.0, "do_sample": True},
    {"temperature": NAN, "do_sample": True},
    {"temperature": -1.0, "do_sample": True},
    {"repetition_penalty": NAN},
    {"repetition_penalty": 0.0},
    {"repetition_penalty": -2.0},
    {"min_p": NAN, "do_sample": True},
    {"top_p": 1.5, "do_sample": True},  # no top-p step, as in transformers
    {"top_p": -0.5, "do_sample": True},
    {"top_k": -3, "do_sample": True},
]


def _outcome(model, ids, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = model.generate(ids, max_new_tokens=3, **kwargs)
        except ValueError as e:
            return str(e)
    return out.tolist() if not kwargs.get("do_sample") else "ok"


@pytest.mark.parametrize("kwargs", SETTINGS, ids=[str(s) for s in SETTINGS])
def test_generation_settings_follow_transformers(gpt2_pair, kwargs):
    hf, ours = gpt2_pair
    ids = torch.tensor([[1, 2, 3]])
    assert _outcome(ours, ids, kwargs) == _outcome(hf, ids, kwargs)


def test_empty_batch_is_a_clear_error(gpt2_pair):
    _, ours = gpt2_pair
    with pytest.raises(ValueError, match=r"input_ids is an empty batch \(shape \[0, 3\]\)"):
        ours.generate(torch.zeros((0, 3), dtype=torch.long), max_new_tokens=2)
    with pytest.raises(ValueError, match="empty batch"):
        ours(torch.zeros((0, 3), dtype=torch.long))
