"""What the routes share: the model, its tokenizer and chat template, the batching engine, and
checks of prompts against the context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toklm.models.batching import BatchEngine, SamplingParams

from .chat import ChatTemplate, ChatTemplateError, find_chat_template
from .engine import ApiError
from .metrics import Metrics
from .protocol import Prompt, Sampling


@dataclass
class ServeConfig:
    """`toklm serve` settings (see the CLI's --help)."""

    model_name: str
    api_key: str | None = None
    max_batch: int = 16
    max_queue: int = 64
    max_tokens: int | None = None  # cap on max_tokens; None = the context
    chat_template: str | None = None  # a template file overriding the checkpoint's
    max_body_bytes: int = 4 << 20
    max_model_len: int | None = None  # positions per sequence (KV cache size); None = context
    prefills_per_step: int = 2  # prompts prefilled per decode step at most


class ModelService:
    """One loaded model served through a `BatchEngine` (started by `start()`)."""

    def __init__(self, model: Any, config: ServeConfig, tokenizer: Any = None) -> None:
        self.model, self.config = model, config
        self.tokenizer = tokenizer if tokenizer is not None else model.tokenizer
        self.engine = BatchEngine(
            model,
            max_batch=config.max_batch,
            max_queue=config.max_queue,
            max_length=config.max_model_len,
            prefills_per_step=config.prefills_per_step,
        )
        self.context = self.engine.max_length
        self.metrics = Metrics(
            {
                "toklm_queue_depth": ("Requests waiting for a batch row.", self._queue_depth),
                "toklm_running_requests": ("Sequences in the running batch.", self._running),
            }
        )
        source = find_chat_template(model.checkpoint_dir, config.chat_template)
        specials = {
            name: value
            for name, value in getattr(self.tokenizer, "special_tokens_map", {}).items()
            if isinstance(value, str)
        }
        self.template = ChatTemplate(source, specials) if source is not None else None

    def _queue_depth(self) -> float:
        return self.engine.queue_depth

    def _running(self) -> float:
        return self.engine.running

    def start(self) -> None:
        self.engine.start()

    def stop(self) -> None:
        self.engine.stop()

    # ---- checks -------------------------------------------------------------------------------
    def check_model(self, name: str | None) -> None:
        if name is not None and name != self.config.model_name:
            raise ApiError(
                404,
                f"the model {name!r} does not exist; this server serves {self.config.model_name!r}",
                "model",
            )

    def prompt_ids(self, prompt: Prompt) -> tuple[list[list[int]], list[str | None]]:
        """(token ids, original text or None) per prompt of a completion request."""
        if isinstance(prompt, str):
            prompts: list[Any] = [prompt]
        elif prompt and all(isinstance(p, int) for p in prompt):
            prompts = [prompt]
        else:
            prompts = list(prompt)
        if not prompts:
            raise ApiError(400, "prompt is empty", "prompt")
        ids: list[list[int]] = []
        texts: list[str | None] = []
        for p in prompts:
            if isinstance(p, str):
                ids.append(list(self.tokenizer.encode(p)))
                texts.append(p)
            else:
                ids.append(list(p))
                texts.append(None)
        for row in ids:
            self.check_prompt(row)
        return ids, texts

    def check_prompt(self, ids: list[int]) -> None:
        if not ids:
            raise ApiError(400, "the prompt has no tokens", "prompt")
        bad = next((t for t in ids if not 0 <= t < self.model.config.vocab_size), None)
        if bad is not None:
            raise ApiError(
                400,
                f"token id {bad} is outside the vocabulary "
                f"(vocab_size={self.model.config.vocab_size})",
                "prompt",
            )
        if len(ids) >= self.context:
            raise ApiError(
                400,
                f"the prompt has {len(ids)} tokens but the model's context is {self.context} "
                "tokens (room is needed for at least one new token)",
                "prompt",
            )

    def chat_prompt(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        if self.template is None:
            raise ApiError(
                400,
                "this model has no chat template (no chat_template in tokenizer_config.json); "
                "use /v1/completions, or start the server with --chat-template FILE",
                "messages",
            )
        try:
            return self.template.render(messages, add_generation_prompt)
        except ChatTemplateError as e:
            raise ApiError(400, str(e), "messages") from e

    def sampling(
        self, req: Sampling, prompts: list[list[int]], max_tokens: int | None, logprobs: int | None
    ) -> SamplingParams:
        """Engine settings for a request; max_tokens is capped at what the context leaves (and
        --max-tokens), defaulting to that cap."""
        room = self.context - max(len(p) for p in prompts)
        cap = min(room, self.config.max_tokens or room)
        wanted = cap if max_tokens is None else min(max_tokens, cap)
        temperature = 1.0 if req.temperature is None else req.temperature
        eos = self.model.generation_defaults.eos_token_id
        top_k = req.top_k if req.top_k is not None and req.top_k > 0 else 0
        return SamplingParams(
            max_new_tokens=wanted,
            temperature=temperature,
            top_k=top_k,
            top_p=1.0 if req.top_p is None else req.top_p,
            min_p=req.min_p or None,
            repetition_penalty=req.repetition_penalty or 1.0,
            seed=req.seed,
            stop_token_ids=[*([] if req.ignore_eos else eos), *(req.stop_token_ids or [])],
            logprobs=logprobs,
        )
