"""Token ids as the models take them: a list of ints, a list of equal-length lists, or a tensor.

>>> as_ids([5, 6, 7], torch.device("cpu"))
tensor([[5, 6, 7]])
"""

from __future__ import annotations

from typing import Any

import torch


def as_ids(ids: Any, device: torch.device) -> torch.Tensor:
    """ids as an int64 tensor [B, T] (a flat list or 1-D tensor becomes one row)."""
    if isinstance(ids, torch.Tensor):
        t = ids
    else:
        try:
            t = torch.as_tensor(ids, dtype=torch.int64)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(
                f"input_ids must be a list of ints, a list of equal-length lists or a tensor: {e}"
            ) from e
    if t.dim() == 1:
        t = t[None]
    if t.dtype == torch.int32:
        t = t.long()
    return t.to(device)
