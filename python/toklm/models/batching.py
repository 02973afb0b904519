"""Continuous batching: requests share one batched decode step over a static KV cache.

A `BatchEngine` owns a KV cache of `max_batch` rows. Between decode steps, and between the blocks
of a step, it admits waiting requests (each prompt is prefilled alone into a free row, exactly as
`generate()` prefills); each step is one forward pass over every active row, each row at its own
position. A finished or cancelled request frees its row: the last active row moves into it, so the
active rows are always 0..n-1 and a step computes only those. Each request samples with its own
`torch.Generator`, so its output does not depend on its neighbours; greedy output equals
`model.generate()`'s.

The engine is device-agnostic (tensors live on the model's device) and runs in a thread of its
own (`start()`), in the calling thread until stopped (`run()`; `toklm serve` runs it so in its
main thread), or inline (`complete()` while no loop runs).
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .generation import Processor, Settings, build_processors, resolve_settings
from .layers import Step, make_step

if TYPE_CHECKING:
    from .base import CausalLM


class QueueFull(Exception):
    """The engine's waiting queue is at its limit; the caller should retry later (HTTP 429)."""


@dataclass
class SamplingParams:
    """One request's settings. `temperature=0` is greedy; `logprobs=N` reports the chosen
    token's log-probability and the N most likely alternatives (raw model distribution);
    `stop_token_ids=None` stops at the model's eos ids; `seed=None` draws a random seed."""

    max_new_tokens: int = 16
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop_token_ids: Sequence[int] | None = None
    ignore_eos: bool = False
    logprobs: int | None = None
    prompt_logprobs: bool = False


@dataclass
class TokenEvent:
    """A generated token, with its log-probability and top alternatives when asked for."""

    token: int
    logprob: float | None = None
    top_logprobs: list[tuple[int, float]] | None = None


@dataclass
class Finish:
    """The last event of a request: reason is "stop" (a stop token), "length" or "cancelled"."""

    reason: str
    error: str | None = None


Event = TokenEvent | Finish
Listener = Callable[["Request", Event], None]


@dataclass(eq=False)
class Request:
    """One sequence being generated; `cancel()` frees its row at the next step."""

    prompt: list[int]
    params: SamplingParams
    settings: Settings
    processors: list[Processor]
    generator: torch.Generator
    listener: Listener
    stop_ids: frozenset[int]
    generated: list[int] = field(default_factory=list)
    prompt_logprobs: list[float | None] | None = None
    # with params.logprobs = N > 0: the N most likely tokens at each prompt position (first: [])
    prompt_top_logprobs: list[list[tuple[int, float]]] | None = None
    cancelled: bool = False
    finished: bool = False
    submitted: float = field(default_factory=time.perf_counter)

    @property
    def max_new_tokens(self) -> int:
        return self.settings.max_length - len(self.prompt)

    def cancel(self) -> None:
        """Ask the engine to drop this request (thread-safe; takes effect between steps)."""
        self.cancelled = True


