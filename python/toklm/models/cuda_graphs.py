"""Captured decode steps for CUDA: the step recorded once as a `torch.cuda.CUDAGraph`, replayed.

On a GPU one decode step of a small model is a few hundred short kernels; launching them one by
one from Python takes longer than running them, so batch-1 decode reads the weights at a few per
cent of the memory bandwidth. gpt-fast's recipe removes that overhead, and this file follows it
with `torch.cuda.CUDAGraph` directly:

- fixed shapes: the batch is padded up to a bucket (1, 2, 4, 8, ...: `batch_bucket`); the KV cache
  has a fixed capacity (`capacity_bucket`); a step attends over a window of the cache, its used
  length rounded up to `WINDOW_BLOCK` positions (`window_bucket`), masked beyond the current slot.
  One graph per window, captured the first time a step needs it, kept for later calls;
- the inputs are static device buffers the host copies into: the token [Bb, 1], each row's
  position [Bb, 1] and the cache slot [1]; the KV cache itself is a static buffer too;
- the logits land in a static fp32 buffer; right after the replay the logits processors (the
  same functions as the eager loop, so the same numbers for the same logits) and the sampler run
  as torch ops on the device. `sample_no_sync` draws exactly what `torch.multinomial` draws, without
  its checks of the probabilities (a host sync in older torch), so nothing waits for the device;
- the host waits for the device only every `sync_every` steps to see whether every row has met an
  eos id (the output is then cut where the eager loop would have stopped), or every step when the
  tokens are streamed.

The prompt is prefilled eagerly (SDPA) on the real rows into a cache of its own, exactly as the
eager loop does, then copied into the runner's cache. With `capture=False` the runner runs the
very same static-buffer step eagerly: that is how the tests check this file on a CPU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from .layers import KVCache, Step, make_step

if TYPE_CHECKING:
    from .base import CausalLM
    from .generation import _Run

__all__ = [
    "DecodeRunner",
    "batch_bucket",
    "capacity_bucket",
    "graph_steps",
    "release_decode_runners",
    "runner_for",
    "sample_no_sync",
    "window_bucket",
]

CAPACITY_BLOCK = 256  # KV cache capacities are multiples of this (capped at the context)
WINDOW_BLOCK = 64  # a step attends over the used cache rounded up to this many positions
SYNC_EVERY = 16  # eos check interval (host waits for the device) when nothing is streamed
MAX_RUNNERS = 2  # runners kept per model (each holds a KV cache and its graphs)


# ---- shapes ------------------------------------------------------------------------------------


def _round_up(n: int, block: int) -> int:
    return -(-n // block) * block


def batch_bucket(batch: int) -> int:
    """The batch a captured step runs with for `batch` rows: the next power of two.

    >>> [batch_bucket(b) for b in (1, 2, 3, 8, 9, 33)]
    [1, 2, 4, 8, 16, 64]
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    return 1 << (batch - 1).bit_length()


def capacity_bucket(max_length: int, max_positions: int, block: int = CAPACITY_BLOCK) -> int:
    """KV cache positions for sequences of up to `max_length` tokens: a multiple of `block`,
    at most the model's context `max_positions`.

    >>> capacity_bucket(144, 2048), capacity_bucket(1000, 1024), capacity_bucket(48, 48)
    (256, 1024, 48)
    """
    if not 0 < max_length <= max_positions:
        raise ValueError(f"max_length must be in 1..{max_positions}, got {max_length}")
    return min(_round_up(max_length, block), max_positions)


def window_bucket(used: int, capacity: int, block: int = WINDOW_BLOCK) -> int:
    """Cache positions a step attends over when the first `used` ones hold keys (the new token's
    included): `used` rounded up to `block`, at most `capacity`.

    >>> [window_bucket(n, 256) for n in (1, 64, 65, 250)]
    [64, 64, 128, 256]
    """
    if not 0 < used <= capacity:
        raise ValueError(f"used must be in 1..{capacity}, got {used}")
    return min(_round_up(used, block), capacity)


# ---- sampling ----------------------------------------------------------------------------------


