"""What GPT-2 and GPT-NeoX share: config reading, checkpoint loading, forward, outputs, helpers.

An architecture subclasses `CausalLM` and provides its modules (named exactly like the canonical
checkpoint tensors, so `load_state_dict` lines up), `embed`, `position_context` and its blocks.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .device import resolve_device
from .inputs import as_ids
from .layers import KVCache, Linear, Step, make_step
from .loading import (
    CheckpointError,
    GenerationDefaults,
    iter_checkpoint_tensors,
    parse_dtype,
    read_json,
    release_tensor,
    resolve_checkpoint_dir,
    weight_files,
)

_MISSING = object()


def config_value(
    raw: dict[str, Any], path: Path, key: str, kind: type, default: Any = _MISSING
) -> Any:
    """`raw[key]` checked to be of `kind`, or `default`; errors name the key and the file."""
    value = raw.get(key)
    if value is None:
        if default is _MISSING:
            raise CheckpointError(f"{path}: required key {key!r} is missing")
        return default
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise CheckpointError(f"{path}: key {key!r} must be {kind.__name__}, found {value!r}")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Fields every architecture has; subclasses add their own and implement `from_dict`."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    max_positions: int
    layer_norm_eps: float
    activation: str
    tie_word_embeddings: bool

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @staticmethod
    def check_positive(path: Path, **values: int) -> None:
        for key, value in values.items():
            if value <= 0:
                raise CheckpointError(f"{path}: key {key!r} must be positive, found {value}")

    @staticmethod
    def check_heads(path: Path, hidden_key: str, hidden: int, heads_key: str, heads: int) -> None:
        if hidden % heads:
            raise CheckpointError(
                f"{path}: {hidden_key}={hidden} is not divisible by {heads_key}={heads}"
            )

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass
class ModelOutput:
    """logits [B, T_kept, V] (None for base models); last_hidden_state [B, T, E] after the final
    norm; hidden_states: the embeddings, each block's output, and last_hidden_state (L+1)."""

    logits: torch.Tensor | None
    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class LogLikelihood:
    """Sum of log p(token | previous tokens) over `num_tokens` predicted tokens, in nats."""

    log_likelihood: float
    num_tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(-self.log_likelihood / self.num_tokens) if self.num_tokens else float("nan")