class BatchEngine:
    """Runs many generation requests at once on one model (see the module docstring).

    >>> # skipped: `model` stands for a loaded model (tests/models/test_batching.py)
    >>> engine = BatchEngine(model, max_batch=4)  # doctest: +SKIP
    >>> greedy = SamplingParams(max_new_tokens=5, temperature=0)
    >>> # skipped: `model` stands for a loaded model (tests/models/test_batching.py)
    >>> engine.complete([[15496, 995]], greedy)  # doctest: +SKIP
    [[11, 314, 1101, 257, 1310]]
    """

    def __init__(
        self,
        model: CausalLM,
        *,
        max_batch: int = 16,
        max_queue: int = 64,
        max_length: int | None = None,
        prefills_per_step: int = 2,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if prefills_per_step < 1:
            raise ValueError(f"prefills_per_step must be at least 1, got {prefills_per_step}")
        if max_queue < 0:
            raise ValueError(f"max_queue must be non-negative, got {max_queue}")
        self.model, self.max_batch, self.max_queue = model, max_batch, max_queue
        self.device = model.device
        context = model.config.max_positions
        if max_length is not None and not 0 < max_length <= context:
            raise ValueError(f"max_length must be in 1..{context} (the model's context)")
        # Positions per row, prompt plus generated: the cache holds max_batch rows of it.
        self.max_length = max_length or context
        self.cache = model.new_cache(max_batch, self.max_length)
        # Masked-out keys are still multiplied by 0 in attention: uninitialised memory could hold
        # NaN, which would survive that (0 * NaN). Stale values of earlier requests are finite.
        self.cache.k.zero_()
        self.cache.v.zero_()
        self.active: list[Request] = []  # row i holds active[i]
        self.waiting: collections.deque[Request] = collections.deque()
        self.tasks: collections.deque[tuple[Callable[[], Any], Future[Any]]] = collections.deque()
        self.on_step = on_step  # called with the number of rows after each decode step
        # At most this many prompts are prefilled per decode step: a running request waits for
        # at most that many prefills per token (inter-token latency), and requests that arrive
        # together are spread over steps, so they finish apart instead of all in one step and
        # their clients' next requests do not arrive together again.
        self.prefills_per_step = prefills_per_step
        self._prefills_left = prefills_per_step
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None  # the one running the loop, if any
        self._owned = False  # whether start() made it
        self._stopping = False

    # ---- submitting ---------------------------------------------------------------------------
    def make_request(
        self, prompt: Sequence[int], params: SamplingParams, listener: Listener
    ) -> Request:
        """Validate `params` for `prompt` (ValueError names the problem) and build a request."""
        model = self.model
        ids = torch.as_tensor(list(prompt), dtype=torch.int64)[None]
        p = params
        greedy = p.temperature == 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=p.max_new_tokens,
            do_sample=not greedy,
            repetition_penalty=p.repetition_penalty,
            num_return_sequences=1,
        )
        if not greedy:
            kwargs.update(temperature=p.temperature, top_k=p.top_k, top_p=p.top_p, min_p=p.min_p)
        settings = resolve_settings(model, ids.shape[1], kwargs)
        model.check_ids(ids, settings.max_length)
        if settings.max_length > self.max_length:
            raise ValueError(
                f"the prompt ({ids.shape[1]} tokens) plus max_new_tokens ({p.max_new_tokens}) "
                f"is {settings.max_length} positions; this engine holds {self.max_length}"
            )
        if p.logprobs is not None and not 0 <= p.logprobs <= 20:
            raise ValueError(f"logprobs must be in 0..20, got {p.logprobs}")
        stops = settings.eos if p.stop_token_ids is None else list(p.stop_token_ids)
        seed = p.seed if p.seed is not None else random.getrandbits(63)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        return Request(
            list(prompt),
            p,
            settings,
            build_processors(settings, None),
            generator,
            listener,
            frozenset() if p.ignore_eos else frozenset(stops),
        )

    def submit(self, request: Request) -> Request:
        """Queue a request (raises QueueFull when `max_queue` requests are already waiting)."""
        self.submit_all([request])
        return request

    def submit_all(self, requests: Sequence[Request]) -> None:
        """Queue all of `requests` or, if they do not fit, none (QueueFull). They fit when the
        free rows plus `max_queue` places cover them and the requests already waiting."""
        with self._wake:
            free = self.max_batch - len(self.active)
            if len(self.waiting) + len(requests) > self.max_queue + free:
                raise QueueFull(
                    f"{len(self.waiting)} requests are waiting for {free} free rows and the "
                    f"queue holds {self.max_queue} more"
                )
            self.waiting.extend(requests)
            self._wake.notify()

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run `fn()` in the engine's thread between steps (work that uses the model, such as
        embeddings, without racing the decode loop); its result or error arrives in the Future."""
        future: Future[Any] = Future()
        with self._wake:
            self.tasks.append((fn, future))
            self._wake.notify()
        if self._thread is None:
            self._run_tasks()
        return future

    @property
    def queue_depth(self) -> int:
        return len(self.waiting)

    @property
    def running(self) -> int:
        return len(self.active)

    # ---- running ------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the loop in a daemon thread until `stop()` (nothing if the loop already runs)."""
        with self._wake:
            if self._thread is not None:
                return
            self._stopping, self._owned = False, True
            self._thread = threading.Thread(target=self._loop, name="toklm-batching", daemon=True)
            self._thread.start()

    def run(self, started: Callable[[], None] | None = None) -> None:
        """Run the loop in the calling thread until `stop()` is called from another thread, or
        an exception (KeyboardInterrupt) ends it; `started()` runs once the loop counts as
        running (`start()` is then a no-op). Requests left are cancelled. `toklm serve` runs
        the engine so in the main thread, which loaded the model: torch's OpenMP workers of
        that thread do all the model's work (see `toklm.serve.run_server`)."""
        with self._wake:
            if self._thread is not None:
                raise RuntimeError("the engine's loop already runs")
            self._stopping, self._owned = False, False
            self._thread = threading.current_thread()
        try:
            if started is not None:
                started()
            self._loop()
        finally:
            self._thread = None

    def stop(self) -> None:
        """End the loop; waits for the thread `start()` made, not for a `run()` caller."""
        thread = self._thread
        if thread is None:
            return
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._owned and thread is not threading.current_thread():
            thread.join()
            self._thread = None

    def _loop(self) -> None:
        try:
            while True:
                with self._wake:
                    while not (self._stopping or self.waiting or self.active or self.tasks):
                        self._wake.wait()
                    if self._stopping:
                        break
                try:
                    self.step()
                except Exception as e:  # noqa: BLE001 - a failed step ends its requests only
                    for req in self.active:
                        self._finish(req, Finish("error", f"{type(e).__name__}: {e}"))
                    self.active.clear()
        finally:  # stopped, or interrupted (KeyboardInterrupt in a run() caller)
            for req in [*self.active, *self.waiting]:
                self._finish(req, Finish("cancelled", "the server is shutting down"))
            self.active.clear()
            self.waiting.clear()

    def complete(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[int]]:
        """Generate for every prompt (admitted `prefills_per_step` per step) and return the new
        token ids."""
        done = threading.Event()
        left = [len(prompts)]
        lock = threading.Lock()

        def listen(req: Request, event: Event) -> None:
            if isinstance(event, Finish):
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        done.set()

        reqs = [self.make_request(p, params, listen) for p in prompts]
        for r in reqs:
            self.submit(r)
        if self._thread is None:
            while not done.is_set():
                self.step()
        done.wait()
        return [r.generated for r in reqs]

    @torch.inference_mode()
    def step(self) -> None:
        """One iteration: pending tasks, drop cancelled rows, admit waiting requests (prefill),
        then one decode step over every active row."""
        self._run_tasks()
        for i in range(len(self.active) - 1, -1, -1):
            if self.active[i].cancelled:
                self._free(i, Finish("cancelled"))
        self._prefills_left = self.prefills_per_step
        self._admit_waiting()
        if self.active:
            self._decode()

    def _admit_waiting(self) -> None:
        """Prefill waiting requests into free rows (appended after the active ones) while rows
        are free and this step's `prefills_per_step` allows. Also runs between the blocks of a
        decode step: a request that arrives during a step gets its first token after the
        current block rather than after the whole step (time to first token), and the rows it
        takes lie past the ones being decoded."""
        while self.waiting and len(self.active) < self.max_batch and self._prefills_left:
            with self._wake:
                if not self.waiting:
                    break
                req = self.waiting.popleft()
            if req.cancelled:
                self._finish(req, Finish("cancelled"))
                continue
            self._prefills_left -= 1
            self._admit(req)

    def _run_tasks(self) -> None:
        while True:
            with self._wake:
                if not self.tasks:
                    return
                fn, future = self.tasks.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    future.set_exception(e)

    def _admit(self, req: Request) -> None:
        row = len(self.active)
        view = self.cache.rows(row, row + 1)
        ids = torch.as_tensor(req.prompt, dtype=torch.int64, device=self.device)[None]
        T = ids.shape[1]
        positions = torch.arange(T, device=self.device)[None]
        step = make_step(view, T, None, self.device)
        try:
            keep = 0 if req.params.prompt_logprobs else 1
            logits, _ = self.model.run(ids, positions, step, keep=keep)
        except Exception as e:  # noqa: BLE001 - reported to the request, the engine goes on
            self._finish(req, Finish("error", str(e)))
            return
        assert logits is not None
        if req.params.prompt_logprobs:
            logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            scored = logp.gather(1, ids[0, 1:, None])[:, 0].tolist()
            req.prompt_logprobs = [None, *scored]
            if req.params.logprobs:
                values, indices = torch.topk(logp, req.params.logprobs, dim=-1)
                req.prompt_top_logprobs = [[]] + [
                    list(zip(i, v, strict=True))
                    for i, v in zip(indices.tolist(), values.tolist(), strict=True)
                ]
        self.active.append(req)
        self._sample(row, logits[:, -1])

    def _decode(self) -> None:
        n = len(self.active)
        last = [r.generated[-1] for r in self.active]
        pos = [len(r.prompt) + len(r.generated) - 1 for r in self.active]
        ids = torch.tensor(last, dtype=torch.int64, device=self.device)[:, None]
        positions = torch.tensor(pos, dtype=torch.int64, device=self.device)[:, None]
        view = self.cache.rows(0, n)
        top = max(pos)
        if min(pos) == top:  # every row at one position: the plain cached step of generate()
            view.length = top
            step = make_step(view, 1, None, self.device)
        else:
            keys = torch.arange(top + 1, device=self.device)
            mask = (keys[None, :] <= positions)[:, None, None, :]  # [n, 1, 1, S]
            step = Step(view, top, mask, False, row_positions=positions[:, 0])
        logits, _ = self.model.run(ids, positions, step, keep=1, between_blocks=self._admit_waiting)
        assert logits is not None
        # Rows n.. (admitted between blocks) already have their first token. Backwards, because
        # freeing a row moves the last one into it; rows 0..n-1 move only within this loop.
        for row in range(n - 1, -1, -1):
            self._sample(row, logits[row : row + 1, -1])
        if self.on_step is not None:
            self.on_step(n)

    def _sample(self, row: int, logits: torch.Tensor) -> None:
        """Pick row `row`'s next token from its logits [1, V] and tell its listener."""
        req = self.active[row]
        raw = logits.to(copy=True, dtype=torch.float32)
        scores = raw
        if req.processors:
            seen = torch.as_tensor(req.prompt + req.generated, device=self.device)[None]
            for proc in req.processors:
                scores = proc(seen, scores)
        if req.settings.do_sample:
            probs = torch.softmax(scores, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=req.generator)[0, 0])
        else:
            token = int(torch.argmax(scores, dim=-1)[0])
        event = TokenEvent(token)
        if req.params.logprobs is not None:
            logp = torch.log_softmax(raw[0], dim=-1)
            event.logprob = float(logp[token])
            if req.params.logprobs:
                values, indices = torch.topk(logp, req.params.logprobs)
                event.top_logprobs = list(zip(indices.tolist(), values.tolist(), strict=True))
        req.generated.append(token)
        req.listener(req, event)
        if token in req.stop_ids:
            self._free(row, Finish("stop"))
        elif len(req.generated) >= req.max_new_tokens:
            self._free(row, Finish("length"))
        elif req.cancelled:
            self._free(row, Finish("cancelled"))

    def _free(self, row: int, finish: Finish) -> None:
        """Drop row `row`; the last active row moves into it (its cached keys/values copied)."""
        req = self.active[row]
        last = len(self.active) - 1
        if row != last:
            moved = self.active[last]
            filled = len(moved.prompt) + len(moved.generated) - 1  # positions already cached
            self.cache.k[:, row, :, :filled] = self.cache.k[:, last, :, :filled]
            self.cache.v[:, row, :, :filled] = self.cache.v[:, last, :, :filled]
            self.active[row] = moved
        self.active.pop()
        self._finish(req, finish)

    def _finish(self, req: Request, finish: Finish) -> None:
        if not req.finished:
            req.finished = True
            req.listener(req, finish)
