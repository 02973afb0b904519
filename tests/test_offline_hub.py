"""Offline means offline: with TOKLM_OFFLINE=1 (or `set_offline(True)`) no connection reaches the
Hugging Face endpoint, proved by a recording listener on a local port standing in for the hub."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Each script asks for a repo that is not in the (empty) hub cache, so only a download could
# find it; every call must fail with FileNotFoundError.
TOKENIZER = """
import toklm
try:
    toklm.Tokenizer.from_pretrained("org/name")
except FileNotFoundError:
    print("tokenizer: not found")
"""
MODEL = """
from toklm.models import AutoModelForCausalLM
try:
    AutoModelForCausalLM.from_pretrained("org/name")
except FileNotFoundError:
    print("model: not found")
"""
# huggingface_hub imported first, the switch turned on afterwards, then called directly.
HUB_FIRST = """
import huggingface_hub
import toklm.load
toklm.load.set_offline(True)
import toklm
try:
    toklm.Tokenizer.from_pretrained("org/name")
except FileNotFoundError:
    print("tokenizer: not found")
try:
    huggingface_hub.hf_hub_download("org/name", "config.json")
except Exception as e:
    print("hub:", type(e).__name__)
"""


class RecordingListener:
    """A TCP listener on a free loopback port that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()  # no answer: a client sees a dropped connection

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def hub_endpoint():
    listener = RecordingListener()
    yield listener
    listener.close()


def run(script: str, listener: RecordingListener, tmp_path: Path, **env: str) -> str:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
        and k != "TOKLM_OFFLINE"
    }
    environ |= {
        "HF_ENDPOINT": f"http://127.0.0.1:{listener.port}",
        "HF_HUB_CACHE": str(tmp_path / "hub-cache"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_ETAG_TIMEOUT": "2",
        "HF_HUB_DOWNLOAD_TIMEOUT": "2",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_online_reaches_the_endpoint(hub_endpoint, tmp_path):
    """The control: without the switch the listener does see connections, so it can tell."""
    pytest.importorskip("huggingface_hub")
    run(TOKENIZER, hub_endpoint, tmp_path)
    assert hub_endpoint.connections > 0


@pytest.mark.parametrize("script", [TOKENIZER, MODEL], ids=["tokenizer", "model"])
def test_toklm_offline_makes_no_connection(script, hub_endpoint, tmp_path):
    pytest.importorskip("huggingface_hub")
    if script is MODEL:
        pytest.importorskip("torch")
    out = run(script, hub_endpoint, tmp_path, TOKLM_OFFLINE="1")
    assert "not found" in out
    assert hub_endpoint.connections == 0


def test_set_offline_reaches_an_imported_hub_library(hub_endpoint, tmp_path):
    pytest.importorskip("huggingface_hub")
    out = run(HUB_FIRST, hub_endpoint, tmp_path)
    assert "tokenizer: not found" in out
    assert "hub: " in out
    assert hub_endpoint.connections == 0


def test_offline_env_is_handed_to_hub_libraries(tmp_path, hub_endpoint):
    script = "import os, toklm; print([os.environ.get(v) for v in toklm.load.HUB_OFFLINE_VARS])"
    assert run(script, hub_endpoint, tmp_path, TOKLM_OFFLINE="1").strip() == "['1', '1', '1']"
    assert run(script, hub_endpoint, tmp_path).strip() == "[None, None, None]"
