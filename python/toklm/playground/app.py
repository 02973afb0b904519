"""The playground's web app (Starlette, from the `toklm[web]` extra): the page, its files and
a JSON API.

* ``GET /``: the page; ``GET /static/NAME``: its stylesheet and scripts (shipped in the package);
* ``GET /api/tokenizers``: what can be chosen, the priced models, the bundled languages, limits;
* ``POST /api/tokenize`` ``{"text", "tokenizers": [...], "fields"?}``: per tokenizer the ids,
  the pieces as text (null for part of a character) and as hex bytes, their UTF-8 byte offsets
  (``starts``, ``ends``) and the count; ``fields`` picks some of ids, pieces, bytes, offsets;
* ``POST /api/view`` ``{"text", "tokenizers", "start"?, "max_tokens"?, "model"?}``: the drawn
  view (`render.py`) of the window from byte `start`, with counts and the cost for `model`;
* ``POST /api/premium`` ``{"tokenizers", "language"}`` or ``{"tokenizers", "english", "other"}``.

Errors are JSON ``{"error": message}``: 400 malformed JSON or fields, 413 too large, 422 an
unknown tokenizer or model (``"tokenizer"`` names it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from toklm.playground import DEFAULT_MAX_CHARS
from toklm.playground import premium as econ
from toklm.playground.catalog import Catalog, UnknownTokenizerError, display_name
from toklm.playground.render import asset, render_window, view_html
from toklm.playground.tokens import FIELDS, Tokenized, tokenize

__all__ = ["DEFAULT_MAX_CHARS", "MAX_TOKENIZERS", "create_app"]

MAX_TOKENIZERS = 4
WINDOW_TOKENS = 300
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]
# Headers of every page response: nothing is loaded from anywhere but this server.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


class ApiError(Exception):
    """A request the API refuses: HTTP status, a message for the page, extra JSON fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class _Results:
    """Recent tokenizations by (tokenizer, text), so that drawing the next window of a long
    text does not encode it again; bounded by the number of tokens held."""

    def __init__(self, max_tokens: int = 4_000_000) -> None:
        self._items: OrderedDict[tuple[str, str], Tokenized] = OrderedDict()
        self._max = max_tokens
        self._lock = threading.Lock()

    def get(self, spec: str, digest: str) -> Tokenized | None:
        with self._lock:
            t = self._items.get((spec, digest))
            if t is not None:
                self._items.move_to_end((spec, digest))
            return t

    def put(self, spec: str, digest: str, t: Tokenized) -> None:
        with self._lock:
            self._items[(spec, digest)] = t
            while len(self._items) > 1 and sum(x.count for x in self._items.values()) > self._max:
                self._items.popitem(last=False)


