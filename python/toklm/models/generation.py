"""Generation with transformers' semantics (5.x `GenerationMixin._sample`), on a static KV cache.

The loop: prefill the prompt (LM head on the last position only), then per step: fp32 logits ->
logits processors (repetition penalty, then only when sampling: temperature, top-k, top-p, min-p;
transformers' formulas and order) -> argmax or one `torch.multinomial` over the batch -> finished
rows get the pad token -> stop when every row has hit an eos id or `max_length` is reached.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .inputs import as_ids
from .layers import make_step
from .loading import GENERATION_KEYS

# The logits processors live in `sampling`; their old import path (this module) still works.
from .sampling import Processor, min_p, repetition_penalty, temperature, top_k, top_p

if TYPE_CHECKING:
    from .base import CausalLM

# ---- settings -----------------------------------------------------------------------------------

_SAMPLING_ONLY = ("temperature", "top_k", "top_p", "min_p")


@dataclass
class Settings:
    max_length: int
    do_sample: bool
    temperature: float
    top_k: int | None
    top_p: float
    min_p: float | None
    repetition_penalty: float
    num_return_sequences: int
    eos: list[int]
    pad: int | None


def resolve_settings(model: CausalLM, prompt_len: int, kwargs: dict[str, Any]) -> Settings:
    """Merge call arguments over the checkpoint's generation defaults and validate them."""
    d = model.generation_defaults
    given = {k: v for k, v in kwargs.items() if v is not None}
    unknown = set(given) - {*GENERATION_KEYS, "eos_token_id", "pad_token_id"}
    if unknown:
        raise TypeError(f"generate() got unsupported argument(s): {', '.join(sorted(unknown))}")

    def get(name: str) -> Any:
        return given.get(name, getattr(d, name))

    do_sample = bool(get("do_sample"))
    # As transformers builds its processors: the repetition penalty whenever it is not 1, the
    # sampling settings only when sampling (greedy decoding ignores them, whatever they hold);
    # each is checked with the message of the transformers processor that would refuse it.
    rp = _number("repetition_penalty", get("repetition_penalty"))
    if rp != 1.0 and not rp > 0:
        raise ValueError(f"`penalty` has to be a strictly positive float, but is {rp}")
    temp, k, p, mp = 1.0, None, 1.0, None
    if do_sample:
        temp = _number("temperature", get("temperature"))
        if temp != 1.0 and not temp > 0:
            raise ValueError(
                f"`temperature` (={temp}) has to be a strictly positive float, otherwise your "
                "next token scores will be invalid."
                + (
                    " If you're looking for greedy decoding strategies, set `do_sample=False`."
                    if temp == 0.0
                    else ""
                )
            )
        k = get("top_k")
        if k is not None and k != 0 and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
            raise ValueError(f"`top_k` has to be a strictly positive integer, but is {k}")
        p = _number("top_p", get("top_p"))
        if not p < 1.0:  # transformers builds no top-p step then (nan and 1.5 included)
            p = 1.0
        elif p < 0:
            raise ValueError(f"`top_p` has to be a float > 0 and < 1, but is {p}")
        mp = get("min_p")
        if mp is not None:
            mp = _number("min_p", mp)
            if not 0 <= mp <= 1.0:
                raise ValueError(f"`min_p` has to be a float in the [0, 1] interval, but is {mp}")
    n = get("num_return_sequences")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"num_return_sequences must be a positive int, got {n!r}")
    if n > 1 and not do_sample:
        raise ValueError(
            f"num_return_sequences={n} needs do_sample=True (greedy decoding gives one sequence)"
        )
    if not do_sample:
        flagged = [f for f in _SAMPLING_ONLY if f in given]
        if flagged:
            warnings.warn(
                f"{', '.join(flagged)} only apply when do_sample=True; ignored",
                UserWarning,
                stacklevel=4,
            )

    max_new = given.get("max_new_tokens", d.max_new_tokens)
    max_len = given.get("max_length", d.max_length)
    if max_new is not None:
        if not isinstance(max_new, int) or max_new <= 0:
            raise ValueError(f"max_new_tokens must be a positive int, got {max_new!r}")
        if "max_length" in given and "max_new_tokens" in given:
            warnings.warn(
                f"both max_new_tokens (={max_new}) and max_length (={max_len}) are set; "
                "max_new_tokens takes precedence",
                UserWarning,
                stacklevel=4,
            )
        max_len = prompt_len + max_new
    elif max_len is None:  # transformers' default: 20 new tokens, capped at the context size
        max_len = min(prompt_len + 20, model.config.max_positions)
    elif not isinstance(max_len, int) or max_len <= 0:
        raise ValueError(f"max_length must be a positive int, got {max_len!r}")
    if prompt_len >= max_len:
        raise ValueError(
            f"the prompt has {prompt_len} tokens but max_length is {max_len}: "
            "increase max_length or, better, set max_new_tokens"
        )
    if max_len > model.config.max_positions:
        raise ValueError(
            f"max_length {max_len} exceeds the model's context of {model.config.max_positions} "
            f"positions ({model.context_key} in config.json); lower max_new_tokens"
        )

    eos = given.get("eos_token_id", d.eos_token_id)
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    for e in eos:
        if not isinstance(e, int) or not 0 <= e:
            raise ValueError(f"eos_token_id must hold non-negative ints, got {e!r}")
    pad = given.get("pad_token_id", d.pad_token_id)
    if pad is None and eos:
        pad = eos[0]
    return Settings(max_len, do_sample, temp, k or None, p, mp, rp, n, eos, pad)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def build_processors(s: Settings, ignore_lengths: torch.Tensor | None) -> list[Processor]:
    """The processors transformers' `_get_logits_processor` builds for these settings, in order."""
    procs: list[Processor] = []
    if s.repetition_penalty != 1.0:
        procs.append(
            lambda ids, x: repetition_penalty(ids, x, s.repetition_penalty, ignore_lengths)
        )
    if s.do_sample:
        if s.temperature != 1.0:
            procs.append(lambda ids, x: temperature(x, s.temperature))
        if s.top_k:
            procs.append(lambda ids, x: top_k(x, s.top_k))  # type: ignore[arg-type]
        if s.top_p < 1.0:
            procs.append(lambda ids, x: top_p(x, s.top_p))
        if s.min_p is not None:
            procs.append(lambda ids, x: min_p(x, s.min_p))  # type: ignore[arg-type]
    return procs


