"""Issue 8, item 4: how every command ends when its reader goes away (`toklm demo | head -1`)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cli.runner import COMMAND, KOREAN
from tests.conftest import shared_path

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for `yes | head -1`'s `yes`


def _into_closed_pipe(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run `toklm ARGS` with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*COMMAND, *args], stdout=write_end, stderr=subprocess.PIPE, input=stdin, timeout=300
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("demo",),
        ("compare", KOREAN),
        ("cost", "--text", KOREAN),
        ("count", "--text", KOREAN),
        ("encode", "-i", "{corpora/ko.txt}"),  # streamed: many writes
        ("decode", "-e", "gpt2", "15496", "995"),
        ("report", "-e", "gpt2", "{corpora/parallel/udhr}"),
    ],
    ids=lambda a: a[0],
)
def test_a_closed_pipe_ends_quietly(args: tuple[str, ...]) -> None:
    args = tuple(str(shared_path(a[1:-1])) if a.startswith("{") else a for a in args)
    proc = _into_closed_pipe(*args)
    assert proc.stderr == b"", proc.stderr.decode()
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_head_gets_its_line_and_the_shell_sees_no_error() -> None:
    script = f'{" ".join(COMMAND)} demo | head -1; echo "status ${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.stdout == "\n"  # demo's first line is empty
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip() in ("status 0", f"status {EXIT_BROKEN_PIPE}")
