"""`toklm playground` as a user starts it: a real process, its first page, its errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.cli.runner import COMMAND, assert_one_line_error, toklm

pytestmark = pytest.mark.usefixtures("web")


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`toklm playground --port 0 ARGS`; returns the process and the URL it printed."""
    proc = subprocess.Popen(
        [*COMMAND, "playground", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("toklm playground: http://"), (
        line,
        proc.stderr.read() if proc.stderr else "",
    )
    return proc, line.split()[2]


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serves_the_page_on_loopback_and_stops_on_ctrl_c() -> None:
    t0 = time.perf_counter()
    proc, url = start()
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=20) as r:
            page = r.read().decode()
        first_page_s = time.perf_counter() - t0
        assert "toklm playground" in page
        with urllib.request.urlopen(url + "api/tokenizers", timeout=20) as r:
            assert b"cl100k_base" in r.read()
        # Not reachable through another address of this machine.
        port = int(url.rsplit(":", 1)[1].strip("/"))
        try:
            other = socket.gethostbyname(socket.gethostname())
        except OSError:
            other = "127.0.0.1"
        if not other.startswith("127."):
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=5).close()
    finally:
        code = stop(proc)
    err = proc.stderr.read() if proc.stderr else ""
    assert code in (0, 130) and "Traceback" not in err, err  # 130: interrupted, as a shell has it
    print(f"cold start to first page: {first_page_s:.2f} s")  # timed by bench_playground.py


def test_open_starts_a_browser_on_the_page() -> None:
    # $BROWSER is what Python's webbrowser runs: here a command that prints the address it got.
    browser = f"{sys.executable} -c 'import sys; print(\"opened\", sys.argv[1])' %s"
    proc, url = start("--open", env={"BROWSER": browser})
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
    finally:
        stop(proc)
    assert lines and lines[0].split() == ["opened", url], lines


def test_network_host_is_announced() -> None:
    proc, url = start("--host", "0.0.0.0")
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            assert r.status == 200
    finally:
        stop(proc)
    assert "reachable from other hosts" in (proc.stderr.read() if proc.stderr else "")


def test_busy_port_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = toklm("playground", "--port", str(port))
    assert_one_line_error(proc, f"cannot listen on 127.0.0.1:{port}", "--port")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--tokenizer", "no/such/dir"], ["--tokenizer no/such/dir: no such file or directory"]),
        (["--host", "no-such-host.invalid"], ["--host no-such-host.invalid"]),
    ],
)
def test_bad_arguments_are_one_line(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(toklm("playground", "--port", "0", *args), *needles)


def test_bad_tokenizer_file_is_one_line(tmp_path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json", encoding="utf-8")
    assert_one_line_error(toklm("playground", "--port", "0", "--tokenizer", str(bad)), str(bad))


@pytest.mark.parametrize("args", [["--port", "70000"], ["--max-chars", "0"], ["--port", "x"]])
def test_bad_flags_are_usage_errors(args: list[str]) -> None:
    proc = toklm("playground", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_tiktoken_file(tmp_path) -> None:
    """A .tiktoken file given with --tokenizer is offered and encodes like its encoding."""
    import toklm as lib
    from toklm.load import dump_tiktoken_bpe
    from toklm.playground.catalog import Catalog

    path = tmp_path / "cl100k_base_copy.tiktoken"
    dump_tiktoken_bpe(lib.get_encoding("cl100k_base")._mergeable_ranks, str(path))
    cat = Catalog([str(path)])
    cat.load_paths()
    assert str(path) in [c.id for c in cat.choices()]
    assert cat.get(str(path)).encode("안녕하세요 🎉") == lib.get_encoding("cl100k_base").encode(
        "안녕하세요 🎉"
    )
    if hasattr(lib.Encoding, "save"):  # a saved encoding comes back whole (pattern, specials)
        saved = tmp_path / "mine.tiktoken"
        lib.get_encoding("gpt2").save(str(saved))
        cat = Catalog([str(saved)])
        enc = cat.get(str(saved))
        assert enc.encode("<|endoftext|> hi", allowed_special="all") == [50256, 23105]


def test_missing_web_extra_is_one_line() -> None:
    code = "import sys; sys.modules['uvicorn'] = None; from toklm.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, "playground"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'toklm[web]'" in lines[0], proc.stderr
