"""Converted weights kept beside the checkpoint, so that a quantized load is a memory map.

The first ``from_pretrained(..., quantize="int8" | "bf16")`` of a checkpoint converts every
`Linear` and writes the results to ``toklm-<mode>-<dtype>.safetensors`` in the checkpoint
directory: int8 weights and their scales, or the bf16-rounded weights. Later loads map that file
instead of converting (no aminmax, rounding or dtype passes over the weights); bf16 still packs
its weights for fbgemm's kernel, which has no stored form.

The file is written to a temporary name and renamed into place (atomic: a reader sees the old
file, the new one or none), each layer's bytes as soon as that layer is converted (no second
copy of the model in memory). It records the size and modification time (ns) of every source
weight file, the mode and the dtype: any difference, a missing tensor or a wrong shape makes it
stale, and it is rewritten. A directory that cannot be written (a read-only checkout) just means
converting on every load. ``TOKLM_QUANT_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from .layers import Linear
from .loading import read_safetensors

__all__ = ["cache_path", "quantize_cached"]

FORMAT = "toklm-quantized-weights-1"
_ST_NAMES = {torch.int8: "I8", torch.float32: "F32", torch.bfloat16: "BF16"}
_ALIGN = 64


def cache_path(directory: Path, mode: str, dtype: torch.dtype) -> Path:
    """Where the converted weights of `directory`'s checkpoint are kept.

    >>> cache_path(Path("ckpt"), "int8", torch.float32).name
    'toklm-int8-float32.safetensors'
    """
    return directory / f"toklm-{mode}-{str(dtype).removeprefix('torch.')}.safetensors"


def _enabled() -> bool:
    return os.environ.get("TOKLM_QUANT_CACHE", "1").strip().lower() not in ("0", "false", "no")


def _sources(files: list[Path]) -> list[list[Any]]:
    out = []
    for f in files:
        st = f.stat()
        out.append([f.name, st.st_size, st.st_mtime_ns])
    return out


def _linears(model: nn.Module) -> dict[str, Linear]:
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, Linear) and name
    }


def _layout(linears: dict[str, Linear], mode: str, dtype: torch.dtype) -> dict[str, Any]:
    """name -> (torch dtype, shape) of every tensor the cache holds, in file order."""
    out: dict[str, Any] = {}
    for name, lin in linears.items():
        shape = [lin.out_features, lin.in_features]
        if mode == "int8":
            out[f"{name}.weight"] = (torch.int8, shape)
            out[f"{name}.scale"] = (torch.float32, [lin.out_features])
        else:
            out[f"{name}.weight"] = (torch.bfloat16, shape)
    return out


def _read_metadata(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 64 << 20:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else None


def _load(
    path: Path, layout: dict[str, Any], meta: dict[str, str]
) -> dict[str, torch.Tensor] | None:
    """The cached tensors, or None when the file is missing or stale."""
    if _read_metadata(path) != meta:
        return None
    try:
        tensors = read_safetensors(path)
    except (OSError, ValueError):
        return None
    for name, (dtype, shape) in layout.items():
        t = tensors.get(name)
        if t is None or t.dtype != dtype or list(t.shape) != shape:
            return None
    return tensors


class _Writer:
    """A safetensors file written in place, tensor by tensor, then renamed atomically."""

    def __init__(self, path: Path, layout: dict[str, Any], meta: dict[str, str]) -> None:
        header: dict[str, Any] = {"__metadata__": meta}
        offset = end = 0
        self.offsets: dict[str, int] = {}
        for name, (dtype, shape) in layout.items():
            size = torch.empty((), dtype=dtype).element_size()
            for d in shape:
                size *= d
            header[name] = {
                "dtype": _ST_NAMES[dtype],
                "shape": shape,
                "data_offsets": [offset, offset + size],
            }
            self.offsets[name] = offset
            end = offset + size  # the data ends with the last tensor (readers check that)
            offset += -(-size // _ALIGN) * _ALIGN  # aligned starts for every dtype
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-(len(raw) + 8) % _ALIGN)
        self.data_start = 8 + len(raw)
        self.path = path
        fd, tmp = tempfile.mkstemp(prefix=".toklm-tmp-", suffix=".safetensors", dir=path.parent)
        self.tmp = Path(tmp)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.file.write(struct.pack("<Q", len(raw)) + raw)
        self.file.truncate(self.data_start + end)

    def put(self, name: str, tensor: torch.Tensor) -> None:
        data = tensor.detach().contiguous().cpu().view(torch.uint8).reshape(-1).numpy()
        self.file.seek(self.data_start + self.offsets[name])
        self.file.write(memoryview(data))

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def quantize_cached(
    model: nn.Module,
    mode: str,
    directory: Path,
    files: list[Path],
    dtype: torch.dtype,
    quantize: Callable[..., nn.Module],
) -> nn.Module:
    """`quantize(model, mode)`, from the converted-weights cache beside the checkpoint when it is
    valid, else converting and writing the cache (see the module docstring)."""
    device = next(model.parameters()).device
    if not _enabled() or device.type != "cpu":
        return quantize(model, mode)
    linears = _linears(model)
    layout = _layout(linears, mode, dtype)
    meta = {
        "format": FORMAT,
        "mode": mode,
        "dtype": str(dtype),
        "sources": json.dumps(_sources(files)),
    }
    path = cache_path(directory, mode, dtype)
    cached = _load(path, layout, meta) if path.is_file() else None
    if cached is not None:
        converted: dict[str, Any] = {
            name: (cached[f"{name}.weight"], cached[f"{name}.scale"])
            if mode == "int8"
            else cached[f"{name}.weight"]
            for name in linears
        }
        return quantize(model, mode, converted)
    try:
        writer = _Writer(path, layout, meta)
    except OSError:  # a read-only directory: convert on every load
        return quantize(model, mode)
    try:
        quantize(model, mode, None, on_converted=lambda name, m: _store(writer, name, m, mode))
    except BaseException:
        writer.abort()
        raise
    try:
        writer.commit()
    except OSError:
        writer.abort()
    return model


def _store(writer: _Writer, name: str, module: nn.Module, mode: str) -> None:
    if mode == "int8":
        writer.put(f"{name}.weight", module.weight)
        writer.put(f"{name}.scale", module.scale)
    else:
        writer.put(f"{name}.weight", module.bf16_weight)
