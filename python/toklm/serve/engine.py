"""The bridge between the asyncio app and the batching engine's thread: per-choice text with
stop strings, and the events of all choices of one HTTP request as one async stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from toklm.models.batching import (
    BatchEngine,
    Event,
    Finish,
    QueueFull,
    Request,
    SamplingParams,
    TokenEvent,
)

from .metrics import Metrics


class ApiError(Exception):
    """An error answered as OpenAI's `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    @property
    def type(self) -> str:
        return {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            413: "invalid_request_error",
            429: "rate_limit_error",
        }.get(self.status, "server_error")

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.status,
            }
        }


def token_bytes(tokenizer: Any, token: int) -> bytes:
    """The bytes of one token; empty for ids the tokenizer does not have (a model's vocabulary
    is often padded past the tokenizer's, and sampling may pick those rows)."""
    try:
        return bytes(tokenizer.decode_single_token_bytes(token))
    except ValueError:
        return b""


class TextState:
    """Incremental text of one choice; holds back what could be the start of a stop string.

    >>> class Chars:
    ...     def decode_stream(self, skip_special_tokens=True): return self
    ...     def step(self, token): return chr(token)
    ...     def flush(self): return ""
    >>> state = TextState(Chars(), ["END"])
    >>> [state.push(ord(c)) for c in "abEND"]  # "EN" could start "END": held back
    [('', False), ('', False), ('a', False), ('b', False), ('', True)]
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str]) -> None:
        self.decoder = tokenizer.decode_stream(skip_special_tokens=True)
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.pending = ""
        self.done = False

    def push(self, token: int) -> tuple[str, bool]:
        """(text now safe to emit, whether a stop string ended the text)."""
        try:
            self.pending += self.decoder.step(token)
        except ValueError:  # an id past the tokenizer's vocabulary (padded embedding rows)
            pass
        return self._release(final=False)

    def finish(self) -> str:
        self.pending += self.decoder.flush()
        return self._release(final=True)[0]

    def _release(self, final: bool) -> tuple[str, bool]:
        hits = [i for s in self.stops if (i := self.pending.find(s)) >= 0]
        if hits:
            out, self.pending, self.done = self.pending[: min(hits)], "", True
            return out, True
        cut = len(self.pending) if final else max(len(self.pending) - self.hold, 0)
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False


@dataclass
class Delta:
    """New text of choice `index`, the tokens behind it, and why it ended (None: not yet)."""

    index: int
    text: str = ""
    tokens: list[TokenEvent] = field(default_factory=list)
    finish_reason: str | None = None


FINISH_REASONS = {"stop": "stop", "length": "length", "cancelled": "abort"}


class Generation:
    """All choices of one HTTP request, submitted to the engine on creation (ApiError 400 for bad
    settings, 429 when the queue is full); choice i is prompt i // n, sample i % n, seeded with
    seed + i % n. Call from the event loop."""

    def __init__(
        self,
        engine: BatchEngine,
        tokenizer: Any,
        metrics: Metrics,
        prompts: Sequence[list[int]],
        n: int,
        params: SamplingParams,
        stops: Sequence[str],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        self.metrics, self.n = metrics, n
        self.started = time.perf_counter()
        self.closed = False
        self.first: dict[int, float] = {}
        total, most = len(prompts) * n, engine.max_batch + engine.max_queue
        if total > most:
            raise ApiError(
                400,
                f"{len(prompts)} prompt(s) x n={n} = {total} sequences; this server takes at "
                f"most {most} at once (--max-batch + --max-queue)",
                "n",
            )
        requests = []
        try:
            for i, prompt in enumerate(prompts):
                for j in range(n):
                    seed = None if params.seed is None else params.seed + j
                    p = replace(params, seed=seed)
                    requests.append(engine.make_request(prompt, p, self._listener(i * n + j)))
        except ValueError as e:
            raise ApiError(400, str(e)) from e
        try:
            engine.submit_all(requests)
        except QueueFull as e:
            raise ApiError(429, f"the server is busy: {e}; retry later") from e
        self.requests = requests
        self.prompt_tokens = sum(len(p) for p in prompts)
        self.texts = [TextState(tokenizer, stops) for _ in requests]

    @property
    def completion_tokens(self) -> int:
        return sum(len(r.generated) for r in self.requests)

    def _listener(self, index: int) -> Callable[[Request, Event], None]:
        def listen(req: Request, event: Event) -> None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (index, event))

        return listen

    async def deltas(
        self, disconnected: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[Delta]:
        """Each choice's text as the engine produces tokens. Leaving early (client gone,
        consumer cancelled) cancels what is still running, which frees its rows."""
        left = len(self.requests)
        checked = time.perf_counter()
        try:
            while left:
                index, event = -1, None
                try:
                    index, event = await asyncio.wait_for(self.queue.get(), 1.0)
                except TimeoutError:
                    pass
                if disconnected is not None and time.perf_counter() - checked >= 1.0:
                    checked = time.perf_counter()
                    if await disconnected():  # a non-streamed request's client went away
                        return
                if event is None:
                    continue
                state, req = self.texts[index], self.requests[index]
                if state.done:
                    continue
                if isinstance(event, TokenEvent):
                    self.first.setdefault(index, time.perf_counter())
                    if event.token in req.stop_ids:
                        continue  # a stop token ends the text without appearing in it
                    text, stopped = state.push(event.token)
                    if stopped:
                        req.cancel()
                        left -= 1
                        yield Delta(index, text, [event], "stop")
                    elif text or req.params.logprobs is not None:
                        yield Delta(index, text, [event])
                else:
                    assert isinstance(event, Finish)
                    if event.reason == "error":
                        raise ApiError(500, f"generation failed: {event.error}")
                    state.done = True
                    left -= 1
                    yield Delta(index, state.finish(), [], FINISH_REASONS[event.reason])
        finally:
            self.close()

    def close(self) -> None:
        """Cancel what still runs and count the request in the metrics (once)."""
        if self.closed:
            return
        self.closed = True
        now = time.perf_counter()
        for i, req in enumerate(self.requests):
            req.cancel()
            ttft = self.first[i] - self.started if i in self.first else None
            prompt = len(req.prompt) if i % self.n == 0 else 0
            self.metrics.count_generation(prompt, len(req.generated), ttft, now - self.started)
