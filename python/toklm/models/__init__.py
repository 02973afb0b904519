"""toklm's own PyTorch engine for GPT-2 and GPT-NeoX/Pythia checkpoints in Hugging Face format.

Needs the `models` extra (`pip install 'toklm[models]'`, i.e. torch). Outputs match transformers
5.x: logits, hidden states, token embeddings and `generate()`.

>>> from toklm.models import AutoModelForCausalLM
>>> # skipped: downloads a checkpoint from the Hugging Face Hub
>>> model = AutoModelForCausalLM.from_pretrained("EleutherAI/pythia-160m")  # doctest: +SKIP
>>> model.generate([[12092, 1533]], max_new_tokens=5)  # doctest: +SKIP
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "toklm.models needs PyTorch; install it with: pip install 'toklm[models]'"
    ) from e

from pathlib import Path
from typing import Any

from .base import CausalLM, LogLikelihood, ModelOutput
from .device import DeviceError
from .generation import GenerateOutput
from .gpt2 import GPT2Config, GPT2LMHeadModel, GPT2Model
from .gpt_neox import GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXModel
from .layers import KVCache
from .loading import CheckpointError

__all__ = [
    "ARCHITECTURES",
    "AutoModelForCausalLM",
    "CausalLM",
    "CheckpointError",
    "DeviceError",
    "GPT2Config",
    "GPT2LMHeadModel",
    "GPT2Model",
    "GPTNeoXConfig",
    "GPTNeoXForCausalLM",
    "GPTNeoXModel",
    "GenerateOutput",
    "KVCache",
    "LogLikelihood",
    "ModelOutput",
]

ARCHITECTURES: dict[str, type[CausalLM]] = {
    "gpt2": GPT2LMHeadModel,
    "gpt_neox": GPTNeoXForCausalLM,
}


class AutoModelForCausalLM(CausalLM):
    """Picks the architecture from config.json's `model_type`.

    >>> # skipped: downloads a checkpoint from the Hugging Face Hub
    >>> AutoModelForCausalLM.from_pretrained("EleutherAI/pythia-410m")  # doctest: +SKIP
    """

    model_type = "auto"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover
        raise TypeError("use AutoModelForCausalLM.from_pretrained(path_or_repo_id)")

    @classmethod
    def class_for_config(cls, raw: dict[str, Any], path: Path) -> type[CausalLM]:
        model_type = raw.get("model_type")
        if model_type not in ARCHITECTURES:
            raise CheckpointError(
                f"{path}: model_type {model_type!r} is not supported "
                f"(supported: {', '.join(sorted(ARCHITECTURES))})"
            )
        return ARCHITECTURES[model_type]