# ---- the loop -----------------------------------------------------------------------------------


@dataclass
class GenerateOutput:
    """`sequences` [B*n, length]; per generated step, `scores` (after processors) and `logits`
    (raw), each [B*n, V] fp32, when requested."""

    sequences: torch.Tensor
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None


def pad_left(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad ragged rows: (ids [B, T], attention_mask [B, T]).

    >>> pad_left([[5, 6], [7]], 0)
    (tensor([[5, 6],
            [0, 7]]), tensor([[1, 1],
            [0, 1]]))
    """
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad, dtype=torch.int64)
    mask = torch.zeros((len(rows), T), dtype=torch.int64)
    for i, r in enumerate(rows):
        if r:
            ids[i, T - len(r) :] = torch.as_tensor(list(r), dtype=torch.int64)
            mask[i, T - len(r) :] = 1
    return ids, mask


class _Run:
    """State of one generate() call; `steps()` yields each step's new tokens [B]."""

    def __init__(
        self,
        model: CausalLM,
        input_ids: Any,
        attention_mask: Any,
        seed: int | None,
        output_scores: bool,
        output_logits: bool,
        kwargs: dict[str, Any],
    ) -> None:
        device = model.device
        if isinstance(input_ids, Mapping):  # a tokenizer's output passed as one argument
            if attention_mask is None:
                attention_mask = input_ids.get("attention_mask")
            input_ids = input_ids["input_ids"]
        ragged = attention_mask is None and _is_ragged(input_ids)
        prompt_len = max(map(len, input_ids)) if ragged else as_ids(input_ids, device).shape[1]
        self.settings = s = resolve_settings(model, prompt_len, kwargs)
        if ragged:
            ids, attention_mask = pad_left(input_ids, s.pad if s.pad is not None else 0)
        else:
            ids = as_ids(input_ids, device)
        ids = ids.to(device)
        model.check_ids(ids, s.max_length)
        if attention_mask is None:
            # transformers infers the mask only when pad is in the input and differs from eos.
            infer = s.pad is not None and bool((ids == s.pad).any()) and s.pad not in s.eos
            mask = (ids != s.pad).long() if infer else torch.ones_like(ids)
        else:
            mask = torch.as_tensor(attention_mask, device=device).long()
            if mask.shape != ids.shape:
                raise ValueError(
                    f"attention_mask shape {list(mask.shape)} != input_ids shape {list(ids.shape)}"
                )
        if ids.shape[0] > 1 and bool((mask[:, -1] == 0).any()):
            warnings.warn(
                "right padding detected: decoder-only models need left padding "
                "(padding_side='left') for correct results",
                UserWarning,
                stacklevel=4,
            )
        n = s.num_return_sequences
        if n > 1:  # rows p0,p0,p1,p1 (repeat_interleave), as transformers orders them
            ids, mask = ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
        self.model, self.ids, self.device = model, ids, device
        self.padded = not bool(mask.all())
        self.mask = mask if self.padded else None
        ignore = (mask != 0).int().argmax(dim=1) if self.padded else None
        self.processors = build_processors(s, ignore)
        self.generator = (
            torch.Generator(device=device).manual_seed(seed) if seed is not None else None
        )
        self.scores: list[torch.Tensor] | None = [] if output_scores else None
        self.raw_logits: list[torch.Tensor] | None = [] if output_logits else None
        B, T = ids.shape
        self.tokens = torch.empty(B, s.max_length, dtype=torch.int64, device=device)
        self.tokens[:, :T] = ids
        self.length = T
        # transformers derives positions from the mask: cumsum - 1 (pads at 0), then +1 per step.
        self.positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        self.next_position = mask.sum(-1, keepdim=True)  # [B, 1]

    @torch.inference_mode()
    def steps(self) -> Iterator[torch.Tensor]:
        s, model = self.settings, self.model
        B, T = self.ids.shape
        cache = model.new_cache(B, s.max_length)
        step = make_step(cache, T, self.mask, self.device)
        logits, _ = model.run(self.ids, self.positions, step, keep=1)
        assert logits is not None
        eos = torch.tensor(s.eos, device=self.device) if s.eos else None
        unfinished = torch.ones(B, dtype=torch.bool, device=self.device)
        pad = torch.tensor(s.pad if s.pad is not None else 0, device=self.device)
        while True:
            raw = logits[:, -1].to(copy=True, dtype=torch.float32)  # [B, V]
            nxt = self.next_tokens(raw, _multinomial, unfinished if eos is not None else None, pad)
            yield nxt
            if eos is not None:
                unfinished &= ~torch.isin(nxt, eos)
            if self.length >= s.max_length or not bool(unfinished.any()):
                return
            step = make_step(cache, 1, None, self.device)
            logits, _ = model.run(nxt[:, None], self.next_position, step, keep=1)
            self.next_position = self.next_position + 1

    def next_tokens(
        self,
        raw: torch.Tensor,
        sample: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor],
        unfinished: torch.Tensor | None,
        pad: torch.Tensor,
    ) -> torch.Tensor:
        """One step's tokens [B] from its raw fp32 logits [B, V]: the processors, then greedy
        or `sample(probs, generator)`; rows no longer `unfinished` get `pad`. Recorded in
        `tokens` (and `scores` / `raw_logits` when asked for)."""
        scores = raw
        seen = self.tokens[:, : self.length]
        for proc in self.processors:
            scores = proc(seen, scores)
        if self.scores is not None:
            self.scores.append(scores)
        if self.raw_logits is not None:
            self.raw_logits.append(raw)
        if self.settings.do_sample:
            nxt = sample(torch.softmax(scores, dim=-1), self.generator)
        else:
            nxt = torch.argmax(scores, dim=-1)
        if unfinished is not None:
            nxt = torch.where(unfinished, nxt, pad)
        self.tokens[:, self.length] = nxt
        self.length += 1
        return nxt

    def output(self, return_dict: bool) -> torch.Tensor | GenerateOutput:
        seqs = self.tokens[:, : self.length]
        if not return_dict:
            return seqs
        return GenerateOutput(
            seqs,
            tuple(self.scores) if self.scores is not None else None,
            tuple(self.raw_logits) if self.raw_logits is not None else None,
        )


