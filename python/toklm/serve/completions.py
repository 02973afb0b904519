"""/v1/completions and /v1/chat/completions: requests to engine settings, deltas to OpenAI's
response and stream-chunk shapes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from toklm.models.batching import TokenEvent

from .engine import Delta, Generation, token_bytes
from .protocol import ChatRequest, CompletionRequest
from .service import ModelService

Disconnected = Callable[[], Awaitable[bool]]


def _stops(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])


def _usage(gen: Generation) -> dict[str, int]:
    done = gen.completion_tokens
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": done,
        "total_tokens": gen.prompt_tokens + done,
    }


def sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class _Logprobs:
    """Legacy completions logprobs: tokens, token_logprobs, top_logprobs, text_offset."""

    def __init__(self, svc: ModelService, offset: int = 0) -> None:
        self.svc = svc
        self.tokens: list[str] = []
        self.token_logprobs: list[float | None] = []
        self.top_logprobs: list[dict[str, float] | None] = []
        self.text_offset: list[int] = []
        self.offset = offset

    def piece(self, token: int) -> str:
        return token_bytes(self.svc.tokenizer, token).decode("utf-8", "replace")

    def add(self, token: int, logprob: float | None, top: dict[str, float] | None) -> None:
        text = self.piece(token)
        self.tokens.append(text)
        self.token_logprobs.append(logprob)
        self.top_logprobs.append(top)
        self.text_offset.append(self.offset)
        self.offset += len(text)

    def add_event(self, event: TokenEvent) -> None:
        top = {self.piece(t): p for t, p in event.top_logprobs or []}
        self.add(event.token, event.logprob, top)

    def body(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        }


async def completion(
    svc: ModelService, body: CompletionRequest, disconnected: Disconnected
) -> dict[str, Any] | AsyncIterator[str]:
    svc.check_model(body.model)
    prompts, texts = svc.prompt_ids(body.prompt)
    params = svc.sampling(body, prompts, body.max_tokens, body.logprobs)
    params.prompt_logprobs = body.echo and body.logprobs is not None
    gen = Generation(
        svc.engine, svc.tokenizer, svc.metrics, prompts, body.n, params, _stops(body.stop)
    )
    rid, created, name = f"cmpl-{uuid.uuid4().hex}", int(time.time()), svc.config.model_name
    n, count = body.n, len(gen.requests)
    want_logprobs = body.logprobs is not None

    def echoed(index: int, lp: _Logprobs) -> str:
        """The prompt text (and its logprobs into `lp`) of choice `index`, when echo is on."""
        if not body.echo:
            return ""
        req = gen.requests[index]
        tops = req.prompt_top_logprobs or [[] for _ in req.prompt]
        for token, value, top in zip(req.prompt, req.prompt_logprobs or [], tops, strict=False):
            alternatives = {lp.piece(t): p for t, p in top}
            lp.add(token, value, None if value is None else alternatives)
        text = texts[index // n]
        return text if text is not None else str(svc.tokenizer.decode(req.prompt))

    def generated(index: int, delta: Delta, lp: _Logprobs) -> None:
        for event in delta.tokens:
            if event.token not in gen.requests[index].stop_ids:
                lp.add_event(event)

    if not body.stream:
        text = [""] * count
        reasons: list[str | None] = [None] * count
        parts: list[_Logprobs] = [_Logprobs(svc) for _ in range(count)]
        deltas: list[list[Delta]] = [[] for _ in range(count)]
        async for delta in gen.deltas(disconnected):
            text[delta.index] += delta.text
            deltas[delta.index].append(delta)
            reasons[delta.index] = delta.finish_reason or reasons[delta.index]
        choices = []
        for i in range(count):
            prefix = echoed(i, parts[i])
            for delta in deltas[i]:
                generated(i, delta, parts[i])
            choices.append(
                {
                    "index": i,
                    "text": prefix + text[i],
                    "logprobs": parts[i].body() if want_logprobs else None,
                    "finish_reason": reasons[i],
                }
            )
        return {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": name,
            "choices": choices,
            "usage": _usage(gen),
        }

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(index: int, text: str, reason: str | None, lp: _Logprobs | None) -> str:
        logprobs = lp.body() if lp is not None and want_logprobs else None
        payload: dict[str, Any] = {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": name,
            "choices": [
                {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}
            ],
        }
        if include_usage:
            payload["usage"] = None
        return sse(payload)

    async def stream() -> AsyncIterator[str]:
        offsets = [0] * count
        started: set[int] = set()
        try:
            async for delta in gen.deltas():
                i = delta.index
                if body.echo and i not in started:  # admitted by now: prompt logprobs are known
                    lp = _Logprobs(svc)
                    prefix = echoed(i, lp)
                    offsets[i] = lp.offset
                    yield chunk(i, prefix, None, lp)
                started.add(i)
                lp = _Logprobs(svc, offsets[i])
                generated(i, delta, lp)
                offsets[i] = lp.offset
                yield chunk(i, delta.text, delta.finish_reason, lp)
            if include_usage:
                yield sse(
                    {
                        "id": rid,
                        "object": "text_completion",
                        "created": created,
                        "model": name,
                        "choices": [],
                        "usage": _usage(gen),
                    }
                )
            yield "data: [DONE]\n\n"
        finally:
            gen.close()

    return stream()


def _chat_logprobs(svc: ModelService, events: list[TokenEvent]) -> list[dict[str, Any]]:
    def entry(token: int, value: float | None) -> dict[str, Any]:
        raw = token_bytes(svc.tokenizer, token)
        return {"token": raw.decode("utf-8", "replace"), "logprob": value, "bytes": list(raw)}

    return [
        {
            **entry(e.token, e.logprob),
            "top_logprobs": [entry(t, p) for t, p in e.top_logprobs or []],
        }
        for e in events
    ]


async def chat_completion(
    svc: ModelService, body: ChatRequest, disconnected: Disconnected
) -> dict[str, Any] | AsyncIterator[str]:
    svc.check_model(body.model)
    messages = [
        {"role": m.role, "content": m.text(), **({"name": m.name} if m.name else {})}
        for m in body.messages
    ]
    text = svc.chat_prompt(messages, body.add_generation_prompt)
    ids = list(svc.tokenizer.encode(text, add_special_tokens=False))
    svc.check_prompt(ids)
    want = body.top_logprobs or 0 if body.logprobs else None
    params = svc.sampling(body, [ids], body.max_completion_tokens or body.max_tokens, want)
    gen = Generation(
        svc.engine, svc.tokenizer, svc.metrics, [ids], body.n, params, _stops(body.stop)
    )
    rid, created, name = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), svc.config.model_name

    def kept(delta: Delta) -> list[TokenEvent]:
        stops = gen.requests[delta.index].stop_ids
        return [e for e in delta.tokens if e.token not in stops]

    if not body.stream:
        content = [""] * len(gen.requests)
        events: list[list[TokenEvent]] = [[] for _ in gen.requests]
        reasons: list[str | None] = [None] * len(gen.requests)
        async for delta in gen.deltas(disconnected):
            content[delta.index] += delta.text
            events[delta.index] += kept(delta)
            reasons[delta.index] = delta.finish_reason or reasons[delta.index]
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": content[i]},
                "logprobs": {"content": _chat_logprobs(svc, events[i])} if body.logprobs else None,
                "finish_reason": reasons[i],
            }
            for i in range(len(gen.requests))
        ]
        return {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "choices": choices,
            "usage": _usage(gen),
        }

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(choices: list[dict[str, Any]], usage: Any = None) -> str:
        payload: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": choices,
        }
        if include_usage:
            payload["usage"] = usage
        return sse(payload)

    async def stream() -> AsyncIterator[str]:
        try:
            for i in range(len(gen.requests)):
                first = {"role": "assistant", "content": ""}
                yield chunk([{"index": i, "delta": first, "logprobs": None, "finish_reason": None}])
            async for delta in gen.deltas():
                lp = {"content": _chat_logprobs(svc, kept(delta))} if body.logprobs else None
                part = {"content": delta.text} if delta.text else {}
                choice = {
                    "index": delta.index,
                    "delta": part,
                    "logprobs": lp,
                    "finish_reason": delta.finish_reason,
                }
                yield chunk([choice])
            if include_usage:
                yield chunk([], _usage(gen))
            yield "data: [DONE]\n\n"
        finally:
            gen.close()

    return stream()
