"""Building blocks shared by the architectures: linear layers, the static KV cache, attention.

Shapes use B = batch, T = new tokens this step, S = cached + new tokens, H = heads, D = head dim,
E = hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Up to this many rows (decode steps, small batches) a CPU GEMM is split over the threads by
# hand; above it (prefill) the BLAS parallelises well by itself.
SPLIT_MAX_ROWS = 128
# Below this many weights (1 MiB of fp32) a product is too small for splitting to pay.
SPLIT_MIN_WEIGHTS = 1 << 18


class Linear(nn.Module):
    """y = x @ weight.T + bias, with `weight` [out, in]: [out, in]-contiguous, or a transposed
    view of [in, out] storage (GPT-2's Conv1D checkpoint tensors, used in place).

    On CPU in fp32 with a few rows (decode), the product is split into one part per thread and run
    as one `bmm`, which parallelises over its batch: MKL runs a one-row GEMM on a single core, which
    reads weights at about half the machine's bandwidth. [in, out] storage is split along `in`
    (partial products summed), [out, in] storage along `out` (blocks of output columns).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features), requires_grad=False) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        parts = torch.get_num_threads()
        if (
            parts > 1
            and x.device.type == "cpu"
            and w.dtype == torch.float32
            and x.numel() <= SPLIT_MAX_ROWS * self.in_features
            and w.numel() >= SPLIT_MIN_WEIGHTS
        ):
            rows = x.reshape(-1, self.in_features)  # [N, K]
            if w.t().is_contiguous() and self.in_features % parts == 0:
                y = _split_k(rows, w, parts)
            elif w.is_contiguous() and self.out_features >= parts:
                # Several rows through a wide matrix (an LM head): MKL does better with the
                # weight block on the left of each product.
                wide = rows.shape[0] > 1 and self.out_features > 4 * self.in_features
                y = _split_n_left(rows, w, parts) if wide else _split_n(rows, w, parts)
            else:
                return F.linear(x, w, self.bias)
            if self.bias is not None:
                y += self.bias
            return y.view(*x.shape[:-1], self.out_features)
        return F.linear(x, w, self.bias)

    def weight_bytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()