class CausalLM(nn.Module):
    """A decoder-only transformer with toklm's engine; see GPT2LMHeadModel / GPTNeoXForCausalLM."""

    model_type: ClassVar[str]
    config_class: ClassVar[type[ModelConfig]]
    has_lm_head: ClassVar[bool] = True
    layer_prefix: ClassVar[str]  # canonical names of layer i's tensors start with prefix + "i."
    lm_head: Linear

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.generation_defaults = GenerationDefaults()
        self.checkpoint_dir: Path | None = None
        self._tokenizer: Any = None

    # ---- architecture hooks -------------------------------------------------------------------
    def token_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The token embedding lookup (wte / embed_in) for ids [B, T] -> [B, T, E]."""
        raise NotImplementedError

    def embed(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The input to the first block: [B, T] ids at [B, T] positions -> [B, T, E]."""
        raise NotImplementedError

    def position_context(self, positions: torch.Tensor, dtype: torch.dtype) -> Any:
        """Whatever the blocks need about positions (rotary cos/sin for NeoX); computed once."""
        return None

    def blocks(self) -> Sequence[nn.Module]:
        raise NotImplementedError

    def final_norm(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def canonical_name(cls, config: Any, name: str) -> str | None:
        """The module parameter name for checkpoint tensor `name`; None to ignore the tensor."""
        raise NotImplementedError

    @classmethod
    def stored_transposed(cls, name: str) -> bool:
        """Whether the checkpoint stores this weight [in, out] (GPT-2's Conv1D)."""
        return False

    @classmethod
    def checkpoint_shapes(cls, config: Any) -> dict[str, tuple[int, ...]]:
        """Canonical name -> shape as stored in the checkpoint."""
        raise NotImplementedError

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike[str],
        *,
        dtype: str | torch.dtype | None = "float32",
        device: str | torch.device | None = "cpu",
        quantize: str | None = None,
        revision: str = "main",
    ) -> CausalLM:
        """Load a Hugging Face checkpoint directory (or hub-cache repo id).

        `device` ("cpu", "cuda", "cuda:N" or a torch.device): each tensor goes from the mapped
        file straight to it; a device that is not there raises `DeviceError` before any reading.

        >>> # skipped: downloads or needs a loaded model (tests/models run these)
        >>> model = AutoModelForCausalLM.from_pretrained("gpt2", dtype="bf16")  # doctest: +SKIP
        >>> model = AutoModelForCausalLM.from_pretrained("gpt2", device="cuda")  # doctest: +SKIP
        """
        torch_dtype = parse_dtype(dtype)
        dev = resolve_device(device)
        if quantize not in (None, "int8", "bf16"):
            raise ValueError(f"quantize={quantize!r} is not supported; use None, 'int8' or 'bf16'")
        if quantize == "bf16" and torch_dtype != torch.float32:
            raise ValueError("quantize='bf16' keeps activations in float32: leave dtype='float32'")
        directory = resolve_checkpoint_dir(path_or_repo_id, revision)
        config_path = directory / "config.json"
        raw = read_json(config_path)
        model_cls = cls.class_for_config(raw, config_path)
        config = model_cls.config_class.from_dict(raw, config_path)  # type: ignore[attr-defined]
        state = model_cls.read_state(config, weight_files(directory), torch_dtype, dev)
        with torch.device("meta"):
            model = model_cls(config)
        model.load_state_dict(state, strict=True, assign=True)
        model.finish_loading()
        if quantize is not None:
            from .quant import quantize as quantize_weights
            from .quant_cache import quantize_cached

            quantize_cached(
                model, quantize, directory, weight_files(directory), torch_dtype, quantize_weights
            )
        gen_path = directory / "generation_config.json"
        gen = read_json(gen_path) if gen_path.is_file() else None
        model.generation_defaults = GenerationDefaults.from_configs(raw, gen)
        model.checkpoint_dir = directory
        return model.eval()

    @classmethod
    def class_for_config(cls, raw: dict[str, Any], path: Path) -> type[CausalLM]:
        model_type = raw.get("model_type")
        if model_type != cls.model_type:
            raise CheckpointError(
                f"{path}: model_type is {model_type!r}, but {cls.__name__} loads "
                f"{cls.model_type!r}; use AutoModelForCausalLM for other architectures"
            )
        return cls

    @classmethod
    def read_state(
        cls,
        config: Any,
        files: list[Path],
        dtype: torch.dtype,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        """Every parameter, shape-checked, in `dtype` on `device` (all or an error).

        A tensor already in `dtype` on the CPU is the mapped file itself, in the checkpoint's
        layout (GPT-2's Conv1D weights stay [in, out] and are used through a transposed view):
        nothing is copied, which is what makes loading fast. `Linear` handles either layout.
        """
        # Mapped, not read: the config is checked against what the files hold before anything
        # of the config's sizes is built.
        entries = list(iter_checkpoint_tensors(files))
        cls.check_layer_count(config, [name for _, name, _ in entries], files)
        expected = cls.checkpoint_shapes(config)
        state: dict[str, torch.Tensor] = {}
        source: dict[str, Path] = {}
        unexpected: list[str] = []
        for path, name, tensor in entries:
            canonical = cls.canonical_name(config, name)
            if canonical is None:
                continue
            if canonical not in expected:
                unexpected.append(name)
                continue
            if canonical in state:
                raise CheckpointError(
                    f"tensor {name!r} appears twice (in {source[canonical]} and {path})"
                )
            shape = tuple(tensor.shape)
            if shape != expected[canonical]:
                raise CheckpointError(
                    f"{path}: tensor {name!r} has shape {list(shape)}, expected "
                    f"{list(expected[canonical])} from config.json ({config.describe()})"
                )
            if not tensor.is_floating_point():
                raise CheckpointError(
                    f"{path}: tensor {name!r} has dtype {tensor.dtype}, not float"
                )
            logical = tensor.t() if cls.stored_transposed(canonical) else tensor  # [out, in]
            param = _place(logical, dtype, device)
            if param.data_ptr() != tensor.data_ptr():
                release_tensor(tensor)  # copied: give the mapped pages back
            state[canonical] = param
            source[canonical] = path
        cls.tie_weights(config, state)
        missing = sorted(set(expected) - set(state))
        if missing:
            where = ", ".join(str(f) for f in files)
            raise CheckpointError(
                f"{len(missing)} tensor(s) missing from {where}: {', '.join(missing[:5])}"
                + (" ..." if len(missing) > 5 else "")
            )
        if unexpected:
            warnings.warn(
                f"ignored {len(unexpected)} unexpected tensor(s) in the checkpoint: "
                f"{', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else ""),
                stacklevel=3,
            )
        return state

    @classmethod
    def check_layer_count(cls, config: Any, names: list[str], files: list[Path]) -> None:
        """CheckpointError unless the weights hold every layer config.json asks for (a config
        asking for 10**6 layers must not build 10**6 layers before a weight is looked at)."""
        held = set()
        for name in names:
            canonical = cls.canonical_name(config, name) or ""
            index = canonical.removeprefix(cls.layer_prefix).partition(".")[0]
            if canonical.startswith(cls.layer_prefix) and index.isdigit():
                held.add(int(index))
        n_held = max(held) + 1 if held else 0
        if config.num_layers > n_held:
            where = ", ".join(str(f) for f in files)
            raise CheckpointError(
                f"config.json asks for {config.num_layers} layers, but {where} holds "
                f"{n_held} (no tensor of layer {n_held}, named {cls.layer_prefix}{n_held}.*)"
            )

    @classmethod
    def tie_weights(cls, config: Any, state: dict[str, torch.Tensor]) -> None:
        """Fill `lm_head.weight` from the token embeddings when the config ties them."""

    def finish_loading(self) -> None:
        """Build derived buffers (rotary tables) once the real weights are in place."""

    # ---- running ------------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.token_embedding_weight.dtype

    @property
    def device(self) -> torch.device:
        return self.token_embedding_weight.device

    @property
    def token_embedding_weight(self) -> torch.Tensor:
        raise NotImplementedError

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty static KV cache for `batch` rows of up to `capacity` positions."""
        c = self.config
        return KVCache(
            c.num_layers, batch, c.num_heads, capacity, c.head_dim, self.dtype, self.device
        )

    def run(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        step: Step,
        *,
        keep: int = 0,
        hidden: list[torch.Tensor] | None = None,
        between_blocks: Callable[[], None] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """One pass over T new tokens: (logits of the last `keep` positions or all if 0, or None
        for base models; final hidden states [B, T, E]). Appends to `hidden` if given.

        `between_blocks()`, if given, runs after each block but the last; it may run other
        passes of this model on other cache rows (continuous batching admits new requests there
        so they need not wait for the whole step), never on the rows of `step`."""
        x = self.embed(input_ids, positions)  # [B, T, E]
        ctx = self.position_context(positions, x.dtype)
        blocks = self.blocks()
        for i, block in enumerate(blocks):
            if hidden is not None:
                hidden.append(x)
            x = block(x, ctx, step, i)
            if between_blocks is not None and i < len(blocks) - 1:
                between_blocks()
        x = self.final_norm(x)
        if hidden is not None:
            hidden.append(x)
        if step.cache is not None:
            step.cache.length += input_ids.shape[1]
        if not self.has_lm_head:
            return None, x
        kept = x[:, -keep:] if keep else x
        return self.lm_head(kept), x

    def check_ids(self, input_ids: torch.Tensor, context_needed: int | None = None) -> None:
        """Reject ids outside the vocabulary and sequences longer than the context."""
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be [batch, length], got shape {list(input_ids.shape)}"
            )
        if input_ids.shape[0] == 0:
            raise ValueError(
                f"input_ids is an empty batch (shape {list(input_ids.shape)}): "
                "give at least one sequence"
            )
        if input_ids.shape[1] == 0:
            raise ValueError("input_ids is empty: give at least one token")
        if input_ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"input_ids must hold integers, got {input_ids.dtype}")
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= self.config.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"token id {bad} is outside the vocabulary (vocab_size={self.config.vocab_size})"
            )
        length = context_needed or input_ids.shape[1]
        if length > self.config.max_positions:
            raise ValueError(
                f"{length} positions are needed but the model's context is "
                f"{self.config.max_positions} ({self.context_key} in config.json)"
            )

    context_key: ClassVar[str] = "max_position_embeddings"

    @torch.inference_mode()
    def forward(
        self,
        input_ids: torch.Tensor | Sequence[int] | Sequence[Sequence[int]],
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        logits_to_keep: int = 0,
    ) -> ModelOutput:
        """Logits and hidden states for ids [B, T]; positions default to 0..T-1 as in transformers.

        >>> # skipped: downloads or needs a loaded model (tests/models run these)
        >>> model(torch.tensor([[15496, 995]])).logits.shape  # doctest: +SKIP
        torch.Size([1, 2, 50257])
        """
        ids = as_ids(input_ids, self.device)
        self.check_ids(ids)
        B, T = ids.shape
        if position_ids is None:
            position_ids = torch.arange(T, device=ids.device).expand(B, T)
        if attention_mask is not None:
            attention_mask = torch.as_tensor(attention_mask, device=ids.device)
            if attention_mask.shape != ids.shape:
                raise ValueError(
                    f"attention_mask shape {list(attention_mask.shape)} != input_ids shape {[B, T]}"
                )
        step = make_step(None, T, attention_mask, ids.device)
        hidden: list[torch.Tensor] | None = [] if output_hidden_states else None
        logits, last = self.run(ids, position_ids, step, keep=logits_to_keep, hidden=hidden)
        return ModelOutput(logits, last, tuple(hidden) if hidden is not None else None)

    # ---- text-level helpers -------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        """toklm's Hugging Face tokenizer from the checkpoint directory (loaded on first use)."""
        if self._tokenizer is None:
            if self.checkpoint_dir is None:
                raise ValueError("this model was not loaded from a directory; pass a tokenizer")
            from toklm.hf import Tokenizer

            self._tokenizer = Tokenizer.from_pretrained(self.checkpoint_dir)
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        self._tokenizer = value

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    @torch.inference_mode()
    def log_likelihood(
        self, text_or_ids: str | Sequence[int] | torch.Tensor, *, stride: int | None = None
    ) -> LogLikelihood:
        """Log-likelihood of a text (or ids) under the model, with sliding windows past the
        context (transformers' perplexity recipe: each window scores its last `stride` tokens).

        >>> # skipped: downloads or needs a loaded model (tests/models run these)
        >>> model.log_likelihood("Hello world").perplexity  # doctest: +SKIP
        """
        ids = self.encode_text(text_or_ids) if isinstance(text_or_ids, str) else text_or_ids
        seq = as_ids(ids, self.device)
        if seq.shape[0] != 1:
            raise ValueError("log_likelihood scores one sequence at a time")
        n = seq.shape[1]
        window = self.config.max_positions
        stride = stride or window
        if not 0 < stride <= window:
            raise ValueError(f"stride must be in 1..{window}, got {stride}")
        total, count, prev_end = 0.0, 0, 0
        for begin in range(0, max(n - 1, 1), stride):
            end = min(begin + window, n)
            chunk = seq[:, begin:end]
            logits = self.forward(chunk).logits
            assert logits is not None
            logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            targets = chunk[0, 1:]
            scored = logp.gather(1, targets[:, None])[:, 0]
            first = max(prev_end - begin - 1, 0)  # skip targets already scored by the last window
            total += float(scored[first:].sum())
            count += scored.shape[0] - first
            prev_end = end
            if end == n:
                break
        return LogLikelihood(total, count)

    def perplexity(self, text_or_ids: str | Sequence[int] | torch.Tensor, **kw: Any) -> float:
        """exp(mean negative log-likelihood per predicted token).

        >>> # skipped: downloads or needs a loaded model (tests/models run these)
        >>> model.perplexity("Hello world")  # doctest: +SKIP
        """
        return self.log_likelihood(text_or_ids, **kw).perplexity

    def generate(self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> Any:
        """transformers-compatible generation; see `toklm.models.generation.generate`.

        >>> # skipped: downloads or needs a loaded model (tests/models run these)
        >>> model.generate(torch.tensor([[15496]]), max_new_tokens=5).shape  # doctest: +SKIP
        torch.Size([1, 6])
        """
        from .generation import generate

        return generate(self, input_ids, attention_mask, **kwargs)

    def stream(self, prompt: str | Sequence[int], **kwargs: Any) -> Iterator[str]:
        """Generated text in pieces as it is produced; a piece never ends inside a character.

        >>> # skipped: downloads or needs a loaded model (tests/models run these)
        >>> "".join(model.stream("Hello", max_new_tokens=10))  # doctest: +SKIP
        """
        from .generation import stream

        return stream(self, prompt, **kwargs)


def _place(t: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`t` in `dtype` on `device`, sharing memory when nothing changes."""
    if t.dtype != dtype or t.device != device:
        return t.to(device=device, dtype=dtype)
    return t
