"""GPT-2 (transformers' `GPT2LMHeadModel` / `GPT2Model`), pre-LayerNorm with learned positions.

Checkpoint tensors are named with or without the `transformer.` prefix; the four Conv1D weights
are stored [in, out] and used through a transposed view of the mapped file (no copy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .base import CausalLM, ModelConfig, config_value
from .layers import ACTIVATIONS, Embedding, LayerNorm, Linear, Step, attend
from .loading import CheckpointError

_IGNORED = re.compile(r"(^|\.)attn\.(bias|masked_bias)$")  # causal-mask buffers
_CONV1D = re.compile(r"^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")


@dataclass(frozen=True)
class GPT2Config(ModelConfig):
    inner_size: int
    scale_attn_weights: bool
    scale_attn_by_inverse_layer_idx: bool
    reorder_and_upcast_attn: bool

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path) -> GPT2Config:
        E = config_value(raw, path, "n_embd", int, 768)
        H = config_value(raw, path, "n_head", int, 12)
        cfg = cls(
            vocab_size=config_value(raw, path, "vocab_size", int, 50257),
            hidden_size=E,
            num_layers=config_value(raw, path, "n_layer", int, 12),
            num_heads=H,
            max_positions=config_value(raw, path, "n_positions", int, 1024),
            layer_norm_eps=config_value(raw, path, "layer_norm_epsilon", float, 1e-5),
            activation=config_value(raw, path, "activation_function", str, "gelu_new"),
            tie_word_embeddings=config_value(raw, path, "tie_word_embeddings", bool, True),
            inner_size=config_value(raw, path, "n_inner", int, 4 * E),
            scale_attn_weights=config_value(raw, path, "scale_attn_weights", bool, True),
            scale_attn_by_inverse_layer_idx=config_value(
                raw, path, "scale_attn_by_inverse_layer_idx", bool, False
            ),
            reorder_and_upcast_attn=config_value(raw, path, "reorder_and_upcast_attn", bool, False),
        )
        cls.check_positive(
            path,
            vocab_size=cfg.vocab_size,
            n_embd=E,
            n_head=H,
            n_layer=cfg.num_layers,
            n_positions=cfg.max_positions,
            n_inner=cfg.inner_size,
        )
        cls.check_heads(path, "n_embd", E, "n_head", H)
        if cfg.activation not in ACTIVATIONS:
            raise CheckpointError(
                f"{path}: activation_function {cfg.activation!r} is not supported "
                f"(supported: {', '.join(ACTIVATIONS)})"
            )
        if raw.get("add_cross_attention"):
            raise CheckpointError(
                f"{path}: add_cross_attention=true (encoder-decoder) is not supported"
            )
        return cfg


class GPT2Attention(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        E, self.H = config.hidden_size, config.num_heads
        self.c_attn = Linear(E, 3 * E)
        self.c_proj = Linear(E, E)
        scale = config.head_dim**-0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            scale /= float(layer_idx + 1)
        self.scale = scale
        self.upcast = config.reorder_and_upcast_attn

    def forward(self, x: torch.Tensor, step: Step, layer: int) -> torch.Tensor:
        B, T, E = x.shape
        qkv = self.c_attn(x).view(B, T, 3, self.H, E // self.H)  # [Q-all | K-all | V-all]
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, H, T, D]
        if self.upcast and q.dtype != torch.float32:
            # reorder_and_upcast_attn: scores and softmax in fp32 even for half weights.
            out = attend(q.float(), k.float(), v.float(), step, layer, self.scale).to(x.dtype)
        else:
            out = attend(q, k, v, step, layer, self.scale)  # [B, T, E]
        return self.c_proj(out)


class GPT2MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.c_fc = Linear(config.hidden_size, config.inner_size)
        self.c_proj = Linear(config.inner_size, config.hidden_size)
        self.act = ACTIVATIONS[config.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.mlp = GPT2MLP(config)

    def forward(self, x: torch.Tensor, ctx: Any, step: Step, layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), step, layer)
        return x + self.mlp(self.ln_2(x))


class GPT2LMHeadModel(CausalLM):
    """GPT-2 with its (tied) language-model head.

    >>> # skipped: downloads a checkpoint from the Hugging Face Hub
    >>> model = GPT2LMHeadModel.from_pretrained("gpt2")  # doctest: +SKIP
    >>> model.wte(torch.tensor([15496])).shape  # doctest: +SKIP
    torch.Size([1, 768])
    """

    model_type = "gpt2"
    config_class = GPT2Config
    layer_prefix = "h."
    context_key = "n_positions"

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        E = config.hidden_size
        self.wte = Embedding(config.vocab_size, E)
        self.wpe = Embedding(config.max_positions, E)
        self.h = nn.ModuleList(GPT2Block(config, i) for i in range(config.num_layers))
        self.ln_f = LayerNorm(E, config.layer_norm_eps)
        if self.has_lm_head:
            self.lm_head = Linear(E, config.vocab_size, bias=False)

    @property
    def transformer(self) -> GPT2LMHeadModel:
        """transformers' `model.transformer.wte` spelling."""
        return self

    @property
    def token_embedding_weight(self) -> torch.Tensor:
        return self.wte.weight

    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.wte(input_ids)

    def embed(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.wte(input_ids) + self.wpe(positions)

    def blocks(self) -> nn.ModuleList:
        return self.h

    def final_norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln_f(x)

    @classmethod
    def canonical_name(cls, config: GPT2Config, name: str) -> str | None:
        if _IGNORED.search(name):
            return None
        if name == "lm_head.weight" and (config.tie_word_embeddings or not cls.has_lm_head):
            return None  # transformers ties the head to wte and ignores a stored copy
        return name.removeprefix("transformer.")

    @classmethod
    def stored_transposed(cls, name: str) -> bool:
        return _CONV1D.match(name) is not None

    @classmethod
    def checkpoint_shapes(cls, config: GPT2Config) -> dict[str, tuple[int, ...]]:
        E, V, inner = config.hidden_size, config.vocab_size, config.inner_size
        shapes: dict[str, tuple[int, ...]] = {
            "wte.weight": (V, E),
            "wpe.weight": (config.max_positions, E),
            "ln_f.weight": (E,),
            "ln_f.bias": (E,),
        }
        for i in range(config.num_layers):
            p = f"h.{i}."
            shapes.update(
                {
                    p + "ln_1.weight": (E,),
                    p + "ln_1.bias": (E,),
                    p + "attn.c_attn.weight": (E, 3 * E),
                    p + "attn.c_attn.bias": (3 * E,),
                    p + "attn.c_proj.weight": (E, E),
                    p + "attn.c_proj.bias": (E,),
                    p + "ln_2.weight": (E,),
                    p + "ln_2.bias": (E,),
                    p + "mlp.c_fc.weight": (E, inner),
                    p + "mlp.c_fc.bias": (inner,),
                    p + "mlp.c_proj.weight": (inner, E),
                    p + "mlp.c_proj.bias": (E,),
                }
            )
        if cls.has_lm_head and not config.tie_word_embeddings:
            shapes["lm_head.weight"] = (V, E)
        return shapes

    @classmethod
    def tie_weights(cls, config: Any, state: dict[str, torch.Tensor]) -> None:
        if cls.has_lm_head and config.tie_word_embeddings and "wte.weight" in state:
            state["lm_head.weight"] = state["wte.weight"]


class GPT2Model(GPT2LMHeadModel):
    """GPT-2 without the head: `model(ids).last_hidden_state`, `.hidden_states`."""

    has_lm_head = False
