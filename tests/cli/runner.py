"""Run the installed `toklm` console script, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# The console script that `pip install -e .` / `maturin develop` put on PATH. Fall back to the
# module only where no script is installed (a bare checkout).
_SCRIPT = shutil.which("toklm")
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "toklm.cli"]

# The two sentences of the issue, and their token counts under gpt2 / cl100k_base / o200k_base.
KOREAN = "안녕하세요, 우리는 Gmarket입니다. 🎉"
ENGLISH = "Hello world, we are Gmarket. 🎉"
COUNTS = {KOREAN: (37, 17, 10), ENGLISH: (11, 11, 10)}
ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")


def toklm(
    *args: str, input: bytes | str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`toklm ARGS...` with text stdin/stdout/stderr (UTF-8); stdin empty unless given."""
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        [*COMMAND, *args],
        input=data if data is not None else b"",
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
        timeout=300,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A failed command: non-zero exit, empty stdout, one `toklm: error:` line, no traceback."""
    assert proc.returncode != 0, proc
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("toklm: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
