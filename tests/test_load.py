"""toklm.load: compact ranks, reading and caching files, offline mode, vocabulary file parsing."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from toklm import load
from toklm.load import (
    CompactRanks,
    OfflineError,
    bundled_ranks,
    data_gym_to_mergeable_bpe_ranks,
    dump_tiktoken_bpe,
    load_tiktoken_bpe,
    read_file,
    read_file_cached,
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test gets its own cache directory and starts online."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.delenv("TOKLM_OFFLINE", raising=False)
    load.set_offline(None)
    yield
    load.set_offline(None)


# --- CompactRanks -----------------------------------------------------------------------------


def test_compact_ranks_round_trip_with_holes():
    ranks = {b"a": 0, b"bc": 1, b"\xff" * 255: 4}
    compact = CompactRanks.from_ranks(ranks)
    assert compact.blob == b"\x01a\x02bc\x00\x00\xff" + b"\xff" * 255
    assert compact.n_ranks == 5 and len(compact) == 3
    assert dict(compact) == ranks and compact == ranks
    assert b"bc" in compact and b"zz" not in compact
    with pytest.raises(KeyError):
        compact[b"zz"]
    assert CompactRanks(compact.blob) == CompactRanks.from_ranks(dict(compact))


def test_compact_ranks_is_lazy():
    compact = CompactRanks(b"\x01a\x01b")
    assert compact._dict is None  # holding the blob builds no dict
    assert compact.n_ranks == 2 and compact._dict is None
    assert compact[b"b"] == 1 and compact._dict == {b"a": 0, b"b": 1}


@pytest.mark.parametrize(
    ("ranks", "message"),
    [
        ({b"": 0}, "length 1 to 255"),
        ({b"x" * 256: 0}, "length 1 to 255"),
        ({"a": 0}, "length 1 to 255"),
        ({b"a": -1}, "invalid rank -1"),
        ({b"a": 0, b"b": 0}, "rank 0 is used by both b'a' and b'b'"),
    ],
)
def test_compact_ranks_rejects_unstorable_ranks(ranks, message):
    with pytest.raises(ValueError, match=message):
        CompactRanks.from_ranks(ranks)


def test_compact_ranks_rejects_bad_blobs():
    with pytest.raises(ValueError, match="truncated in the token of rank 1"):
        dict(CompactRanks(b"\x01a\x03bc"))
    with pytest.raises(ValueError, match=r"token b'a' twice \(ranks 0 and 2\)"):
        dict(CompactRanks(b"\x01a\x00\x01a"))
    with pytest.raises(TypeError):
        CompactRanks(bytearray(b"\x01a"))


def test_bundled_ranks_are_cached_and_named():
    assert bundled_ranks("cl100k_base") is bundled_ranks("cl100k_base")
    assert bundled_ranks("cl100k_base")[b"hello"] == 15339
    assert bundled_ranks("o200k_base")[b"hello"] == 24912
    with pytest.raises(ValueError, match="No bundled vocabulary named 'gpt5'; bundled: r50k_base"):
        bundled_ranks("gpt5")


# --- read_file / read_file_cached (URLs served from 127.0.0.1 only) ---------------------------


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """Serve tmp_path/www on 127.0.0.1; yields (base_url, www_dir, request_paths)."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www, requests
    finally:
        server.shutdown()
        server.server_close()


def test_read_file_local_path_and_file_url(tmp_path):
    path = tmp_path / "a b.txt"
    path.write_bytes(b"content")
    assert read_file(str(path)) == b"content"
    assert read_file(path.as_uri()) == b"content"  # file:// URL, with the space escaped


def test_http_fetch_is_cached(http_root, tmp_path):
    base, www, requests = http_root
    (www / "v.tiktoken").write_bytes(b"aGk= 0\n")
    url = f"{base}/v.tiktoken"
    assert load_tiktoken_bpe(url, expected_hash=sha256(b"aGk= 0\n")) == {b"hi": 0}
    assert (tmp_path / "cache" / sha1(url)).read_bytes() == b"aGk= 0\n"
    assert load_tiktoken_bpe(url) == {b"hi": 0}
    assert requests == ["/v.tiktoken"]  # the second load came from the cache
    with pytest.raises(OSError):  # HTTP 404 is an error, never an empty vocabulary
        read_file(f"{base}/missing.tiktoken")


