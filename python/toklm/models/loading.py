"""Read a Hugging Face causal-LM checkpoint (config.json + weights) without transformers.

Weights come from, in this order of preference: `model.safetensors`, `model.safetensors.index.json`
(shards), `pytorch_model.bin`, `pytorch_model.bin.index.json`. safetensors files are parsed here
and memory-mapped: a tensor whose dtype is already the requested one is used in place (no copy),
which is what makes loading fast. `.bin` files go through `torch.load(weights_only=True)` only.

Every problem raises `CheckpointError` (a ValueError) naming the file, config key or tensor, before
any model object is handed out: nothing half-loaded is ever returned.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "GenerationDefaults",
    "check_safetensors_header",
    "read_safetensors",
    "resolve_checkpoint_dir",
    "weight_files",
    "iter_checkpoint_tensors",
    "read_json",
    "parse_dtype",
    "release_tensor",
]

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX)
OPTIONAL_FILES = (
    *WEIGHT_FILES,
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
)

# safetensors dtype codes -> torch dtypes (the format spec's full list that torch can hold).
_ST_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_DTYPE_NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file, config key or tensor."""


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """The torch dtype for "float32"/"fp32"/"bfloat16"/"bf16"/"float16"/"fp16" or a torch.dtype.

    >>> parse_dtype("bf16")
    torch.bfloat16
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.bfloat16, torch.float16):
            return dtype
    elif isinstance(dtype, str) and dtype.lower() in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype.lower()]
    raise ValueError(f"dtype {dtype!r} is not supported; use 'float32', 'bfloat16' or 'float16'")


def read_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object from `path`, with errors naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path} is not UTF-8 text: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Memory-map a .safetensors file and return its tensors (views of the mapping, no copies).

    >>> # skipped: needs a checkpoint on disk (tests/models/test_loading.py read them)
    >>> read_safetensors("model.safetensors")["wte.weight"].shape  # doctest: +SKIP
    torch.Size([50257, 768])
    """
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise CheckpointError(f"{path} is corrupt: {size} bytes, too short for a header")
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > size - 8:
            raise CheckpointError(
                f"{path} is corrupt: header length {header_len} exceeds the file size {size}"
            )
        try:
            header = json.loads(f.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is corrupt: unreadable JSON header ({e})") from e
        if not isinstance(header, dict):
            raise CheckpointError(f"{path} is corrupt: the header is not a JSON object")
        # Copy-on-write mapping: torch.frombuffer wants a writable buffer; the file never changes.
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size else b""
    if size:
        _register_mapping(mapped, size)
    data_start = 8 + header_len
    entries = check_safetensors_header(path, header, size - data_start)
    return {name: _safetensors_entry(mapped, entry, data_start) for name, entry in entries.items()}


@dataclass(frozen=True)
class _Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def check_safetensors_header(
    path: Path, header: dict[str, Any], data_size: int
) -> dict[str, _Entry]:
    """The tensors a safetensors header describes, validated as the safetensors library does:
    known dtypes, shapes of non-negative integers, `data_offsets` that match the shape and, in
    offset order, tile the data area exactly (no overlap, no gap, nothing outside the file).

    >>> check_safetensors_header(Path("m"), {"w": {"dtype": "F32", "shape": [2.0],
    ...                          "data_offsets": [0, 8]}}, 8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    toklm.models.loading.CheckpointError: m is corrupt: tensor 'w': shape must be a list of ...
    """
    entries: dict[str, _Entry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"{path} is corrupt: tensor {name!r}"
        if not isinstance(info, dict) or info.get("dtype") not in _ST_DTYPES:
            raise CheckpointError(f"{where}: bad header entry {info!r:.120}")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise CheckpointError(
                f"{where}: shape must be a list of non-negative integers, got {shape!r:.80}"
            )
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
            raise CheckpointError(
                f"{where}: data_offsets must be two non-negative integers, got {offsets!r:.80}"
            )
        dtype = _ST_DTYPES[info["dtype"]]
        begin, end = offsets
        numel = 1
        for d in shape:
            numel *= d
        if end < begin or end - begin != numel * _itemsize(dtype):
            raise CheckpointError(
                f"{where} has shape {shape} ({info['dtype']}) but data_offsets {begin}..{end}"
            )
        entries[name] = _Entry(dtype, tuple(shape), begin, end)
    position, previous = 0, None
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != position:
            how = "overlaps" if entry.begin < position else "leaves a gap after"
            after = f"tensor {previous!r}" if previous is not None else "the header"
            raise CheckpointError(
                f"{path} is corrupt: tensor {name!r} (bytes {entry.begin}..{entry.end}) "
                f"{how} {after}"
            )
        position, previous = entry.end, name
    if position != data_size:
        what = "is truncated" if position > data_size else "is corrupt"
        raise CheckpointError(
            f"{path} {what}: its tensors end at data byte {position}, the file holds "
            f"{data_size} bytes of data"
        )
    return entries


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


# Live safetensors mappings: (base address, size, weak reference). Tensors that are copied out of
# a mapping (dtype change, layout change, quantization) give their pages back with
# `release_tensor`, so peak memory holds each weight once, not mapped pages plus the copy.
_MAPPINGS: list[tuple[int, int, weakref.ref[mmap.mmap]]] = []
_PAGE = mmap.PAGESIZE


def _register_mapping(mapped: mmap.mmap, size: int) -> None:
    base = torch.frombuffer(mapped, dtype=torch.uint8, count=1).data_ptr()
    _MAPPINGS[:] = [m for m in _MAPPINGS if m[2]() is not None]
    _MAPPINGS.append((base, size, weakref.ref(mapped)))


def release_tensor(tensor: torch.Tensor) -> None:
    """Drop the mapped file pages under `tensor` (if it is a view of a safetensors mapping) from
    this process's memory; reading them again later re-reads the file, so this is always safe."""
    if tensor.device.type != "cpu" or not hasattr(mmap, "MADV_DONTNEED"):
        return
    if tensor.numel() == 0:
        return
    start = tensor.data_ptr()  # the lowest address (strides are positive)
    last = sum((n - 1) * st for n, st in zip(tensor.shape, tensor.stride(), strict=True))
    end = start + (last + 1) * tensor.element_size()
    for base, size, ref in _MAPPINGS:
        mapped = ref()
        if mapped is not None and base <= start < base + size:
            lo = -(-(start - base) // _PAGE) * _PAGE  # whole pages inside the tensor only
            hi = min(end - base, size) // _PAGE * _PAGE
            if hi > lo:
                mapped.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            return


def _safetensors_entry(mapped: Any, entry: _Entry, data_start: int) -> torch.Tensor:
    numel = (entry.end - entry.begin) // _itemsize(entry.dtype)
    if numel == 0:
        return torch.empty(entry.shape, dtype=entry.dtype)
    offset = data_start + entry.begin
    if offset % _itemsize(entry.dtype):  # unaligned data (never written by safetensors): copy it
        chunk = bytearray(mapped[offset : offset + entry.end - entry.begin])
        return torch.frombuffer(chunk, dtype=entry.dtype).view(entry.shape)
    return torch.frombuffer(mapped, dtype=entry.dtype, count=numel, offset=offset).view(entry.shape)


def _read_torch_bin(path: Path) -> dict[str, torch.Tensor]:
    """A pytorch_model.bin state dict, unpickled with weights_only=True (never arbitrary code)."""
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # legacy (non-zip) files cannot be memory-mapped
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, bad zip, refused globals: all mean "unusable file"
        raise CheckpointError(f"{path} cannot be read as a PyTorch state dict: {e}") from e
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path} does not hold a dict of named tensors")
    return state


def resolve_checkpoint_dir(path_or_repo_id: str | os.PathLike[str], revision: str = "main") -> Path:
    """The local directory with config.json and weights (a hub repo id is looked up in the cache).

    >>> resolve_checkpoint_dir("/nonexistent/dir")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    FileNotFoundError: cannot find config.json for '/nonexistent/dir' ...
    """
    from toklm.hub import resolve_model_files

    directory = resolve_model_files(
        path_or_repo_id, ["config.json"], revision=revision, optional=OPTIONAL_FILES
    )
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise FileNotFoundError(
            f"{directory} has config.json but no weights: looked for {', '.join(WEIGHT_FILES)}"
        )
    index = next(
        (directory / n for n in (SAFETENSORS_INDEX, TORCH_BIN_INDEX) if (directory / n).is_file()),
        None,
    )
    if index is not None and not any((directory / n).is_file() for n in (SAFETENSORS, TORCH_BIN)):
        shards = sorted(set(_index_weight_map(index).values()))
        missing = [s for s in shards if not (directory / s).is_file()]
        if missing:  # a hub repo: fetch the shards the index names (or say where they are missing)
            directory = resolve_model_files(
                path_or_repo_id, [index.name, *shards], revision=revision
            )
    return directory


def weight_files(directory: Path) -> list[Path]:
    """The weight files to read, in the preference order described in the module docstring."""
    for single, index in ((SAFETENSORS, SAFETENSORS_INDEX), (TORCH_BIN, TORCH_BIN_INDEX)):
        if (directory / single).is_file():
            return [directory / single]
        if (directory / index).is_file():
            shards = sorted(set(_index_weight_map(directory / index).values()))
            missing = [s for s in shards if not (directory / s).is_file()]
            if missing:
                raise CheckpointError(
                    f"{directory / index} names shard(s) that are missing: {', '.join(missing)}"
                )
            return [directory / s for s in shards]
    raise FileNotFoundError(f"{directory} has no weights: looked for {', '.join(WEIGHT_FILES)}")


def _index_weight_map(index: Path) -> dict[str, str]:
    weight_map = read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not all(
        isinstance(v, str) and "/" not in v and v not in ("", ".", "..")
        for v in weight_map.values()
    ):
        raise CheckpointError(f"{index} must hold a 'weight_map' from tensor names to shard files")
    return weight_map


def iter_checkpoint_tensors(files: list[Path]) -> Iterator[tuple[Path, str, torch.Tensor]]:
    """(file, name, tensor) for every tensor in `files`."""
    for path in files:
        tensors = read_safetensors(path) if path.suffix == ".safetensors" else _read_torch_bin(path)
        for name, tensor in tensors.items():
            yield path, name, tensor


# generate() settings a generation_config.json may set (special token ids come separately).
GENERATION_KEYS = (
    "max_length",
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "repetition_penalty",
    "num_return_sequences",
)


@dataclass
class GenerationDefaults:
    """generate() defaults: transformers' global defaults, then config.json's special token ids,
    then generation_config.json (the same precedence transformers uses)."""

    max_length: int | None = None
    max_new_tokens: int | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    min_p: float | None = None
    repetition_penalty: float = 1.0
    num_return_sequences: int = 1
    bos_token_id: int | None = None
    eos_token_id: list[int] = field(default_factory=list)
    pad_token_id: int | None = None

    @classmethod
    def from_configs(
        cls, config: dict[str, Any], generation: dict[str, Any] | None
    ) -> GenerationDefaults:
        out = cls()
        for source in (config, generation or {}):
            for key in ("bos_token_id", "pad_token_id", "eos_token_id"):
                if source.get(key) is not None:
                    setattr(out, key, source[key])
        for key in GENERATION_KEYS:
            if generation and generation.get(key) is not None:
                setattr(out, key, generation[key])
        eos = out.eos_token_id
        out.eos_token_id = [eos] if isinstance(eos, int) else list(eos)
        return out
