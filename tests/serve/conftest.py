"""A real `toklm serve` app under uvicorn on a free loopback port, on a tiny random Pythia-shaped
checkpoint with the GPT-NeoX-20B tokenizer; tests talk to it with the `openai` client and httpx."""

from __future__ import annotations

import importlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def require(module: str) -> Any:
    """Import `module`; without it skip the server tests, or fail them under CI=true
    (`make install-test` installs every one)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the server tests need {module}", allow_module_level=True)


torch = require("torch")
require("fastapi")
require("uvicorn")
require("jinja2")
openai = require("openai")
httpx = require("httpx")

from ..models.conftest import (  # noqa: E402
    _one_thread,  # noqa: F401
    _pinned_transformers,  # noqa: F401
    tiny_pythia,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_checkpoint(path: Path, *, chat_template: bool = True, context: int = 64) -> Path:
    tiny_pythia(path, context=context)
    if chat_template:
        (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    return path


class Server:
    """A running server: `url`, `client` (openai), `http` (httpx), `service`."""

    def __init__(self, service: Any, url: str, api_key: str | None) -> None:
        self.service, self.url = service, url
        self.client = openai.OpenAI(base_url=f"{url}/v1", api_key=api_key or "none", max_retries=0)
        self.http = httpx.Client(base_url=url, timeout=60)


@contextmanager
def running_server(model_dir: Path, **config: Any) -> Iterator[Server]:
    import uvicorn
    from toklm.models import AutoModelForCausalLM
    from toklm.serve import ModelService, ServeConfig, create_app

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    service = ModelService(model, ServeConfig(model_name="tiny", **config))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Server(service, f"http://127.0.0.1:{port}", config.get("api_key"))
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[Server]:
    with running_server(model_dir, max_batch=8, max_queue=64) as s:
        yield s