def test_cache_dir_rules(http_root, monkeypatch, tmp_path):
    base, www, requests = http_root
    (www / "v").write_bytes(b"v1")
    url = f"{base}/v"

    read_file_cached(url)  # TIKTOKEN_CACHE_DIR (set by the fixture)
    assert (tmp_path / "cache" / sha1(url)).read_bytes() == b"v1"

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path / "gym"))
    read_file_cached(url)
    assert (tmp_path / "gym" / sha1(url)).read_bytes() == b"v1"

    monkeypatch.delenv("DATA_GYM_CACHE_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmpdir"))
    read_file_cached(url)
    default_path = tmp_path / "tmpdir" / "data-gym-cache" / sha1(url)
    assert default_path.read_bytes() == b"v1"
    assert load.cache_path_for(url) == str(default_path)
    assert len(requests) == 3

    # A cached copy wins over the source when no hash is given, as in tiktoken.
    (www / "v").write_bytes(b"v2")
    assert read_file_cached(url) == b"v1" and len(requests) == 3


def test_local_files_are_never_cached(tmp_path):
    src = tmp_path / "v"
    src.write_bytes(b"v1")
    assert read_file_cached(str(src)) == b"v1"
    src.write_bytes(b"v2")  # an edited local file is read again, not served stale
    assert read_file_cached(str(src)) == b"v2" and read_file_cached(src.as_uri()) == b"v2"
    assert load.cache_path_for(str(src)) is None
    assert not (tmp_path / "cache").exists()


def test_empty_cache_dir_disables_caching(http_root, monkeypatch, tmp_path):
    base, www, requests = http_root
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    (www / "v").write_bytes(b"data")
    assert read_file_cached(f"{base}/v") == b"data"
    assert read_file_cached(f"{base}/v") == b"data" and len(requests) == 2
    assert load.cache_path_for(f"{base}/v") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["www"]
    with pytest.raises(ValueError, match="Hash mismatch"):  # still verified
        read_file_cached(f"{base}/v", expected_hash="0" * 64)


def test_stale_cached_copy_is_replaced(http_root, tmp_path):
    base, www, requests = http_root
    (www / "v").write_bytes(b"good")
    cache_path = tmp_path / "cache" / sha1(f"{base}/v")
    cache_path.parent.mkdir()
    cache_path.write_bytes(b"corrupted")
    assert read_file_cached(f"{base}/v", expected_hash=sha256(b"good")) == b"good"
    assert cache_path.read_bytes() == b"good" and requests == ["/v"]


def test_hash_mismatch_names_source_and_both_hashes(http_root, tmp_path):
    base, www, _ = http_root
    (www / "v").write_bytes(b"data")
    expected = "ab" * 32
    for source in (f"{base}/v", str(www / "v")):
        with pytest.raises(ValueError) as info:
            read_file_cached(source, expected_hash=expected)
        message = str(info.value)
        assert source in message and expected in message and sha256(b"data") in message
    assert not (tmp_path / "cache").exists()  # a bad download is never cached


