"""Fixtures of the playground tests: the app in-process, a real uvicorn server on a free
loopback port, and headless Chromium (Debian's chromium + chromium-driver) driven by Selenium."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_path

try:
    from starlette.testclient import TestClient
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(
        "the playground needs starlette (pip install 'toklm[web]')", allow_module_level=True
    )

from toklm.playground.app import LOOPBACK_HOSTS, create_app  # noqa: E402
from toklm.playground.catalog import Catalog  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
NEOX = "tokenizers/gpt-neox-20b"


def missing(what: str) -> None:
    """Skip, or fail under CI=true, where every component must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the playground tests need it)")
    pytest.skip(what)


def require(module: str) -> Any:
    """Import `module`; without it skip, or fail under CI=true (`make install-test` has it)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed (pip install -e '.[test,web]')")


@pytest.fixture(scope="session")
def web() -> None:
    """The web stack is installed (uvicorn; starlette is checked on import above)."""
    require("uvicorn")


@pytest.fixture(scope="session")
def neox_path() -> str:
    return str(shared_path(NEOX))


@pytest.fixture(scope="session")
def catalog(neox_path: str) -> Catalog:
    cat = Catalog([neox_path])
    cat.load_paths()
    return cat


@pytest.fixture()
def client(catalog: Catalog) -> TestClient:
    return TestClient(create_app(catalog, max_chars=1_000_000), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def server(catalog: Catalog) -> Iterator[str]:
    """A real uvicorn server in a thread, on a free loopback port; yields its URL."""
    uvicorn = require("uvicorn")
    from toklm.playground.server import bind, url_of

    sock = bind("127.0.0.1", 0)
    app = create_app(catalog, allowed_hosts=LOOPBACK_HOSTS)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield url_of(sock)
    srv.should_exit = True
    thread.join(10)
    sock.close()


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def new_browser(width: int = 1400, height: int = 1000) -> Any:
    """Headless Chromium with Debian's driver (Selenium does not download one)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install 'toklm[test]')")
    binary = chromium_binary()
    if binary is None or not Path(CHROMEDRIVER).exists():
        missing(f"no Chromium or no {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = new_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where tests leave files to look at (ignored by git): benchmarks/out/."""
    out = Path(__file__).resolve().parents[2] / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    return out
