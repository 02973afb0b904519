"""Weight-only quantization: fewer bytes per weight, activations stay floating point.

int8: symmetric, one scale per output channel. w ~= w_int8 * scale[:, None], with scale =
max|w_row| / 127 rounded *up* to bf16, so the bf16 scale the CPU kernel uses is the one the weights
were rounded with. On CPU, small batches use `torch._weight_int8pack_mm` (bf16 activations, reads
1 byte per weight); larger ones (prefill) dequantize the layer and run an ordinary GEMM.

bf16: weights rounded to bf16 (2 bytes), activations and accumulation fp32. On x86 CPUs the layer
runs fbgemm's half-precision-weight GEMM (`quantized::linear_dynamic_fp16`): every bf16 value in
fp16's range is exactly an fp16 value, and fbgemm widens them on the fly, which AVX2 CPUs do far
faster than torch's bf16 matmul. Elsewhere it falls back to torch's bf16 `F.linear`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Linear
from .loading import release_tensor

# _weight_int8pack_mm reads past the row end when in_features is not a multiple of its vector
# width (checked on torch 2.15: garbage for K=5); use it only for well-shaped layers.
_KERNEL_K_MULTIPLE = 32
_KERNEL_MAX_ROWS = 32  # above this, dequantize + GEMM is faster (compute-bound anyway)


def _bf16_ceil(x: torch.Tensor) -> torch.Tensor:
    """The smallest bf16 value >= x (x > 0), as fp32."""
    b = x.to(torch.bfloat16).float()
    up = torch.nextafter(b.to(torch.bfloat16), torch.tensor(float("inf"), dtype=torch.bfloat16))
    return torch.where(b >= x, b, up.float())


def int8_weights(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weight [out, in], fp32 scale [out]) of a float weight [out, in] (module docstring).

    >>> q, scale = int8_weights(torch.tensor([[1.0, -0.5], [0.0, 2.0]]))
    >>> q.tolist(), scale.tolist()
    ([[126, -63], [0, 126]], [0.0079345703125, 0.015869140625])
    """
    w = weight.detach()
    if w.dtype != torch.float32:
        w = w.float()
    lo, hi = torch.aminmax(w, dim=1)
    scale = _bf16_ceil(torch.maximum(-lo, hi).clamp_(min=1e-30) / 127)  # [out]
    # |w / scale| <= 127 because scale was rounded up; few passes: loading time matters.
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    q.copy_((w * (1.0 / scale)[:, None]).round_())
    return q, scale


class Int8Linear(nn.Module):
    """A `Linear` whose weight is int8 [out, in] with fp32 per-row scales [out].

    `Int8Linear(linear)` quantizes; `Int8Linear(linear, (q, scale))` takes weights quantized
    before (the converted-weights cache).
    """

    def __init__(
        self, linear: Linear, converted: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> None:
        super().__init__()
        q, scale = converted if converted is not None else int8_weights(linear.weight)
        self.weight = nn.Parameter(q, requires_grad=False)
        self.scale = nn.Parameter(scale, requires_grad=False)
        self.scale_bf16 = scale.to(torch.bfloat16)
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.use_kernel = q.device.type == "cpu" and self.in_features % _KERNEL_K_MULTIPLE == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])  # [N, in]
        if self.use_kernel and x2.shape[0] <= _KERNEL_MAX_ROWS:
            y = torch._weight_int8pack_mm(x2.to(torch.bfloat16), self.weight, self.scale_bf16)
            y = y.to(x.dtype)
        else:
            y = F.linear(x2, self.weight.to(x.dtype)) * self.scale.to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*shape[:-1], self.out_features)

    def weight_bytes(self) -> int:
        return self.weight.numel() + 4 * self.scale.numel()


_FP16_MAX = 65504.0
# Layers with fewer weights than this (1 MiB in fp32) keep fp32 storage of their bf16 values.
_SMALL_LAYER = 1 << 18


def _fbgemm_half_available() -> bool:
    try:
        packed = torch.ops.quantized.linear_prepack_fp16(torch.ones(8, 8), None)
        torch.ops.quantized.linear_dynamic_fp16(torch.ones(1, 8), packed)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return True


# fbgemm's fp16 packing slows down per weight as matrices grow (25 ns/weight at 2k rows, 100+
# at 50k on the project's VM): big layers (the LM head) are packed in blocks of rows. Each block
# goes through one reused fp32 scratch buffer: a fresh temporary per block, freed between the
# long-lived packed blocks, fragments the heap and raised peak memory by a third (Pythia-410M).
_PACK_ROWS = 2048


class _Scratch:
    """A reusable fp32 buffer for the blocks one thread packs."""

    def __init__(self) -> None:
        self.buf = torch.empty(0)

    def fp32(self, w: torch.Tensor) -> torch.Tensor:
        n = w.numel()
        if self.buf.numel() < n:
            self.buf = torch.empty(max(n, _PACK_ROWS * w.shape[1]))
        out = self.buf[:n].view(w.shape)
        out.copy_(w)
        return out