def test_cache_write_is_atomic(http_root, monkeypatch, tmp_path):
    base, www, _ = http_root
    (www / "v").write_bytes(b"x" * 100_000)
    cache_path = tmp_path / "cache" / sha1(f"{base}/v")
    real_replace = os.replace
    seen = []

    def checking_replace(tmp, dst):
        # At rename time the complete data sits in a temp file beside the final name.
        assert Path(dst) == cache_path and not cache_path.exists()
        assert Path(tmp).name.startswith(cache_path.name + ".") and tmp.endswith(".tmp")
        assert Path(tmp).read_bytes() == b"x" * 100_000
        seen.append(tmp)
        real_replace(tmp, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    read_file_cached(f"{base}/v")
    assert len(seen) == 1 and cache_path.read_bytes() == b"x" * 100_000
    assert [p.name for p in cache_path.parent.iterdir()] == [cache_path.name]


def test_cache_write_errors_raise_for_user_dir_only(http_root, monkeypatch, tmp_path):
    base, www, _ = http_root
    (www / "v").write_bytes(b"data")

    def failing_replace(tmp, dst):
        raise PermissionError(f"cannot write {dst}")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        read_file_cached(f"{base}/v")
    assert list((tmp_path / "cache").iterdir()) == []  # the temp file was removed

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmpdir"))
    assert read_file_cached(f"{base}/v") == b"data"  # default dir: ignored (tiktoken#75)
    assert list((tmp_path / "tmpdir" / "data-gym-cache").iterdir()) == []


# --- offline mode ----------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Make any socket creation fail loudly and record it."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_offline_mode_never_touches_the_network(no_network, tmp_path):
    url = "http://127.0.0.1:9/encodings/v.tiktoken"
    # Online, the (patched) socket layer is reached: the guard below is a real check.
    with pytest.raises(Exception, match="network access attempted"):
        read_file(url)
    assert len(no_network) == 1

    no_network.clear()
    load.set_offline(True)
    with pytest.raises(OfflineError) as info:
        read_file_cached(url)
    message = str(info.value)
    assert url in message and str(tmp_path / "cache" / sha1(url)) in message
    with pytest.raises(OfflineError, match="caching was not used"):
        read_file(url)
    with pytest.raises(OfflineError):
        load_tiktoken_bpe(url)
    with pytest.raises(OfflineError):
        read_file("gs://bucket/v.tiktoken")
    assert no_network == []
    assert isinstance(info.value, OSError)


def test_offline_mode_uses_cache_and_local_files(no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKLM_OFFLINE", "1")
    assert load.is_offline()
    url = "https://openaipublic.blob.core.windows.net/encodings/v.tiktoken"
    # Pre-seeding the cache under sha1(url) makes a URL readable offline, with its hash checked.
    cache_path = tmp_path / "cache" / sha1(url)
    cache_path.parent.mkdir()
    cache_path.write_bytes(b"YQ== 0\n")
    assert load_tiktoken_bpe(url, expected_hash=sha256(b"YQ== 0\n")) == {b"a": 0}
    with pytest.raises(OfflineError):  # a cached copy with the wrong hash is not good enough
        read_file_cached(url, expected_hash="0" * 64)
    local = tmp_path / "local.tiktoken"
    local.write_bytes(b"Yg== 0\n")
    assert load_tiktoken_bpe(str(local)) == {b"b": 0}
    assert no_network == []


def test_offline_switch_precedence(monkeypatch):
    for value, expected in [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)]:
        monkeypatch.setenv("TOKLM_OFFLINE", value)
        assert load.is_offline() is expected
    monkeypatch.setenv("TOKLM_OFFLINE", "1")
    load.set_offline(False)
    assert not load.is_offline()  # set_offline overrides the environment
    load.set_offline(None)
    assert load.is_offline()
    with pytest.raises(TypeError):
        load.set_offline("yes")


# --- .tiktoken files ------------------------------------------------------------------------


def test_tiktoken_file_round_trip(tmp_path):
    ranks = {bytes([b]): b for b in range(256)} | {b"hello world": 256, b"\xe4\xb8": 300}
    path = tmp_path / "v.tiktoken"
    dump_tiktoken_bpe(ranks, str(path))
    text = path.read_bytes()
    assert text.startswith(b"AA== 0\nAQ== 1\n") and text.endswith(
        b"aGVsbG8gd29ybGQ= 256\n5Lg= 300\n"
    )
    assert load_tiktoken_bpe(str(path)) == ranks
    assert load_tiktoken_bpe(str(path), expected_hash=sha256(text)) == ranks


def test_tiktoken_file_skips_empty_lines(tmp_path):
    path = tmp_path / "v.tiktoken"
    path.write_bytes(b"YQ== 0\r\n\nYg==\t1\n\n")
    assert load_tiktoken_bpe(str(path)) == {b"a": 0, b"b": 1}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"YQ==", "expected 2 fields, found 1"),
        (b"YQ== 1 2", "expected 2 fields, found 3"),
        (b"Y!== 1", "invalid base64 token"),
        (b"YQ= 1", "invalid base64 token"),
        (b"YQ== one", "rank 'one' is not a non-negative integer"),
        (b"YQ== -1", "rank '-1' is not a non-negative integer"),
        (b"YQ== 7", "token b'a' already has rank 0"),
        (b"Yg== 0", "rank 0 already belongs to token b'a'"),
    ],
)
def test_malformed_tiktoken_file_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.tiktoken"
    path.write_bytes(b"YQ== 0\n\n" + line + b"\n")
    with pytest.raises(ValueError) as info:
        load_tiktoken_bpe(str(path))
    assert str(info.value).startswith(f"{path}, line 3: {problem}")
    assert repr(line) in str(info.value)


