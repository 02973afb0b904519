"""A file that grows, shrinks or is rewritten while it is read is an error, not a wrong count."""

from __future__ import annotations

import os

import pytest
from toklm.cli import main as cli_main
from toklm.economics import progress
from toklm.economics.textio import InputError, Source, iter_text

BLOCK = 1 << 12


def _big_file(tmp_path, n_blocks=4):
    path = tmp_path / "big.txt"
    path.write_text("hello world\n" * (n_blocks * BLOCK // 12 + 1))
    return path


def _read_changing(path, change):
    """Read `path` in blocks, calling `change()` after the first one."""
    calls = []

    def on_bytes(n):
        if not calls:
            change()
        calls.append(n)

    return "".join(iter_text(Source.from_path(path), block_bytes=BLOCK, on_bytes=on_bytes))


def test_shrinking_file_is_an_error(tmp_path):
    path = _big_file(tmp_path)
    size = path.stat().st_size
    with pytest.raises(InputError, match=rf"{path}: the file changed while it was read \({size}"):
        _read_changing(path, lambda: os.truncate(path, BLOCK * 2))


def test_growing_file_is_an_error(tmp_path):
    path = _big_file(tmp_path)

    def grow():
        with open(path, "a") as f:
            f.write("more\n" * 1000)

    with pytest.raises(InputError, match="changed while it was read"):
        _read_changing(path, grow)


def test_file_rewritten_in_place_is_an_error(tmp_path):
    path = _big_file(tmp_path)
    stat = path.stat()

    def rewrite():
        with open(path, "r+b") as f:
            f.seek(BLOCK * 3)
            f.write(b"HELLO")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    with pytest.raises(InputError, match="rewritten in place"):
        _read_changing(path, rewrite)


def test_unchanged_pseudo_and_small_files_read_fine(tmp_path):
    path = _big_file(tmp_path)
    assert _read_changing(path, lambda: None) == path.read_text()
    status = "".join(iter_text(Source.from_path("/proc/self/status")))  # size 0 in stat
    assert "Pid:" in status


def test_count_cli_exits_non_zero_with_one_line(tmp_path, monkeypatch, capsys):
    path = _big_file(tmp_path, n_blocks=1024)  # 4 MB: several of count's 1 MB blocks
    advance = progress.Progress.advance

    def truncate_once(self, nbytes):
        if not self.done:
            os.truncate(path, 1000)
        advance(self, nbytes)

    monkeypatch.setattr(progress.Progress, "advance", truncate_once)
    assert cli_main(["count", "-e", "gpt2", str(path)]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "changed while it was read" in err, err
