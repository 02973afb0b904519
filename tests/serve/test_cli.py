"""`toklm serve` as a user runs it: a subprocess on a free loopback port, stopped with Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

from .conftest import httpx, openai


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_toklm_serve_answers_then_stops_on_ctrl_c_or_sigterm(model_dir, stop):
    port = free_port()
    cmd = [sys.executable, "-m", "toklm.cli", "serve", "-m", str(model_dir), "--port", str(port),
           "--max-batch", "2", "--api-key", "k", "--threads", "1"]  # fmt: skip
    # started with SIGINT ignored, as `toklm serve ... &` in a script starts it: Ctrl-C still stops
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "toklm serve did not start"
            time.sleep(0.1)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        out = client.completions.create(
            model=str(model_dir), prompt="Hello", max_tokens=3, temperature=0
        )
        assert out.usage.completion_tokens <= 3 and out.model == str(model_dir)
        assert "toklm_generation_tokens_total" in httpx.get(f"{url}/metrics").text
        stream = client.completions.create(
            model=str(model_dir), prompt="Hi", max_tokens=200, temperature=0, stream=True
        )
        next(iter(stream))  # a request still running when the server is stopped
    finally:
        proc.send_signal(stop)
        proc.wait(30)
    assert proc.returncode == 0
    err = proc.stderr.read()
    assert f"serving '{model_dir}' on http://127.0.0.1:{port}/v1" in err
    assert "Traceback" not in err


def test_bad_flags_are_one_line_errors(model_dir):
    run = subprocess.run(
        [sys.executable, "-m", "toklm.cli", "serve", "-m", str(model_dir), "--max-batch", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip() == "toklm: error: --max-batch must be at least 1, got 0"
    run = subprocess.run(
        [sys.executable, "-m", "toklm.cli", "serve", "-m", str(model_dir), "--chat-template",
         str(model_dir / "missing.jinja")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "cannot read the chat template" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_port_in_use_is_a_one_line_error(model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "toklm.cli", "serve", "-m", str(model_dir), "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "address already in use" in run.stderr
    assert f"toklm: error: the server did not start on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr
