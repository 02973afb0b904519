"""The logits processors of generation: each matches transformers' class of the same name bit
for bit (repetition penalty, then, only when sampling, temperature, top-k, top-p and min-p).

`generation.build_processors` chains them in transformers' order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["Processor", "min_p", "repetition_penalty", "temperature", "top_k", "top_p"]

# (input_ids [B, T], scores [B, V]) -> scores [B, V]
Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def repetition_penalty(
    input_ids: torch.Tensor,
    scores: torch.Tensor,
    penalty: float,
    ignore_lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """RepetitionPenaltyLogitsProcessor: every id in `input_ids` (once, however often it occurs)
    gets s / penalty if s >= 0 else s * penalty; left padding (`ignore_lengths` [B]) is skipped.

    >>> repetition_penalty(torch.tensor([[1, 2, 3]]), torch.tensor([[1., -1, 2, -3, 4]]), 1.3)
    tensor([[ 1.0000, -1.3000,  1.5385, -3.9000,  4.0000]])
    """
    V = scores.shape[-1]
    if ignore_lengths is not None:  # ignored positions point at an extra column that is dropped
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        input_ids = input_ids.masked_fill(positions[None, :] < ignore_lengths[:, None], V)
    input_ids = input_ids.clamp(max=V)
    padded = torch.nn.functional.pad(scores, (0, 1))
    score = torch.gather(padded, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return padded.scatter(1, input_ids, score)[..., :V]


def temperature(scores: torch.Tensor, t: float) -> torch.Tensor:
    """TemperatureLogitsWarper.

    >>> temperature(torch.tensor([[1., 2.]]), 0.5)
    tensor([[2., 4.]])
    """
    return scores / t


def top_k(scores: torch.Tensor, k: int, min_keep: int = 1) -> torch.Tensor:
    """TopKLogitsWarper: keep scores >= the k-th largest (ties at the k-th are kept).

    >>> top_k(torch.tensor([[1., 3., 2., 3.]]), 2)
    tensor([[-inf, 3., -inf, 3.]])
    """
    k = min(max(k, min_keep), scores.size(-1))
    remove = scores < torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(remove, -float("inf"))


def top_p(scores: torch.Tensor, p: float, min_keep: int = 1) -> torch.Tensor:
    """TopPLogitsWarper: drop the least likely tokens whose cumulative probability <= 1 - p.

    >>> top_p(torch.tensor([[0., 1., 2.]]), 0.5)
    tensor([[-inf, -inf, 2.]])
    """
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_remove = cumulative <= (1 - p)
    sorted_remove[..., -min_keep:] = 0
    remove = sorted_remove.scatter(1, sorted_indices, sorted_remove)
    return scores.masked_fill(remove, -float("inf"))


def min_p(scores: torch.Tensor, p: float, min_keep: int = 1) -> torch.Tensor:
    """MinPLogitsWarper: drop tokens with probability < p * (the largest probability).

    >>> min_p(torch.tensor([[0., 1., 3.]]), 0.1)  # probabilities 0.04, 0.11, 0.84
    tensor([[-inf, 1., 3.]])
    """
    probs = torch.softmax(scores, dim=-1)
    remove = probs < p * probs.amax(dim=-1, keepdim=True)
    keep = torch.topk(probs, min(min_keep, probs.shape[-1]), dim=-1).indices
    remove.scatter_(-1, keep, False)
    return scores.masked_fill(remove, -float("inf"))
