"""GPT-NeoX / Pythia (transformers' `GPTNeoXForCausalLM` / `GPTNeoXModel`).

Fused QKV interleaved per head ([q_h | k_h | v_h] for each head h), rotary embeddings on the first
`rotary_pct` of each head (half-split "rotate_half" style), parallel or sequential residual, exact
erf GELU, untied `embed_out` head.
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

_IGNORED = re.compile(r"\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$")


@dataclass(frozen=True)
class GPTNeoXConfig(ModelConfig):
    intermediate_size: int
    rotary_pct: float
    rotary_base: float
    use_parallel_residual: bool
    attention_bias: bool

    @property
    def rotary_dims(self) -> int:
        return int(self.head_dim * self.rotary_pct)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path) -> GPTNeoXConfig:
        # transformers 5 writes rope settings under "rope_parameters"; older files: top-level keys.
        rope = raw.get("rope_parameters") or {}
        if not isinstance(rope, dict):
            raise CheckpointError(
                f"{path}: key 'rope_parameters' must be an object, found {rope!r}"
            )
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default" or raw.get("rope_scaling"):
            raise CheckpointError(
                f"{path}: rope_parameters.rope_type={rope_type!r} / rope_scaling="
                f"{raw.get('rope_scaling')!r} is not supported (only the default rotary embedding)"
            )
        pct_key = "partial_rotary_factor" if "partial_rotary_factor" in rope else "rotary_pct"
        base_key = "rope_theta" if "rope_theta" in rope else "rotary_emb_base"
        src = rope if pct_key in rope else raw
        E = config_value(raw, path, "hidden_size", int, 6144)
        H = config_value(raw, path, "num_attention_heads", int, 64)
        cfg = cls(
            vocab_size=config_value(raw, path, "vocab_size", int, 50432),
            hidden_size=E,
            num_layers=config_value(raw, path, "num_hidden_layers", int, 44),
            num_heads=H,
            max_positions=config_value(raw, path, "max_position_embeddings", int, 2048),
            layer_norm_eps=config_value(raw, path, "layer_norm_eps", float, 1e-5),
            activation=config_value(raw, path, "hidden_act", str, "gelu"),
            tie_word_embeddings=config_value(raw, path, "tie_word_embeddings", bool, False),
            intermediate_size=config_value(raw, path, "intermediate_size", int, 24576),
            rotary_pct=config_value(src, path, pct_key, float, 0.25),
            rotary_base=config_value(
                rope if base_key in rope else raw, path, base_key, float, 10000.0
            ),
            use_parallel_residual=config_value(raw, path, "use_parallel_residual", bool, True),
            attention_bias=config_value(raw, path, "attention_bias", bool, True),
        )
        cls.check_positive(
            path,
            vocab_size=cfg.vocab_size,
            hidden_size=E,
            num_attention_heads=H,
            num_hidden_layers=cfg.num_layers,
            intermediate_size=cfg.intermediate_size,
            max_position_embeddings=cfg.max_positions,
        )
        cls.check_heads(path, "hidden_size", E, "num_attention_heads", H)
        if not 0.0 <= cfg.rotary_pct <= 1.0 or cfg.rotary_dims % 2:
            raise CheckpointError(
                f"{path}: {pct_key}={cfg.rotary_pct} gives {cfg.rotary_dims} rotary dims per head "
                f"(head size {cfg.head_dim}); it must be an even number within the head"
            )
        if cfg.activation not in ACTIVATIONS:
            raise CheckpointError(
                f"{path}: hidden_act {cfg.activation!r} is not supported "
                f"(supported: {', '.join(ACTIVATIONS)})"
            )
        return cfg


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class GPTNeoXAttention(nn.Module):
    def __init__(self, config: GPTNeoXConfig) -> None:
        super().__init__()
        E, self.H, self.R = config.hidden_size, config.num_heads, config.rotary_dims
        self.query_key_value = Linear(E, 3 * E, bias=config.attention_bias)
        self.dense = Linear(E, E, bias=config.attention_bias)
        self.scale = config.head_dim**-0.5

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], step: Step, layer: int
    ) -> torch.Tensor:
        B, T, E = x.shape
        D, R = E // self.H, self.R
        qkv = self.query_key_value(x).view(B, T, self.H, 3, D)  # per head: [q | k | v]
        if R:
            cos, sin = rope  # [B, T, 1, 1, R]
            rot = qkv[..., :2, :R]  # rotary part of q and k together: [B, T, H, 2, R]
            rot = rot * cos + rotate_half(rot) * sin
            qk = rot if R == D else torch.cat((rot, qkv[..., :2, R:]), dim=-1)
        else:
            qk = qkv[..., :2, :]
        q, k = qk.permute(3, 0, 2, 1, 4)  # each [B, H, T, D]
        v = qkv[..., 2, :].transpose(1, 2)  # [B, H, T, D]
        return self.dense(attend(q, k, v, step, layer, self.scale))


class GPTNeoXMLP(nn.Module):
    def __init__(self, config: GPTNeoXConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = Linear(config.hidden_size, config.intermediate_size)
        self.dense_4h_to_h = Linear(config.intermediate_size, config.hidden_size)
        self.act = ACTIVATIONS[config.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class GPTNeoXLayer(nn.Module):
    def __init__(self, config: GPTNeoXConfig) -> None:
        super().__init__()
        self.parallel = config.use_parallel_residual
        self.input_layernorm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.post_attention_layernorm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.attention = GPTNeoXAttention(config)
        self.mlp = GPTNeoXMLP(config)

    def forward(self, x: torch.Tensor, rope: Any, step: Step, layer: int) -> torch.Tensor:
        attn = self.attention(self.input_layernorm(x), rope, step, layer)
        if self.parallel:  # both norms read the same x (same association as transformers)
            return self.mlp(self.post_attention_layernorm(x)) + attn + x
        x = attn + x
        return self.mlp(self.post_attention_layernorm(x)) + x


class GPTNeoXForCausalLM(CausalLM):
    """GPT-NeoX / Pythia with its `embed_out` head (also reachable as `lm_head`).

    >>> # skipped: downloads a checkpoint from the Hugging Face Hub
    >>> model = GPTNeoXForCausalLM.from_pretrained("EleutherAI/pythia-160m")  # doctest: +SKIP
    >>> model.embed_in(torch.tensor([0])).shape  # doctest: +SKIP
    torch.Size([1, 768])
    """

    model_type = "gpt_neox"
    config_class = GPTNeoXConfig
    layer_prefix = "layers."
    context_key = "max_position_embeddings"

    def __init__(self, config: GPTNeoXConfig) -> None:
        super().__init__(config)
        E = config.hidden_size
        self.embed_in = Embedding(config.vocab_size, E)
        self.layers = nn.ModuleList(GPTNeoXLayer(config) for _ in range(config.num_layers))
        self.final_layer_norm = LayerNorm(E, config.layer_norm_eps)
        if self.has_lm_head:
            self.lm_head = Linear(E, config.vocab_size, bias=False)
        self.rope_cos: torch.Tensor | None = None
        self.rope_sin: torch.Tensor | None = None

    @property
    def gpt_neox(self) -> GPTNeoXForCausalLM:
        """transformers' `model.gpt_neox.embed_in` spelling."""
        return self

    @property
    def embed_out(self) -> Linear:
        return self.lm_head

    @property
    def token_embedding_weight(self) -> torch.Tensor:
        return self.embed_in.weight

    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed_in(input_ids)

    def embed(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.embed_in(input_ids)

    def finish_loading(self) -> None:
        """Rotary tables for positions 0..max_positions-1, computed exactly as transformers does
        per position (fp32, then cast to the model dtype)."""
        c = self.config
        R = c.rotary_dims
        inv_freq = 1.0 / (c.rotary_base ** (torch.arange(0, R, 2, dtype=torch.int64).float() / R))
        pos = torch.arange(c.max_positions, dtype=torch.float32)
        freqs = pos[:, None] * inv_freq[None, :]  # [P, R/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [P, R]
        self.rope_cos = emb.cos().to(device=self.device, dtype=self.dtype)
        self.rope_sin = emb.sin().to(device=self.device, dtype=self.dtype)

    def position_context(self, positions: torch.Tensor, dtype: torch.dtype) -> Any:
        assert self.rope_cos is not None and self.rope_sin is not None
        cos = self.rope_cos[positions][:, :, None, None, :]  # [B, T, 1, 1, R]
        sin = self.rope_sin[positions][:, :, None, None, :]
        return cos.to(dtype), sin.to(dtype)

    def blocks(self) -> nn.ModuleList:
        return self.layers

    def final_norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer_norm(x)

    @classmethod
    def canonical_name(cls, config: GPTNeoXConfig, name: str) -> str | None:
        if _IGNORED.search(name):
            return None
        if name in ("embed_out.weight", "lm_head.weight"):  # transformers 4 / 5 spellings
            return None if config.tie_word_embeddings or not cls.has_lm_head else "lm_head.weight"
        return name.removeprefix("gpt_neox.")

    @classmethod
    def checkpoint_shapes(cls, config: GPTNeoXConfig) -> dict[str, tuple[int, ...]]:
        E, V, inner = config.hidden_size, config.vocab_size, config.intermediate_size
        shapes: dict[str, tuple[int, ...]] = {
            "embed_in.weight": (V, E),
            "final_layer_norm.weight": (E,),
            "final_layer_norm.bias": (E,),
        }
        for i in range(config.num_layers):
            p = f"layers.{i}."
            shapes.update(
                {
                    p + "input_layernorm.weight": (E,),
                    p + "input_layernorm.bias": (E,),
                    p + "post_attention_layernorm.weight": (E,),
                    p + "post_attention_layernorm.bias": (E,),
                    p + "attention.query_key_value.weight": (3 * E, E),
                    p + "attention.dense.weight": (E, E),
                    p + "mlp.dense_h_to_4h.weight": (inner, E),
                    p + "mlp.dense_h_to_4h.bias": (inner,),
                    p + "mlp.dense_4h_to_h.weight": (E, inner),
                    p + "mlp.dense_4h_to_h.bias": (E,),
                }
            )
            if config.attention_bias:
                shapes[p + "attention.query_key_value.bias"] = (3 * E,)
                shapes[p + "attention.dense.bias"] = (E,)
        if cls.has_lm_head and not config.tie_word_embeddings:
            shapes["lm_head.weight"] = (V, E)
        return shapes

    @classmethod
    def tie_weights(cls, config: Any, state: dict[str, torch.Tensor]) -> None:
        if cls.has_lm_head and config.tie_word_embeddings and "embed_in.weight" in state:
            state["lm_head.weight"] = state["embed_in.weight"]


class GPTNeoXModel(GPTNeoXForCausalLM):
    """GPT-NeoX without the head: `model(ids).last_hidden_state`, `.hidden_states`."""

    has_lm_head = False
