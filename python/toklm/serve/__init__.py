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

import signal
import threading
from typing import Any

from .service import ModelService, ServeConfig

__all__ = ["ModelService", "ServeConfig", "create_app", "run_server"]


def create_app(svc: ModelService) -> Any:
    """The ASGI app serving `svc` (see `toklm.serve.app`)."""
    from .app import create_app as build

    return build(svc)


def run_server(svc: ModelService, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (SIGINT, SIGTERM). uvicorn runs in a thread of its own, the
    batching engine in the calling thread: the one that loaded the model, whose OpenMP team
    then does all of the model's work. (With the engine in a second thread, two teams share
    the cores, libgomp throttles its spinning between parallel regions, and a one-row
    GPT-2-124M decode step took 20.1-24.3 ms against 19.6-21.0 ms, on a 2-core VM.)
    RuntimeError if the server could not start (uvicorn logs why).

    >>> # skipped: starts a server and blocks until stopped
    >>> run_server(ModelService(model, ServeConfig("gpt2")))  # doctest: +SKIP
    """
    import uvicorn

    config = uvicorn.Config(
        create_app(svc), host=host, port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)

    def serve_http() -> None:
        try:
            server.run()
        finally:  # shut down, or failed to start: the engine's loop ends too
            svc.engine.stop()

    http = threading.Thread(target=serve_http, name="toklm-http", daemon=True)
    main = threading.current_thread() is threading.main_thread()
    # Both signals stop the server, as they do uvicorn, also when SIGINT came in ignored
    # (a shell starts background commands so when it has no job control).
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, _interrupt) for s in stops} if main else {}
    interrupted = False
    try:
        svc.engine.run(started=http.start)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        server.should_exit = True
        if http.is_alive():
            http.join()
    if not (server.started or interrupted):
        raise RuntimeError(f"the server did not start on {host}:{port}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