class Bf16Linear(nn.Module):
    """A `Linear` with bf16-rounded weights and fp32 activations (see the module docstring).

    `Bf16Linear(linear, use_fbgemm)` rounds the weight; `converted=` takes it rounded before
    (the converted-weights cache). `scratch` is the fp32 buffer that row blocks are packed from.
    """

    def __init__(
        self,
        linear: Linear,
        use_fbgemm: bool,
        converted: torch.Tensor | None = None,
        scratch: _Scratch | None = None,
    ) -> None:
        super().__init__()
        w = converted if converted is not None else linear.weight.detach().to(torch.bfloat16)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed: list[Any] | None = None
        self.weight: torch.Tensor | None = None
        self.bias = linear.bias
        if w.device.type == "cpu" and w.numel() < _SMALL_LAYER:
            # Too small for the fp16 kernel's per-call cost to pay: the same bf16 values, held in
            # fp32 (the same fp32 arithmetic, a few KB more).
            self.weight = w.float()
        elif use_fbgemm and w.device.type == "cpu":
            lo, hi = torch.aminmax(w)
            if max(-float(lo), float(hi)) <= _FP16_MAX:  # every such bf16 value is an fp16 value
                bias = None if linear.bias is None else linear.bias.detach().float()
                self.packed = self._pack(w, bias, scratch or _Scratch())
        if self.packed is None and self.weight is None:
            self.weight = w.contiguous()
        self.bf16_weight: torch.Tensor | None = w  # for the cache; dropped once packed

    @staticmethod
    def _pack(w: torch.Tensor, bias: torch.Tensor | None, scratch: _Scratch) -> list[Any]:
        packed = []
        for a in range(0, w.shape[0], _PACK_ROWS):
            b = min(a + _PACK_ROWS, w.shape[0])
            block = scratch.fp32(w[a:b])  # packing copies it: the buffer is free again after
            packed.append(
                torch.ops.quantized.linear_prepack_fp16(block, None if bias is None else bias[a:b])
            )
        return packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None:  # fp32 in, fp32 out, bias included
            xf = x.float()
            outs = [torch.ops.quantized.linear_dynamic_fp16(xf, p) for p in self.packed]
            y = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            return y.to(x.dtype)
        assert self.weight is not None
        if self.weight.dtype == torch.float32:
            return F.linear(x.float(), self.weight, self.bias).to(x.dtype)
        y = F.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return y + self.bias if self.bias is not None else y

    def weight_bytes(self) -> int:
        size = 2 if self.weight is None else self.weight.element_size()
        return size * self.in_features * self.out_features


def quantize(
    model: nn.Module,
    mode: str,
    converted: dict[str, Any] | None = None,
    *,
    on_converted: Callable[[str, nn.Module], None] | None = None,
) -> nn.Module:
    """Replace every `Linear` in `model` (the LM head included), in place, by an `Int8Linear`
    (mode "int8") or a `Bf16Linear` (mode "bf16").

    `converted` maps a Linear's module name to its converted weights (int8: (q, scale); bf16:
    the bf16 weight), from the converted-weights cache (`quant_cache`): no conversion then.
    `on_converted(name, new_module)` sees each layer once converted (the cache writer).
    Layers are converted on a few threads (torch releases the GIL), a few layers at a time, so
    the extra memory in flight stays a few layers' worth.

    >>> # skipped: `model` stands for a loaded model (tests/models/test_quant.py)
    >>> quantize(model, "int8")  # doctest: +SKIP
    """
    if mode not in ("int8", "bf16"):
        raise ValueError(f"quantize={mode!r} is not supported; use None, 'int8' or 'bf16'")
    fbgemm = mode == "bf16" and _fbgemm_half_available()
    # Memory still used after quantization: a tied embedding shares the LM head's weight.
    kept = {
        m.weight.data_ptr()
        for m in model.modules()
        if not isinstance(m, Linear) and isinstance(getattr(m, "weight", None), torch.Tensor)
    }
    linears = [
        (module, child_name, child, f"{prefix}.{child_name}" if prefix else child_name)
        for prefix, module in model.named_modules()
        for child_name, child in module.named_children()
        if isinstance(child, Linear)
    ]
    # int8 converts on a few threads; bf16 packs on one (fbgemm's packing allocates as it goes,
    # and concurrent packing fragments the heap: peak memory rose by 10-20%).
    # From the cache there is nothing to convert: no threads to start.
    threads = 1 if mode == "bf16" or converted else max(1, min(4, torch.get_num_threads()))
    scratch = _Scratch()
    with ThreadPoolExecutor(threads) as pool:

        def convert(item: tuple[nn.Module, str, Linear, str]) -> nn.Module:
            _, _, child, name = item
            done = None if converted is None else converted[name]
            if mode == "int8":
                return Int8Linear(child, done)
            return Bf16Linear(child, fbgemm, done, scratch=scratch)

        for start in range(0, len(linears), threads):  # a window at a time: bounded memory
            window = linears[start : start + threads]
            results = pool.map(convert, window) if threads > 1 else map(convert, window)
            for (module, child_name, child, name), new in zip(window, results, strict=True):
                if on_converted is not None:
                    on_converted(name, new)
                if isinstance(new, Bf16Linear) and new.packed is not None:
                    if converted is not None:
                        release_tensor(new.bf16_weight)  # mapped pages of the cache file
                    new.bf16_weight = None  # the packed copy is what runs
                setattr(module, child_name, new)
                if child.weight.data_ptr() not in kept:
                    release_tensor(child.weight)  # mapped file pages of the float weight
    return model