def _split_k(rows: torch.Tensor, w: torch.Tensor, parts: int) -> torch.Tensor:
    """rows @ w.T for `w` with [in, out] storage: one slice of `in` per thread, summed."""
    N, K = rows.shape
    xs = rows.view(N, parts, K // parts).transpose(0, 1)  # [P, N, K/P]
    ws = w.t().view(parts, K // parts, w.shape[0])  # [P, K/P, out], a view
    return torch.bmm(xs, ws).sum(0)  # [N, out]


def _split_n(rows: torch.Tensor, w: torch.Tensor, parts: int) -> torch.Tensor:
    """rows @ w.T for `w` with [out, in] storage: one block of output rows per thread."""
    N, K = rows.shape
    out = w.shape[0]
    per = out // parts
    ws = w[: per * parts].view(parts, per, K).transpose(1, 2)  # [P, K, out/P], a view
    y = torch.bmm(rows.expand(parts, N, K), ws)  # [P, N, out/P]
    y = y.transpose(0, 1).reshape(N, per * parts)  # [N, P*(out/P)]
    if per * parts == out:
        return y
    return torch.cat([y, rows @ w[per * parts :].t()], dim=1)  # [N, out]: the leftover rows


def _split_n_left(rows: torch.Tensor, w: torch.Tensor, parts: int) -> torch.Tensor:
    """`_split_n` computed as (w @ rows.T).T: one block of output rows per thread."""
    N, K = rows.shape
    out = w.shape[0]
    per = out // parts
    ws = w[: per * parts].view(parts, per, K)  # [P, out/P, K], a view
    yt = torch.bmm(ws, rows.t().expand(parts, K, N)).view(per * parts, N)  # [P*(out/P), N]
    if per * parts != out:
        yt = torch.cat([yt, w[per * parts :] @ rows.t()])  # [out, N]: the leftover rows
    return yt.t()  # [N, out]


class LayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(dim), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class Embedding(nn.Module):
    """A token (or position) lookup table; `embedding(ids)` -> [..., E]."""

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, dim), requires_grad=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    # transformers' NewGELUActivation is the tanh approximation written out; F.gelu(tanh) is the
    # same formula in one kernel (measured difference <= 2.4e-7 on [-6, 6]).
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {"gelu_new": gelu_new, "gelu": F.gelu, "gelu_pytorch_tanh": gelu_new}


class KVCache:
    """Preallocated keys/values for every layer: [L, B, H, capacity, D], filled left to right.

    `key_valid` [B, capacity] is False at left-padding positions; `padded` says whether any is.
    """

    def __init__(
        self,
        layers: int,
        batch: int,
        heads: int,
        capacity: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        shape = (layers, batch, heads, capacity, head_dim)
        # Uninitialised on purpose: a position is always written before any query reads it.
        self.k = torch.empty(shape, dtype=dtype, device=device)
        self.v = torch.empty(shape, dtype=dtype, device=device)
        self.key_valid = torch.ones(batch, capacity, dtype=torch.bool, device=device)
        self.padded = False
        self.length = 0
        self.capacity = capacity

    def set_padding(self, attention_mask: torch.Tensor) -> None:
        """Record which of the next positions are padding (attention_mask [B, T], 0 = pad)."""
        T = attention_mask.shape[1]
        valid = attention_mask.to(torch.bool)
        self.key_valid[:, self.length : self.length + T] = valid
        self.padded = self.padded or not bool(valid.all())

    def rows(self, first: int, end: int) -> KVCache:
        """A cache over rows [first, end) sharing this one's storage, with length 0 (continuous
        batching prefills one row and decodes the leading rows through such views)."""
        view = object.__new__(KVCache)
        view.k, view.v = self.k[:, first:end], self.v[:, first:end]
        view.key_valid = self.key_valid[first:end]
        view.padded, view.length, view.capacity = False, 0, self.capacity
        return view


@dataclass
class Step:
    """What every layer's attention needs for one forward pass (computed once per pass)."""

    cache: KVCache | None
    start: int  # cache position of the first new token
    mask: torch.Tensor | None  # bool [B, 1, T, S], True = may attend; None = see is_causal
    is_causal: bool
    # One new token per row written at its own cache position [B] (rows at different lengths,
    # continuous batching); `start` is then the largest of them and `mask` says what each sees.
    row_positions: torch.Tensor | None = None
    # Captured decode (cuda_graphs.py): the cache slot to write, as a device tensor [1]; the
    # keys/values attended are then the first S = mask.shape[-1] cache positions (fixed shapes).
    write_index: torch.Tensor | None = None


def make_step(
    cache: KVCache | None, T: int, attention_mask: torch.Tensor | None, device: torch.device
) -> Step:
    """The attention mask for T new tokens after `cache.length` cached ones.

    Pad queries may always attend to themselves: a fully masked row would give NaN, and NaN
    values would leak into real tokens' outputs through 0 * NaN in later layers.
    """
    start = cache.length if cache is not None else 0
    S = start + T
    if cache is not None and cache.capacity < S:
        raise ValueError(f"KV cache holds {cache.capacity} positions, {S} are needed")
    if cache is not None:
        if attention_mask is not None:
            cache.set_padding(attention_mask[:, -T:])
        padded = cache.padded
        key_valid = cache.key_valid[:, :S]
    else:
        padded = attention_mask is not None and not bool(attention_mask.all())
        key_valid = attention_mask.to(torch.bool) if attention_mask is not None else None
    if not padded:
        if T == 1:  # one new token sees every cached one
            return Step(cache, start, None, False)
        if start == 0:
            return Step(cache, start, None, True)
    q_pos = torch.arange(start, S, device=device)
    k_pos = torch.arange(S, device=device)
    mask = k_pos[None, :] <= q_pos[:, None]  # [T, S] causal
    if padded:
        assert key_valid is not None
        mask = mask[None] & key_valid[:, None, :]  # [B, T, S]
        mask |= k_pos[None, None, :] == q_pos[None, :, None]
    return Step(cache, start, mask.unsqueeze(-3), False)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, step: Step, layer: int, scale: float
) -> torch.Tensor:
    """Attention of q [B,H,T,D] over the cached keys plus k, v [B,H,T,D]; returns [B,T,H*D]."""
    cache = step.cache
    if cache is not None and step.write_index is not None:
        assert step.mask is not None
        S = step.mask.shape[-1]
        cache.k[layer].index_copy_(2, step.write_index, k.to(cache.k.dtype))
        cache.v[layer].index_copy_(2, step.write_index, v.to(cache.v.dtype))
        k, v = cache.k[layer, :, :, :S], cache.v[layer, :, :, :S]  # [B,H,S,D] views
    elif cache is not None:
        end = step.start + q.shape[2]
        if step.row_positions is not None:
            rows = torch.arange(q.shape[0], device=q.device)
            cache.k[layer][rows, :, step.row_positions] = k[:, :, 0]
            cache.v[layer][rows, :, step.row_positions] = v[:, :, 0]
        else:
            cache.k[layer, :, :, step.start : end] = k
            cache.v[layer, :, :, step.start : end] = v
        k, v = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]  # [B,H,S,D] views
    if k.dtype != q.dtype:  # GPT-2's reorder_and_upcast_attn: fp32 scores over a half cache
        k, v = k.to(q.dtype), v.to(q.dtype)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=step.mask, is_causal=step.is_causal, scale=scale
    )  # [B,H,T,D]
    B, H, T, D = out.shape
    return out.transpose(1, 2).reshape(B, T, H * D)
