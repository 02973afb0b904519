"""The FastAPI app: routes, the API key check, errors in OpenAI's shape, the body size limit."""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .completions import chat_completion, completion
from .engine import ApiError
from .metrics import Metrics
from .protocol import (
    ChatRequest,
    CompletionRequest,
    DetokenizeRequest,
    EmbeddingRequest,
    TokenizeRequest,
)
from .service import ModelService


class Guard:
    """Pure ASGI middleware (Starlette's BaseHTTPMiddleware would hide client disconnects from
    the routes): answers 413 to a body over `limit` bytes (declared or streamed) and counts
    requests by route and status for /metrics."""

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = ApiError(413, f"the request body is larger than {self.limit} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await JSONResponse(error.body(), 413)(scope, receive, send)
            self.metrics.count_request("other", 413)
            return
        seen = 0
        status = [500]

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, error.message)
            return message

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, limited, watched)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.metrics.count_request(route, status[0])


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())[1:])
        if err.get("type") == "json_invalid":
            problems.append(f"malformed JSON: {err.get('ctx', {}).get('error', err.get('msg'))}")
        elif err.get("type") == "extra_forbidden":
            problems.append(f"unknown field {where!r}")
        elif not where and err.get("type") in ("missing", "model_attributes_type", "dict_type"):
            problems.append(
                "the request body must be a JSON object (Content-Type: application/json)"
            )
        else:
            problems.append(f"{where or 'body'}: {err.get('msg')}")
    return "; ".join(dict.fromkeys(problems)) or "invalid request"


def create_app(svc: ModelService) -> ASGIApp:
    """The server's ASGI app; the engine thread runs while the app's lifespan does.

    >>> # skipped: needs a loaded model service (tests/serve start one)
    >>> app = create_app(service)  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        yield
        svc.stop()

    app = FastAPI(title="toklm", lifespan=lifespan, docs_url=None, redoc_url=None)
    key = svc.config.api_key

    async def check_key(request: Request) -> None:
        if key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), key.encode()):
            raise ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)")

    secured = [Depends(check_key)]

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(ApiError(400, _validation_message(exc)).body(), 400)

    async def answer(result: Any) -> Response:
        if isinstance(result, dict):
            return JSONResponse(result)
        return StreamingResponse(result, media_type="text/event-stream")

    @app.get("/health")
    async def health() -> Response:
        thread = svc.engine._thread
        if thread is None or not thread.is_alive():
            return JSONResponse(ApiError(503, "the engine is not running").body(), 503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return PlainTextResponse(svc.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", dependencies=secured)
    async def models() -> dict[str, Any]:
        card = {
            "id": svc.config.model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "toklm",
            "max_model_len": svc.context,
        }
        return {"object": "list", "data": [card]}

    @app.post("/v1/completions", dependencies=secured)
    async def completions(body: CompletionRequest, request: Request) -> Response:
        return await answer(await completion(svc, body, request.is_disconnected))

    @app.post("/v1/chat/completions", dependencies=secured)
    async def chat(body: ChatRequest, request: Request) -> Response:
        return await answer(await chat_completion(svc, body, request.is_disconnected))

    @app.post("/v1/embeddings", dependencies=secured)
    async def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
        svc.check_model(body.model)
        prompts, _ = svc.prompt_ids(body.input)
        for ids in prompts:
            if len(ids) > svc.context:
                raise ApiError(
                    400,
                    f"the input has {len(ids)} tokens but the model's context "
                    f"is {svc.context} tokens",
                    "input",
                )
        vectors = await asyncio.wrap_future(svc.engine.call(lambda: _embed(svc, prompts)))
        data = []
        for i, vec in enumerate(vectors):
            if body.dimensions is not None:
                vec = torch.nn.functional.normalize(vec[: body.dimensions], dim=0)
            value: Any = (
                base64.b64encode(vec.numpy().astype("<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else vec.tolist()
            )
            data.append({"object": "embedding", "index": i, "embedding": value})
        used = sum(len(p) for p in prompts)
        return {
            "object": "list",
            "data": data,
            "model": svc.config.model_name,
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }

    def counter(model: str | None) -> Any:
        """The served tokenizer, or a bundled OpenAI encoding named by `model`."""
        if model is None or model == svc.config.model_name:
            return None
        from toklm import encoding_for_model, get_encoding, list_encoding_names

        try:
            if model in list_encoding_names():
                return get_encoding(model)
            return encoding_for_model(model)
        except (KeyError, ValueError) as e:
            raise ApiError(
                404,
                f"unknown model {model!r}: not {svc.config.model_name!r} nor an OpenAI model or "
                f"encoding ({e})",
                "model",
            ) from e

    def tokenize_ids(body: TokenizeRequest) -> list[int]:
        enc = counter(body.model)
        if enc is None:
            return list(
                svc.tokenizer.encode(body.prompt, add_special_tokens=body.add_special_tokens)
            )
        return list(enc.encode(body.prompt, disallowed_special=()))

    @app.post("/tokenize", dependencies=secured)
    async def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        ids = tokenize_ids(body)
        return {"tokens": ids, "count": len(ids), "max_model_len": svc.context}

    @app.post("/tokenize/count", dependencies=secured)
    async def tokenize_count(body: TokenizeRequest) -> dict[str, Any]:
        return {"count": len(tokenize_ids(body))}

    @app.post("/detokenize", dependencies=secured)
    async def detokenize(body: DetokenizeRequest) -> dict[str, Any]:
        enc = counter(body.model)
        try:
            text = svc.tokenizer.decode(body.tokens) if enc is None else enc.decode(body.tokens)
        except (KeyError, ValueError) as e:
            raise ApiError(400, str(e), "tokens") from e
        return {"prompt": text}

    return Guard(app, svc.config.max_body_bytes, svc.metrics)


def _embed(svc: ModelService, prompts: list[list[int]]) -> list[torch.Tensor]:
    """Mean of the final hidden states over the tokens, L2-normalised, one vector per input."""
    out = []
    for ids in prompts:
        ids_t = torch.tensor([ids], device=svc.model.device)
        hidden = svc.model(ids_t, logits_to_keep=1).last_hidden_state[0]
        out.append(torch.nn.functional.normalize(hidden.float().mean(0), dim=0).cpu())
    return out