# --- GPT-2 encoder.json + vocab.bpe ------------------------------------------------------------


def gpt2_files(tmp_path: Path, merges: str, extra_encoder: dict[str, int] | None = None):
    """A tiny GPT-2-style vocabulary: the 256 byte tokens, then `merges` in order."""
    rank_to_byte, char_to_byte = load._data_gym_byte_table()
    byte_to_char = {b: c for c, b in char_to_byte.items()}
    encoder = {byte_to_char[b]: rank for rank, b in enumerate(rank_to_byte)}
    for i, line in enumerate(merges.splitlines()):
        encoder["".join(line.split())] = 256 + i
    encoder.update(extra_encoder or {})
    bpe, enc = tmp_path / "vocab.bpe", tmp_path / "encoder.json"
    bpe.write_text("#version: 0.2\n" + merges, encoding="utf-8")
    enc.write_text(json.dumps(encoder), encoding="utf-8")
    return str(bpe), str(enc)


def test_data_gym_ranks(tmp_path):
    bpe, enc = gpt2_files(tmp_path, "Ġ t\nĠt he\n", {"<|endoftext|>": 258})
    ranks = data_gym_to_mergeable_bpe_ranks(bpe, enc)
    assert ranks[b" t"] == 256 and ranks[b" the"] == 257 and len(ranks) == 258
    assert ranks[b"!"] == 0 and ranks[b" "] == 220 and ranks[b"\x00"] == 188  # GPT-2 byte order
    assert b"<|endoftext|>" not in ranks


def test_data_gym_bad_merge_line_names_file_and_line(tmp_path):
    bpe, enc = gpt2_files(tmp_path, "Ġ t\nĠt\n")
    with pytest.raises(
        ValueError, match=rf"^{re.escape(bpe)}, line 3: expected a merge 'first second'"
    ):
        data_gym_to_mergeable_bpe_ranks(bpe, enc)
    Path(bpe).write_text("#version: 0.2\nĠ t\na \x00\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=rf"^{re.escape(bpe)}, line 3: .*not a GPT-2 byte-level character"
    ):
        data_gym_to_mergeable_bpe_ranks(bpe, enc)


def test_data_gym_encoder_mismatch_is_explained(tmp_path):
    bpe, enc = gpt2_files(tmp_path, "Ġ t\nh e\n")
    Path(bpe).write_text("#version: 0.2\nh e\nĠ t\n", encoding="utf-8")  # merges swapped
    with pytest.raises(ValueError, match=r"token b'he' has rank 256 from the merges but 257"):
        data_gym_to_mergeable_bpe_ranks(bpe, enc)
    bpe, enc = gpt2_files(tmp_path, "Ġ t\n", {"xyz": 999})
    with pytest.raises(ValueError, match=r"token b'xyz' \(id 999\) has no merge"):
        data_gym_to_mergeable_bpe_ranks(bpe, enc)
    Path(enc).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{re.escape(enc)} is not valid JSON"):
        data_gym_to_mergeable_bpe_ranks(bpe, enc)


def test_data_gym_checks_hashes(tmp_path):
    bpe, enc = gpt2_files(tmp_path, "Ġ t\n")
    with pytest.raises(ValueError, match="Hash mismatch for .*vocab.bpe"):
        data_gym_to_mergeable_bpe_ranks(bpe, enc, vocab_bpe_hash="0" * 64)
    with pytest.raises(ValueError, match="Hash mismatch for .*encoder.json"):
        data_gym_to_mergeable_bpe_ranks(bpe, enc, encoder_json_hash="0" * 64)
