"""int8 weight-only quantization (symmetric, one scale per output channel).

w ~= w_int8 * scale[:, None], scale = max|w_row| / 127 rounded *up* to bf16, so the bf16 scale the
CPU kernel uses is the one the weights were rounded with. Activations stay in floating point. On
CPU, small batches use `torch._weight_int8pack_mm` (bf16 activations, reads 1 byte per weight);
larger ones (prefill) dequantize the layer and run an ordinary GEMM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Linear

# _weight_int8pack_mm reads past the row end when in_features is not a multiple of its vector
# width (checked on torch 2.15: garbage for K=5); use it only for well-shaped layers.
_KERNEL_K_MULTIPLE = 32
_KERNEL_MAX_ROWS = 32  # above this, dequantize + GEMM is faster (compute-bound anyway)


def _bf16_ceil(x: torch.Tensor) -> torch.Tensor:
    """The smallest bf16 value >= x (x > 0), as fp32."""
    b = x.to(torch.bfloat16).float()
    up = torch.nextafter(b.to(torch.bfloat16), torch.tensor(float("inf"), dtype=torch.bfloat16))
    return torch.where(b >= x, b, up.float())


class Int8Linear(nn.Module):
    """A `Linear` whose weight is int8 [out, in] with fp32 per-row scales [out]."""

    def __init__(self, linear: Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()  # [out, in]
        scale = _bf16_ceil(w.abs().amax(dim=1).clamp(min=1e-30) / 127)  # [out]
        self.weight = nn.Parameter(
            torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous(),
            requires_grad=False,
        )
        self.scale = nn.Parameter(scale, requires_grad=False)
        self.scale_bf16 = scale.to(torch.bfloat16)
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.use_kernel = w.device.type == "cpu" and self.in_features % _KERNEL_K_MULTIPLE == 0

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


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every `Linear` in `model` (the LM head included) by an `Int8Linear`, in place.

    >>> quantize_int8(model)  # doctest: +SKIP
    """
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, Linear):
                setattr(module, child_name, Int8Linear(child))
    return model