class Playground:
    """The state behind the routes: the tokenizer catalog, the limits, recent results."""

    def __init__(self, catalog: Catalog, max_chars: int) -> None:
        self.catalog = catalog
        self.max_chars = max_chars
        # JSON may spell a character as a 12-byte surrogate pair escape; plus room for fields.
        self.max_body = max_chars * 12 + 65536
        self.results = _Results()
        self.pool = ThreadPoolExecutor(MAX_TOKENIZERS, thread_name_prefix="toklm-playground")

    # ---- request parsing ---------------------------------------------------------------------

    async def body(self, request: Request) -> dict[str, Any]:
        limit_note = f"the playground accepts at most {self.max_chars:,} characters (--max-chars)"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise ApiError(413, f"the request is {int(declared):,} bytes: too large; {limit_note}")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > self.max_body:
                raise ApiError(413, f"the request is over {self.max_body:,} bytes; {limit_note}")
        try:
            obj = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ApiError(400, f"malformed JSON: not UTF-8 at byte {e.start}") from None
        except json.JSONDecodeError as e:
            raise ApiError(400, f"malformed JSON: {e}") from None
        if not isinstance(obj, dict):
            raise ApiError(400, f"expected a JSON object, got {type(obj).__name__}")
        return obj

    def text(self, body: dict[str, Any], key: str = "text") -> str:
        text = body.get(key)
        if not isinstance(text, str):
            raise ApiError(400, f'"{key}" must be a string, got {_json_type(text)}')
        if len(text) > self.max_chars:
            raise ApiError(
                413,
                f"the text is {len(text):,} characters; the playground accepts at most "
                f"{self.max_chars:,} (start it with a larger --max-chars to allow more)",
            )
        # JSON may carry lone surrogates (\ud800): replaced by U+FFFD as tiktoken does.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def tokenizers(self, body: dict[str, Any]) -> list[tuple[str, Any]]:
        specs = body.get("tokenizers")
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise ApiError(400, '"tokenizers" must be a list of tokenizer names')
        specs = list(dict.fromkeys(s.strip() for s in specs if s.strip()))
        if not 1 <= len(specs) <= MAX_TOKENIZERS:
            raise ApiError(400, f"choose 1 to {MAX_TOKENIZERS} tokenizers, got {len(specs)}")
        out = []
        for spec in specs:
            try:
                out.append((spec, self.catalog.get(spec)))
            except UnknownTokenizerError as e:
                raise ApiError(422, e.message, tokenizer=spec) from None
            except (OSError, ValueError) as e:
                raise ApiError(
                    422, f"cannot load tokenizer {spec!r}: {e}", tokenizer=spec
                ) from None
        return out

    # ---- work --------------------------------------------------------------------------------

    def tokenize_all(self, text: str, toks: Sequence[tuple[str, Any]]) -> list[Tokenized]:
        """Every tokenizer's reading of `text`, in parallel (the core releases the GIL)."""
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

        def one(spec: str, tok: Any) -> Tokenized:
            cached = self.results.get(spec, digest)
            if cached is not None:
                return cached
            t = tokenize(tok, text, spec)
            t.name = display_name(spec, tok)
            self.results.put(spec, digest, t)
            return t

        if len(toks) == 1:
            return [one(*toks[0])]
        return list(self.pool.map(lambda st: one(*st), toks))

    def view(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.text(body)
        toks = self.tokenizers(body)
        start = body.get("start", 0)
        max_tokens = body.get("max_tokens", WINDOW_TOKENS)
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise ApiError(400, f'"start" must be a byte offset >= 0, got {start!r}')
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ApiError(400, f'"max_tokens" must be an int >= 1, got {max_tokens!r}')
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ApiError(400, f'"model" must be a model name, got {_json_type(model)}')
        columns = self.tokenize_all(text, toks)
        data = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")
        out: dict[str, Any] = {
            "chars": columns[0].text_chars,
            "bytes": columns[0].text_bytes,
            "tokenizers": [t.stats() for t in columns],
        }
        if start == 0:
            page, w = view_html(columns, data, max_tokens=max_tokens, more_hint="Scroll for more.")
            out["html"] = page
        else:
            w, parts = render_window(columns, data, start, max_tokens)
            out["columns"] = [{"pieces": p.pieces, "ids": p.ids} for p in parts]
        out["window"] = {"start": w.start, "end": w.end, "done": w.done}
        if model:
            out["cost"] = self.cost(model, text, toks, columns)
        return out

    def cost(
        self, model: str, text: str, toks: Sequence[tuple[str, Any]], columns: Sequence[Tokenized]
    ) -> dict[str, Any]:
        def tokens_of(enc: Any) -> int:
            for (_, tok), t in zip(toks, columns, strict=True):
                if tok is enc:  # the model's encoding is already a column
                    return t.count
            return int(enc.count(text, disallowed_special=()))

        try:
            c = econ.cost(model, tokens_of)
        except KeyError as e:
            raise ApiError(422, str(e.args[0] if e.args else e), model=model) from None
        c["html"] = econ.cost_html(c)
        return c

    def premium(self, body: dict[str, Any]) -> dict[str, Any]:
        toks = self.tokenizers(body)
        language = body.get("language")
        if language is not None:
            if not isinstance(language, str):
                raise ApiError(400, f'"language" must be a language code, got {language!r}')
            try:
                english, other = econ.pair(language)
            except KeyError as e:
                raise ApiError(422, str(e.args[0]), language=language) from None
            label = econ.LANGUAGES[language]
        else:
            english, other = self.text(body, "english"), self.text(body, "other")
            label = "your text"
        rows = econ.premium(toks, english, other)
        return {
            "rows": [{**vars(r), "premium": r.premium} for r in rows],
            "html": econ.premium_html(rows, label, english, other),
        }

    def listing(self) -> dict[str, Any]:
        return {
            "tokenizers": [vars(c) for c in self.catalog.choices()],
            "default": ["gpt2", "cl100k_base", "o200k_base"],
            "models": econ.price_models(),
            "languages": [{"code": k, "name": v} for k, v in econ.LANGUAGES.items()],
            "max_chars": self.max_chars,
            "max_tokenizers": MAX_TOKENIZERS,
        }


def _json_type(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _error(e: ApiError) -> JSONResponse:
    return JSONResponse({"error": e.message, **e.extra}, status_code=e.status)


def create_app(
    catalog: Catalog | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The app; `allowed_hosts` (the Host header) guards a loopback server against DNS
    rebinding: `toklm playground` passes the loopback names unless --host says otherwise.

    >>> from starlette.testclient import TestClient
    >>> TestClient(create_app()).get("/api/tokenizers").json()["default"]
    ['gpt2', 'cl100k_base', 'o200k_base']
    """
    pg = Playground(catalog or Catalog(), max_chars)
    static = Path(__file__).with_name("static")

    async def page(request: Request) -> Response:
        return HTMLResponse(asset("index.html"), headers=PAGE_HEADERS)

    def api(work: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                body = await pg.body(request)
                result = await run_in_threadpool(work, body)
            except ApiError as e:
                return _error(e)
            if isinstance(result, str):
                return Response(result, media_type="application/json")
            return JSONResponse(result)

        return endpoint

    def tokenize_json(body: dict[str, Any]) -> str:
        text = pg.text(body)
        fields = body.get("fields", list(FIELDS))
        if not isinstance(fields, list) or not set(fields) <= set(FIELDS):
            raise ApiError(400, f'"fields" must be a list of {", ".join(FIELDS)}; got {fields!r}')
        columns = pg.tokenize_all(text, pg.tokenizers(body))
        records = ", ".join(t.to_json(fields) for t in columns)
        head = f'{{"chars": {columns[0].text_chars}, "bytes": {columns[0].text_bytes}'
        return f'{head}, "tokenizers": [{records}]}}'

    async def listing(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(pg.listing))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # A bug, not a bad request: the page shows this line; the server log has the traceback.
        message = f"internal error: {type(exc).__name__}: {exc} (please report it)"
        return JSONResponse({"error": message}, status_code=500)

    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/tokenizers", listing),
            Route("/api/tokenize", api(tokenize_json), methods=["POST"]),
            Route("/api/view", api(pg.view), methods=["POST"]),
            Route("/api/premium", api(pg.premium), methods=["POST"]),
            Mount("/static", StaticFiles(directory=static), name="static"),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.playground = pg
    return app
