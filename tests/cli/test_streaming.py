"""Issue 8, item 3: `encode` and `decode` write as they read (bounded memory on any input)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading

from tests.cli.runner import COMMAND
from tests.cli.runner import toklm as run
from tests.conftest import shared_path


def _first_output_before_end_of_input(args: list[str], chunk: bytes, wait_s: float = 120) -> bytes:
    """Feed `chunk` (several blocks) to `toklm ARGS` without closing stdin; return what stdout
    gave meanwhile. A command that reads all its input first gives nothing."""
    proc = subprocess.Popen(
        [*COMMAND, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:  # on its own thread: the command's output is read meanwhile
        try:
            stdin.write(chunk)
            stdin.flush()
        except OSError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    try:
        ready, _, _ = select.select([proc.stdout], [], [], wait_s)
        return os.read(proc.stdout.fileno(), 1 << 16) if ready else b""
    finally:
        proc.kill()
        proc.wait()


def test_encode_writes_ids_before_its_input_ends() -> None:
    text = shared_path("corpora/en.txt").read_bytes()
    while len(text) < 3 << 20:  # three 1 MB blocks
        text += text
    got = _first_output_before_end_of_input(["encode", "-e", "gpt2"], text)
    assert got[:5].decode().split()[0].isdigit(), got[:100]


def test_decode_writes_text_before_its_input_ends() -> None:
    ids = ("15496 995 " * 400_000).encode()  # 4 MB of ids
    got = _first_output_before_end_of_input(["decode", "-e", "gpt2"], ids)
    assert got.startswith(b"Hello world"), got[:100]


def test_streamed_encode_is_exact_across_blocks(tiktoken_ref) -> None:
    ko = shared_path("corpora/ko.txt")  # several 1 MB blocks
    with open(ko, encoding="utf-8", newline="") as f:
        expected = tiktoken_ref("cl100k_base").encode(f.read(), disallowed_special=())
    proc = run("encode", "-e", "cl100k_base", "-i", str(ko))
    assert proc.returncode == 0, proc.stderr
    assert [int(x) for x in proc.stdout.split()] == expected
    out = json.loads(run("encode", "--json", "-e", "cl100k_base", "-i", str(ko)).stdout)
    assert out["ids"] == expected and out["tokens"] == len(expected)
    back = subprocess.run(
        [*COMMAND, "decode", "-e", "cl100k_base"], input=proc.stdout.encode(), capture_output=True
    )
    assert back.stdout == ko.read_bytes() + (b"" if ko.read_bytes().endswith(b"\n") else b"\n")
