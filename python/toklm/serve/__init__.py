"""`toklm serve`: an OpenAI-compatible HTTP server for a local GPT-2 / Pythia checkpoint.

Routes: /v1/models, /v1/completions, /v1/chat/completions, /v1/embeddings, /tokenize,
/tokenize/count, /detokenize (vLLM's shapes), /health and /metrics (Prometheus). Requests share
the model through continuous batching (`toklm.models.batching`). Needs the `web` extra
(`pip install 'toklm[web]'`: FastAPI, uvicorn, jinja2) and the `models` extra.

>>> from toklm.serve import ServeConfig
>>> ServeConfig("gpt2").max_batch
16
"""

from __future__ import annotations

from typing import Any

from .service import ModelService, ServeConfig

__all__ = ["ModelService", "ServeConfig", "create_app", "run_server"]


def create_app(svc: ModelService) -> Any:
    """The ASGI app serving `svc` (see `toklm.serve.app`)."""
    from .app import create_app as build

    return build(svc)


def run_server(svc: ModelService, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (uvicorn, one process; the engine thread batches the requests).

    >>> # skipped: starts a server and blocks until stopped
    >>> run_server(ModelService(model, ServeConfig("gpt2")))  # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(create_app(svc), host=host, port=port, log_level="warning", access_log=False)