def _multinomial(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def decode_steps(run: _Run, use_cuda_graphs: bool, every_token: bool) -> Iterator[torch.Tensor]:
    """The eager loop, or on CUDA (unless opted out) the captured one; `every_token`: the caller
    reads each token at once (streaming), so the captured loop checks eos at every step."""
    if use_cuda_graphs and run.device.type == "cuda":
        from .cuda_graphs import graph_steps

        return graph_steps(run, sync_every=1 if every_token else None)
    return run.steps()


def _is_ragged(ids: Any) -> bool:
    if isinstance(ids, torch.Tensor) or not isinstance(ids, (list, tuple)) or not ids:
        return False
    if not all(isinstance(r, (list, tuple)) for r in ids):
        return False
    return len({len(r) for r in ids}) > 1


def generate(
    model: CausalLM,
    input_ids: Any,
    attention_mask: Any = None,
    *,
    seed: int | None = None,
    output_scores: bool = False,
    output_logits: bool = False,
    return_dict_in_generate: bool = False,
    streamer: Any = None,
    use_cuda_graphs: bool = True,
    **kwargs: Any,
) -> torch.Tensor | GenerateOutput:
    """Generate like transformers' `model.generate` (greedy or multinomial sampling).

    Keyword arguments: max_length, max_new_tokens, do_sample, temperature, top_k, top_p, min_p,
    repetition_penalty, num_return_sequences, eos_token_id (int or list), pad_token_id. `seed`
    draws from a private generator seeded like `torch.manual_seed(seed)` would seed the global
    one (so results equal transformers' after `torch.manual_seed(seed)`); without it the global
    RNG is used. Ragged lists of ids are left-padded. `streamer` gets `put(ids)`/`end()` calls.
    On CUDA the decode steps are captured and replayed (`cuda_graphs.py`) unless
    `use_cuda_graphs=False`; on the CPU the flag has no effect.

    >>> # skipped: `model` stands for a loaded model (tests/models run these)
    >>> generate(model, [[15496, 995]], max_new_tokens=3).shape  # doctest: +SKIP
    torch.Size([1, 5])
    """
    if input_ids is None:
        raise ValueError("generate() needs input_ids")
    run = _Run(model, input_ids, attention_mask, seed, output_scores, output_logits, kwargs)
    if streamer is not None:
        streamer.put(run.ids.cpu())
    for nxt in decode_steps(run, use_cuda_graphs, every_token=streamer is not None):
        if streamer is not None:
            streamer.put(nxt.cpu())
    if streamer is not None:
        streamer.end()
    return run.output(return_dict_in_generate)


class TextPieces:
    """Turns a growing list of token ids into text pieces that never end inside a character.

    The window of undecoded-context tokens restarts after a newline, like transformers'
    TextStreamer, so decoding stays cheap on long outputs.
    """

    def __init__(self, tokenizer: Any, **decode_kwargs: Any) -> None:
        self.tokenizer, self.decode_kwargs = tokenizer, decode_kwargs
        self.window: list[int] = []
        self.printed = 0

    def push(self, token: int) -> str:
        self.window.append(token)
        text = self.tokenizer.decode(self.window, **self.decode_kwargs)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for its next bytes
            return ""
        piece = text[self.printed :]
        if text.endswith("\n"):
            self.window, self.printed = [], 0
        else:
            self.printed = len(text)
        return piece

    def flush(self) -> str:
        text = self.tokenizer.decode(self.window, **self.decode_kwargs) if self.window else ""
        piece = text[self.printed :]
        self.window, self.printed = [], 0
        return piece


class TextStream:
    """Iterator over the generated text (not the prompt), piece by piece, for one sequence.

    `generated` holds the new token ids so far; `prompt_ids` the prompt.

    >>> # skipped: `model` stands for a loaded model (tests/models run these)
    >>> "".join(TextStream(model, "Hello", max_new_tokens=8))  # doctest: +SKIP
    """

    def __init__(
        self,
        model: CausalLM,
        prompt: str | Sequence[int],
        *,
        tokenizer: Any = None,
        skip_special_tokens: bool = True,
        seed: int | None = None,
        use_cuda_graphs: bool = True,
        **kwargs: Any,
    ) -> None:
        tok = tokenizer if tokenizer is not None else model.tokenizer
        self.prompt_ids = list(tok.encode(prompt)) if isinstance(prompt, str) else list(prompt)
        run = _Run(model, [self.prompt_ids], None, seed, False, False, kwargs)
        if run.ids.shape[0] != 1:
            raise ValueError("stream() produces one sequence; use generate() for several")
        self.generated: list[int] = []
        # toklm's tokenizer decodes incrementally at O(1) per token; others re-decode a window.
        if hasattr(tok, "decode_stream"):
            decoder = tok.decode_stream(skip_special_tokens=skip_special_tokens)
            self._push, self._flush = decoder.step, decoder.flush
        else:
            pieces = TextPieces(tok, skip_special_tokens=skip_special_tokens)
            self._push, self._flush = pieces.push, pieces.flush
        self._iter = self._run(run, use_cuda_graphs)

    def _run(self, run: _Run, use_cuda_graphs: bool) -> Iterator[str]:
        eos = set(run.settings.eos)
        for nxt in decode_steps(run, use_cuda_graphs, every_token=True):
            token = int(nxt[0])
            self.generated.append(token)
            piece = self._push(token)
            if piece:
                yield piece
            if token in eos:
                break
        rest = self._flush()
        if rest:
            yield rest

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        return next(self._iter)


def stream(model: CausalLM, prompt: str | Sequence[int], **kwargs: Any) -> TextStream:
    """Yield the generated text piece by piece (see `TextStream`)."""
    return TextStream(model, prompt, **kwargs)


def generate_static(
    model: CausalLM,
    input_ids: Any,
    attention_mask: Any = None,
    *,
    capture: bool | None = None,
    sync_every: int | None = None,
    window_block: int | None = None,
    seed: int | None = None,
    output_scores: bool = False,
    output_logits: bool = False,
    return_dict_in_generate: bool = False,
    **kwargs: Any,
) -> Any:
    """`generate()` (same arguments and results) through `cuda_graphs.DecodeRunner`, on any device:
    `capture=False` runs the static-buffer step eagerly, which is how it is checked on a CPU.

    >>> # skipped: needs a CUDA device (tests/models/test_cuda.py)
    >>> generate_static(model, [[15496, 995]], max_new_tokens=3, capture=False)  # doctest: +SKIP
    tensor([[15496,   995,    11,   290,   262]])
    """
    from .cuda_graphs import WINDOW_BLOCK, graph_steps

    run = _Run(model, input_ids, attention_mask, seed, output_scores, output_logits, kwargs)
    block = WINDOW_BLOCK if window_block is None else window_block
    for _ in graph_steps(run, sync_every=sync_every, capture=capture, window_block=block):
        pass
    return run.output(return_dict_in_generate)