def sample_no_sync(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of `probs` [B, V], the very draw `torch.multinomial(probs, 1,
    generator=generator)[:, 0]` makes: for one sample it takes argmax(probs / Exp(1) noise) after
    checking the probabilities (on the host in older torch versions, with device asserts in newer
    ones). This skips the checks: no host wait, fewer kernels.

    >>> probs = torch.tensor([[0.1, 0.6, 0.3], [0.0, 0.0, 1.0]])
    >>> ref = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(0))[:, 0]
    >>> torch.equal(sample_no_sync(probs, torch.Generator().manual_seed(0)), ref)
    True
    """
    noise = torch.empty_like(probs).exponential_(1, generator=generator)
    return torch.argmax(probs / noise, dim=-1)


# ---- the runner --------------------------------------------------------------------------------


class DecodeRunner:
    """A model's decode step with fixed shapes: `batch` rows (a bucket), a KV cache of `capacity`
    positions, static input buffers, one captured graph per attention window.

    >>> # skipped: needs a CUDA device (tests/models/test_cuda.py)
    >>> runner = DecodeRunner(model, batch=1, capacity=256, capture=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: CausalLM,
        batch: int,
        capacity: int,
        *,
        capture: bool,
        window_block: int = WINDOW_BLOCK,
    ) -> None:
        dev = model.device
        if capture and dev.type != "cuda":
            raise ValueError(f"CUDA graphs need a model on a CUDA device; this one is on {dev}")
        self.model, self.batch, self.capacity = model, batch, capacity
        self.capture, self.window_block = capture, window_block
        self.cache = model.new_cache(batch, capacity)
        self.cache.k.zero_()  # rows past the real batch are computed too: keep them finite
        self.cache.v.zero_()
        self.token = torch.zeros(batch, 1, dtype=torch.int64, device=dev)
        self.position = torch.zeros(batch, 1, dtype=torch.int64, device=dev)
        self.slot = torch.zeros(1, dtype=torch.int64, device=dev)
        self.key_positions = torch.arange(capacity, device=dev)
        self.logits = torch.zeros(batch, model.config.vocab_size, device=dev)  # fp32
        self.graphs: dict[int, Any] = {}  # window -> torch.cuda.CUDAGraph
        self.used = 0  # cache positions holding keys (the host's copy of `slot`)
        self.busy = False  # a decode is using it (its cache and buffers hold that decode's state)

    def start(self, prompt: KVCache, next_position: torch.Tensor) -> None:
        """Take over a prefilled cache of B <= batch rows (keys, values, padding) and each row's
        next position [B, 1]."""
        B, T = prompt.k.shape[1], prompt.length
        if B > self.batch or T >= self.capacity:
            raise ValueError(
                f"a prompt cache of {B} rows x {T} positions does not fit this runner "
                f"({self.batch} rows x {self.capacity} positions)"
            )
        c = self.cache
        c.k[:, :B, :, :T].copy_(prompt.k[:, :, :, :T])
        c.v[:, :B, :, :T].copy_(prompt.v[:, :, :, :T])
        c.key_valid.fill_(True)
        c.key_valid[:B, :T].copy_(prompt.key_valid[:, :T])
        c.length = T
        self.position.zero_()
        self.position[:B].copy_(next_position)
        self.token.zero_()
        self.used = T

    def _forward(self, window: int) -> None:
        """The step body, fixed shapes throughout: what a graph records."""
        c = self.cache
        visible = (self.key_positions[:window] <= self.slot) & c.key_valid[:, :window]  # [Bb, S]
        step = Step(c, 0, visible[:, None, None, :], False, write_index=self.slot)
        logits, _ = self.model.run(self.token, self.position, step, keep=1)
        assert logits is not None
        self.logits.copy_(logits[:, -1])

    def _capture(self, window: int) -> Any:
        # Warm up on a side stream first (cuBLAS and attention kernels initialise lazily, which a
        # capture must not see). The warm-up runs the real step for the current inputs, so what
        # it writes into the cache is exactly what the replay writes again.
        cuda = torch.cuda
        side = cuda.Stream(self.model.device)
        side.wait_stream(cuda.current_stream(self.model.device))
        with cuda.stream(side):
            for _ in range(2):
                self._forward(window)
        cuda.current_stream(self.model.device).wait_stream(side)
        graph = cuda.CUDAGraph()
        with cuda.graph(graph):
            self._forward(window)
        self.graphs[window] = graph
        return graph

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run tokens [B] at the next cache slot; the fp32 logits [B, V] (a view of the static
        buffer: valid until the next step)."""
        if self.used >= self.capacity:
            raise ValueError(f"the runner's KV cache is full ({self.capacity} positions)")
        B = tokens.shape[0]
        self.token[:B, 0].copy_(tokens)
        self.slot.fill_(self.used)
        self.used += 1
        window = window_bucket(self.used, self.capacity, self.window_block)
        if self.capture:
            graph = self.graphs.get(window)
            if graph is None:
                try:
                    graph = self._capture(window)
                except RuntimeError as e:
                    raise RuntimeError(
                        f"capturing the decode step as a CUDA graph failed ({e}); "
                        "generate(..., use_cuda_graphs=False) decodes without graphs"
                    ) from e
            graph.replay()
        else:
            self._forward(window)
        self.position.add_(1)
        return self.logits[:B]


def runner_for(
    model: CausalLM,
    batch: int,
    max_length: int,
    *,
    capture: bool,
    window_block: int = WINDOW_BLOCK,
) -> DecodeRunner:
    """The model's runner for `batch` rows of up to `max_length` tokens, made on first use and
    kept (the `MAX_RUNNERS` most recent) so later calls replay graphs already captured. While
    it is busy (two streams read in turn), another decode gets a runner of its own, not kept."""
    key = (
        batch_bucket(batch),
        capacity_bucket(max_length, model.config.max_positions),
        capture,
        window_block,
    )
    runners: OrderedDict[tuple[int, int, bool, int], DecodeRunner]
    runners = model.__dict__.setdefault("_decode_runners", OrderedDict())
    runner = runners.get(key)
    if runner is not None and runner.busy:
        return DecodeRunner(model, key[0], key[1], capture=capture, window_block=window_block)
    if runner is None:
        while len(runners) >= MAX_RUNNERS:
            runners.popitem(last=False)
        runner = DecodeRunner(model, key[0], key[1], capture=capture, window_block=window_block)
        runners[key] = runner
    runners.move_to_end(key)
    return runner


def release_decode_runners(model: CausalLM) -> None:
    """Drop the model's runners (their KV caches and graphs); needed after changing its weights.

    >>> # skipped: needs a CUDA device (tests/models/test_cuda.py)
    >>> release_decode_runners(model)  # doctest: +SKIP
    """
    model.__dict__.pop("_decode_runners", None)


# ---- the loop ----------------------------------------------------------------------------------


@torch.inference_mode()
def graph_steps(
    run: _Run,
    *,
    sync_every: int | None = None,
    capture: bool | None = None,
    window_block: int = WINDOW_BLOCK,
) -> Iterator[torch.Tensor]:
    """`run.steps()` (generation.py) on a `DecodeRunner`: yields each step's tokens [B] and leaves
    `run` holding what the eager loop leaves. `capture` defaults to "the model is on CUDA".

    Without streaming, steps may run past the point where every row met an eos id (at most
    `sync_every` - 1 of them); their tokens are pad and are cut from `run`'s output.
    """
    s, model, dev = run.settings, run.model, run.device
    capture = dev.type == "cuda" if capture is None else capture
    sync_every = SYNC_EVERY if sync_every is None else max(1, sync_every)
    B, T = run.ids.shape
    prompt = model.new_cache(B, T)
    logits, _ = model.run(run.ids, run.positions, make_step(prompt, T, run.mask, dev), keep=1)
    assert logits is not None
    raw = logits[:, -1].to(copy=True, dtype=torch.float32)  # [B, V]
    runner = runner_for(model, B, s.max_length, capture=capture, window_block=window_block)
    runner.start(prompt, run.next_position)
    del prompt, logits
    keep_copies = run.scores is not None or run.raw_logits is not None
    eos = torch.tensor(s.eos, device=dev) if s.eos else None
    pad = torch.tensor(s.pad if s.pad is not None else 0, device=dev)
    unfinished = torch.ones(B, dtype=torch.bool, device=dev)
    alive_steps = torch.zeros((), dtype=torch.int64, device=dev)  # steps after which a row ran
    unsynced = 0
    runner.busy = True
    try:
        while True:
            nxt = run.next_tokens(raw, sample_no_sync, unfinished if eos is not None else None, pad)
            yield nxt
            if run.length >= s.max_length:
                return
            if eos is not None:
                unfinished &= (nxt[:, None] != eos).all(dim=1)  # ~isin(nxt, eos), no host sync
                alive_steps += unfinished.any()
                unsynced += 1
                if unsynced >= sync_every:
                    unsynced = 0
                    if not bool(unfinished.any()):
                        return
            raw = runner.step(nxt)
            if keep_copies:
                raw = raw.clone()
    finally:
        runner.busy = False
        if eos is not None:  # the eager loop stops after the first step where every row is done
            generated = min(int(alive_steps) + 1, run.length - T)
            run.length = T + generated
            if run.scores is not None:
                del run.scores[generated:]
            if run.raw_logits is not None:
                del run.raw_logits[generated:]
