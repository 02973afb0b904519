"""Resizing a checkpoint's embeddings to an extended encoding (`toklm.extend_encoding`).

Every base row stays as it is. The row of each new token is the mean of the rows of the base
tokens its bytes encode to (the initialisation EEVE and Chinese-LLaMA use), in the input
embedding and in an untied LM head alike. A text without new tokens therefore gives the same
logits over the base vocabulary as before (the new columns are extra). The result is a new
checkpoint directory: config.json with the new `vocab_size`, model.safetensors, the other
config files copied, and the new tokenizer beside it (`tokenizer.json` for
`Tokenizer.from_pretrained`, plus `encoding.tiktoken` + `.json` for `toklm.load_encoding`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from toklm.models.loading import (
    CheckpointError,
    iter_checkpoint_tensors,
    read_json,
    weight_files,
)

# Tensor-name endings of input embeddings and LM heads (GPT-2, GPT-NeoX, Llama-style).
INPUT_EMBEDDINGS = ("wte.weight", "embed_in.weight", "embed_tokens.weight")
OUTPUT_EMBEDDINGS = ("lm_head.weight", "embed_out.weight")
# Files copied from the old directory (the weights and tokenizer files are written anew).
COPIED = ("generation_config.json", "special_tokens_map.json")


def new_token_rows(base: Any, extended: Any) -> dict[int, list[int]]:
    """For each new token id, the base ids its bytes encode to.

    >>> import toklm
    >>> ext = toklm.extend_encoding("gpt2", ["안녕하세요 여러분"] * 5, 2, scripts=["Hangul"])
    >>> rows = new_token_rows(toklm.get_encoding("gpt2"), ext)
    >>> sorted(rows) == [50257, 50258] and all(len(v) > 1 for v in rows.values())
    True
    """
    first = base.max_token_value + 1
    base_ranks = base._mergeable_ranks
    for token, rank in extended._mergeable_ranks.items():
        if rank < first and base_ranks.get(token) != rank:
            raise ValueError(
                f"{extended.name} is not an extension of {base.name}: "
                f"token {token!r} has id {rank} in one and not in the other"
            )
    return {
        rank: base._encode_bytes(token)
        for token, rank in extended._mergeable_ranks.items()
        if rank >= first
    }


def _grow(weight: torch.Tensor, rows: dict[int, list[int]], n_rows: int) -> torch.Tensor:
    out = torch.zeros((n_rows, weight.shape[1]), dtype=weight.dtype)
    out[: weight.shape[0]] = weight
    for token, ids in rows.items():
        out[token] = weight[ids].to(torch.float32).mean(dim=0).to(weight.dtype)
    return out


def resize_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    base: Any,
    extended: Any,
    out_dir: str | os.PathLike[str],
) -> Path:
    """Write a copy of the checkpoint at `checkpoint_dir` resized from `base` to `extended`.

    >>> # skipped: needs checkpoints and encodings on disk (tests/models/test_resize.py)
    >>> resize_checkpoint("pythia-70m", base, ext, "pythia-70m-ko")  # doctest: +SKIP
    PosixPath('pythia-70m-ko')
    """
    from safetensors.torch import save_file

    from toklm.train import save_tokenizer_json

    src, dst = Path(checkpoint_dir), Path(out_dir)
    if dst.resolve() == src.resolve():
        raise ValueError(f"{dst}: write the resized checkpoint to a new directory")
    if dst.exists():
        raise FileExistsError(f"{dst}: already exists")
    config = read_json(src / "config.json")
    old_rows = config.get("vocab_size")
    if not isinstance(old_rows, int):
        raise CheckpointError(f"{src / 'config.json'} has no integer vocab_size")
    if old_rows < base.n_vocab:
        raise ValueError(
            f"the checkpoint has {old_rows} embedding rows but {base.name} has {base.n_vocab} ids: "
            "is it the model's encoding?"
        )
    rows = new_token_rows(base, extended)
    n_rows = max(old_rows, extended.n_vocab)
    tensors: dict[str, torch.Tensor] = {}
    resized = []
    for _, name, tensor in iter_checkpoint_tensors(weight_files(src)):
        if name.endswith(INPUT_EMBEDDINGS + OUTPUT_EMBEDDINGS) and tensor.dim() == 2:
            if tensor.shape[0] != old_rows:
                raise CheckpointError(
                    f"{name} has {tensor.shape[0]} rows, config.json vocab_size {old_rows}"
                )
            tensor = _grow(tensor, rows, n_rows)
            resized.append(name)
        tensors[name] = tensor.contiguous()
    if not any(n.endswith(INPUT_EMBEDDINGS) for n in resized):
        raise CheckpointError(f"{src}: no input embedding among the tensors ({INPUT_EMBEDDINGS})")
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config["vocab_size"] = n_rows
        (tmp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        for name in COPIED:
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        save_tokenizer_json(extended, tmp / "tokenizer.json")
        extended.save(tmp / "encoding.tiktoken")
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst
