"""Reading BPE vocabularies: bundled files, `.tiktoken` files, GPT-2 `encoder.json` + `vocab.bpe`.

Compatible with `tiktoken.load` (same function names, cache directory and cache file names), plus:

* `bundled_ranks(name)`: the OpenAI vocabularies shipped inside the package, no network needed;
* an offline switch (`TOKLM_OFFLINE=1` or `set_offline(True)`) under which no network access is
  ever attempted;
* `ValueError`s that name the file and line of a malformed vocabulary, and both hashes on a
  sha256 mismatch.

This module imports nothing from the rest of `toklm`, so `scripts/build_vocab_data.py` can load it
before the native module is built.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import functools
import hashlib
import importlib.resources
import os
import sys
import zlib
from collections.abc import Iterator, Mapping

from toklm.byte_level import BYTE_CHARS, CHAR_BYTES, from_byte_level, split_merge

__all__ = [
    "BUNDLED_ENCODINGS",
    "CompactRanks",
    "OfflineError",
    "bundled_ranks",
    "data_gym_to_mergeable_bpe_ranks",
    "dump_tiktoken_bpe",
    "is_offline",
    "load_tiktoken_bpe",
    "rank_limit",
    "read_file",
    "read_file_cached",
    "set_offline",
    "tiktoken_bpe_bytes",
]

# Network reads give up after this many seconds without data (urllib's default is forever).
HTTP_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------------------------
# Compact ranks: the format of the bundled vocabularies (and of what the Rust core parses).
# --------------------------------------------------------------------------------------------


class CompactRanks(collections.abc.Mapping[bytes, int]):
    """Token bytes -> rank, stored as a "compact ranks" blob.

    Blob format: for rank r = 0, 1, 2, ... in order, one length byte L followed by the L bytes of
    the token; L == 0 marks an unused rank (a hole). Tokens are therefore 1..255 bytes long.

    `Encoding` hands `.blob` straight to the Rust core, so a bundled encoding never builds a
    Python dict; the dict is built only when this object is used as a mapping.

    >>> ranks = CompactRanks.from_ranks({b"a": 0, b"b": 1, b"ab": 3})
    >>> ranks.blob, ranks[b"ab"], len(ranks), ranks.n_ranks
    (b'\\x01a\\x01b\\x00\\x02ab', 3, 3, 4)
    """

    __slots__ = ("blob", "_dict")

    def __init__(self, blob: bytes) -> None:
        if not isinstance(blob, bytes):
            raise TypeError(f"CompactRanks expects bytes, got {type(blob).__name__}")
        self.blob = blob
        self._dict: dict[bytes, int] | None = None

    @classmethod
    def from_ranks(cls, ranks: Mapping[bytes, int]) -> CompactRanks:
        """Pack a token -> rank mapping; unused ranks below the largest become holes.

        >>> CompactRanks.from_ranks({b"x": 1}).blob
        b'\\x00\\x01x'
        """
        if isinstance(ranks, CompactRanks):
            return ranks
        by_rank: dict[int, bytes] = {}
        for token, rank in ranks.items():
            if not isinstance(token, bytes) or not 1 <= len(token) <= 255:
                raise ValueError(
                    f"token {token!r} (rank {rank}) cannot be stored: tokens must be bytes "
                    "of length 1 to 255"
                )
            if not isinstance(rank, int) or rank < 0:
                raise ValueError(f"token {token!r} has invalid rank {rank!r}")
            if rank in by_rank:
                raise ValueError(f"rank {rank} is used by both {by_rank[rank]!r} and {token!r}")
            by_rank[rank] = token
        largest = max(by_rank, default=-1)
        if largest >= rank_limit(len(by_rank)):
            raise ValueError(
                f"rank {largest} of token {by_rank[largest]!r} is beyond what a vocabulary of "
                f"{len(by_rank)} tokens can hold (ranks are stored densely: they must be below "
                f"{rank_limit(len(by_rank))})"
            )
        parts = []
        for rank in range(largest + 1):
            token = by_rank.get(rank, b"")
            parts.append(bytes((len(token),)))
            parts.append(token)
        return cls(b"".join(parts))

    def _mapping(self) -> dict[bytes, int]:
        if self._dict is None:
            self._dict = _parse_compact_blob(self.blob)
        return self._dict

    def __getitem__(self, token: bytes) -> int:
        return self._mapping()[token]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def __contains__(self, token: object) -> bool:
        return token in self._mapping()

    @property
    def n_ranks(self) -> int:
        """Number of rank slots, holes included (max rank + 1)."""
        return _count_compact_slots(self.blob)

    def __repr__(self) -> str:
        return f"CompactRanks(<{len(self.blob)} bytes>)"


def _parse_compact_blob(blob: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    pos, rank, end = 0, 0, len(blob)
    while pos < end:
        length = blob[pos]
        if pos + 1 + length > end:
            raise ValueError(f"compact ranks blob is truncated in the token of rank {rank}")
        if length:
            token = blob[pos + 1 : pos + 1 + length]
            if token in ranks:
                raise ValueError(
                    f"compact ranks blob has token {token!r} twice "
                    f"(ranks {ranks[token]} and {rank})"
                )
            ranks[token] = rank
        pos += 1 + length
        rank += 1
    return ranks


def _count_compact_slots(blob: bytes) -> int:
    pos, slots = 0, 0
    while pos < len(blob):
        pos += 1 + blob[pos]
        slots += 1
    return slots


# The OpenAI base vocabularies shipped in `toklm/data/<name>.ranks.z` (zlib-compressed compact
# blobs); p50k_base is derived from r50k_base at load time (see `_p50k_blob`).
BUNDLED_ENCODINGS = ("r50k_base", "p50k_base", "cl100k_base", "o200k_base")


@functools.cache
def bundled_ranks(name: str) -> CompactRanks:
    """The mergeable ranks of a vocabulary shipped with toklm (decompressed once, then cached).

    >>> bundled_ranks("cl100k_base")[b"hello"]
    15339
    """
    if name == "p50k_base":
        return CompactRanks(_p50k_blob(bundled_ranks("r50k_base").blob))
    if name not in BUNDLED_ENCODINGS:
        raise ValueError(
            f"No bundled vocabulary named {name!r}; bundled: {', '.join(BUNDLED_ENCODINGS)}"
        )
    resource = importlib.resources.files("toklm").joinpath("data").joinpath(f"{name}.ranks.z")
    return CompactRanks(zlib.decompress(resource.read_bytes()))


def _p50k_blob(r50k_blob: bytes) -> bytes:
    # p50k_base = r50k_base (ranks 0..50255), a hole at 50256 (the id of <|endoftext|>), then
    # runs of 2..25 spaces as ranks 50257..50280. Checked against the official sha256 in tests.
    spaces = b"".join(bytes((n,)) + b" " * n for n in range(2, 26))
    return r50k_blob + b"\x00" + spaces


# --------------------------------------------------------------------------------------------
# Offline switch
# --------------------------------------------------------------------------------------------


class OfflineError(OSError):
    """A network read was refused because toklm is in offline mode."""


_offline_override: bool | None = None
_TRUTHY = ("1", "true", "yes", "on")
# The switches of the Hugging Face libraries (huggingface_hub, transformers, datasets).
HUB_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
# Their values before toklm turned them on, restored when toklm goes back online.
_saved_hub_env: dict[str, str | None] | None = None


def set_offline(offline: bool | None) -> None:
    """Forbid (True) or allow (False) network access in this process; None defers to env.

    Going offline also sets the Hugging Face libraries offline (`HF_HUB_OFFLINE` and friends,
    and `huggingface_hub.constants` if it is already imported); going online restores them.

    >>> set_offline(True); is_offline(), os.environ["HF_HUB_OFFLINE"]
    (True, '1')
    >>> set_offline(None)
    """
    global _offline_override
    if offline is not None and not isinstance(offline, bool):
        raise TypeError(f"set_offline expects True, False or None, got {offline!r}")
    _offline_override = offline
    _apply_to_hub_libraries(is_offline())


def is_offline() -> bool:
    """Whether network access is forbidden: `set_offline`, else env TOKLM_OFFLINE=1/true/yes/on.

    This is the one switch toklm consults before any network access (URLs here, the Hugging
    Face hub in `toklm.hub`).

    >>> isinstance(is_offline(), bool)
    True
    """
    if _offline_override is not None:
        return _offline_override
    return os.environ.get("TOKLM_OFFLINE", "").strip().lower() in _TRUTHY


def _apply_to_hub_libraries(offline: bool) -> None:
    """Make the Hugging Face libraries agree with toklm's switch, before any of their calls."""
    global _saved_hub_env
    if offline and _saved_hub_env is None:
        _saved_hub_env = {var: os.environ.get(var) for var in HUB_OFFLINE_VARS}
        for var in HUB_OFFLINE_VARS:
            os.environ[var] = "1"
    elif not offline and _saved_hub_env is not None:
        for var, old in _saved_hub_env.items():
            if old is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = old
        _saved_hub_env = None
    # huggingface_hub reads its switch once, at import: an imported module is told directly.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        env_says = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY
        constants.HF_HUB_OFFLINE = offline or env_says  # type: ignore[attr-defined]


_apply_to_hub_libraries(is_offline())


# --------------------------------------------------------------------------------------------
# Reading files and URLs, with tiktoken's cache
# --------------------------------------------------------------------------------------------


def _refuse_offline(url: str, cache_note: str) -> OfflineError:
    return OfflineError(
        f"toklm is offline (TOKLM_OFFLINE / toklm.load.set_offline), so {url} was not fetched; "
        f"{cache_note}"
    )


def _is_remote(path_or_url: str) -> bool:
    return "://" in path_or_url and not path_or_url.startswith("file://")


def _read(path_or_url: str, cache_note: str) -> bytes:
    if "://" not in path_or_url:
        with open(path_or_url, "rb", buffering=0) as f:
            return f.read()
    # urllib.request costs ~30 ms to import: only URLs pay for it.
    import urllib.parse
    import urllib.request

    if path_or_url.startswith("file://"):
        parsed = urllib.parse.urlparse(path_or_url)
        with open(urllib.request.url2pathname(parsed.path), "rb", buffering=0) as f:
            return f.read()
    # Every network access in toklm goes through this point.
    if is_offline():
        raise _refuse_offline(path_or_url, cache_note)
    if path_or_url.startswith(("http://", "https://")):
        with urllib.request.urlopen(path_or_url, timeout=HTTP_TIMEOUT_S) as resp:
            return resp.read()
    try:
        import blobfile  # optional, for gs:// az:// ... exactly as tiktoken does
    except ImportError as e:
        raise ImportError(f"Reading {path_or_url} needs blobfile: pip install blobfile") from e
    return blobfile.read_bytes(path_or_url)


def read_file(path_or_url: str) -> bytes:
    """Read a local path, a `file://` URL or (unless offline) an http(s) URL, without caching.

    >>> read_file(__file__).startswith(b'"' * 3 + b"Reading BPE")
    True
    """
    return _read(os.fspath(path_or_url), "caching was not used for this read")


def _cache_dir() -> tuple[str, bool]:
    """tiktoken's cache directory and whether the user chose it ("" disables caching)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"], True
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"], True
    import tempfile

    return os.path.join(tempfile.gettempdir(), "data-gym-cache"), False


def cache_path_for(path_or_url: str) -> str | None:
    """Where `read_file_cached` caches a URL (file named sha1(url), as tiktoken), or None.

    None when caching is disabled or `path_or_url` is local (local files are not cached).

    >>> url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    >>> os.path.basename(cache_path_for(url) or "")
    '9b5ad71b2ce5302211f9c61530b329a4922fc6a4'
    """
    cache_dir, _ = _cache_dir()
    if cache_dir == "" or not _is_remote(path_or_url):
        return None
    return os.path.join(cache_dir, hashlib.sha1(path_or_url.encode()).hexdigest())


def _check_hash(path_or_url: str, data: bytes, expected_hash: str | None) -> None:
    if expected_hash is None:
        return
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_hash:
        raise ValueError(
            f"Hash mismatch for {path_or_url}: expected sha256 {expected_hash}, got {actual}. "
            "The download may be corrupted or the file was changed; delete it and try again."
        )


def read_file_cached(path_or_url: str, expected_hash: str | None = None) -> bytes:
    """`read_file` through tiktoken's cache, checking sha256 when `expected_hash` is given.

    Cache directory: $TIKTOKEN_CACHE_DIR, else $DATA_GYM_CACHE_DIR, else
    $TMPDIR/data-gym-cache; an empty value disables caching. A cached copy with the wrong
    hash is deleted and fetched again. Writes are atomic; write errors are ignored for the
    default directory but raised for one the user chose. Unlike tiktoken 0.14, local paths and
    file:// URLs are read directly (a cached copy of a local file would go stale when it is
    edited), and the hash is checked even when caching is disabled.

    >>> data = read_file(__file__)
    >>> read_file_cached(__file__, expected_hash=hashlib.sha256(data).hexdigest()) == data
    True
    """
    path_or_url = os.fspath(path_or_url)
    cache_path = cache_path_for(path_or_url)
    if cache_path is None:
        data = _read(path_or_url, "caching is disabled (TIKTOKEN_CACHE_DIR is empty)")
        _check_hash(path_or_url, data, expected_hash)
        return data

    cache_dir, user_specified_cache = _cache_dir()
    if os.path.exists(cache_path):
        with open(cache_path, "rb", buffering=0) as f:
            data = f.read()
        if expected_hash is None or hashlib.sha256(data).hexdigest() == expected_hash:
            return data
        try:  # stale or corrupted copy: remove it and fetch again
            os.remove(cache_path)
        except OSError:
            pass

    data = _read(
        path_or_url,
        f"no usable cached copy at {cache_path} (to work offline, copy the file there)",
    )
    _check_hash(path_or_url, data, expected_hash)

    import uuid

    tmp_path = f"{cache_path}.{uuid.uuid4()}.tmp"
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with open(tmp_path, "wb") as f:
            f.write(data)
        # Readers see either no file or the complete one, never a partial write.
        os.replace(tmp_path, cache_path)
    except OSError:
        try:
            os.remove(tmp_path)
        except OSError:
            pass
        if user_specified_cache:
            raise
    return data


# --------------------------------------------------------------------------------------------
# .tiktoken files
# --------------------------------------------------------------------------------------------


def load_tiktoken_bpe(tiktoken_bpe_file: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Parse a `.tiktoken` file (lines `base64(token) rank`) from a path or URL, via the cache.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "v.tiktoken"); dump_tiktoken_bpe({b"hi": 0}, p)
    >>> load_tiktoken_bpe(p)
    {b'hi': 0}
    """
    contents = read_file_cached(tiktoken_bpe_file, expected_hash)
    # The fast pass only detects that something is wrong; the checked pass says what and where.
    ranks = _parse_tiktoken_bpe_fast(contents)
    if ranks is None:
        ranks = _parse_tiktoken_bpe_checked(contents, tiktoken_bpe_file)
    return ranks


if sys.version_info >= (3, 11):

    def _b64decode_strict(token_b64: bytes) -> bytes:
        return binascii.a2b_base64(token_b64, strict_mode=True)

else:  # pragma: no cover - Python 3.10

    def _b64decode_strict(token_b64: bytes) -> bytes:
        return base64.b64decode(token_b64, validate=True)


def _parse_tiktoken_bpe_fast(contents: bytes) -> dict[bytes, int] | None:
    """The ranks, or None if any line is malformed or any token or rank repeats."""
    ranks: dict[bytes, int] = {}
    n_entries = 0
    try:
        for line in contents.splitlines():
            if not line:
                continue
            token_b64, rank_text = line.split()  # ValueError unless exactly 2 fields
            token = _b64decode_strict(token_b64)  # binascii.Error is a ValueError
            if not token or not rank_text.isdigit():  # bytes.isdigit: ASCII digits only
                return None
            ranks[token] = int(rank_text)
            n_entries += 1
    except ValueError:
        return None
    if len(ranks) != n_entries or len(set(ranks.values())) != n_entries:
        return None
    if n_entries and max(ranks.values()) >= rank_limit(n_entries):
        return None
    return ranks


# Ranks are stored densely (a slot per rank up to the largest): a vocabulary of n tokens may use
# ranks below 2n + 65536, so memory follows the number of tokens, never one huge rank. The Rust
# core applies the same rule (`vocab::id_limit`) to every vocabulary it builds.
RANK_SLACK = 1 << 16


def rank_limit(n_tokens: int) -> int:
    """One more than the largest rank (or id) a vocabulary of `n_tokens` tokens may use.

    >>> rank_limit(100_000)
    265536
    """
    return 2 * n_tokens + RANK_SLACK


def _parse_tiktoken_bpe_checked(contents: bytes, tiktoken_bpe_file: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    token_of_rank: dict[int, bytes] = {}
    largest = (-1, 0)  # (rank, line)
    for line_no, line in enumerate(contents.splitlines(), start=1):
        if not line:
            continue
        token, rank, problem = _parse_tiktoken_line(line)
        if problem is None and token in ranks:
            problem = f"token {token!r} already has rank {ranks[token]}"
        if problem is None and rank in token_of_rank:
            problem = f"rank {rank} already belongs to token {token_of_rank[rank]!r}"
        if problem is not None:
            excerpt = line if len(line) <= 80 else line[:80] + b"..."
            raise ValueError(
                f"{tiktoken_bpe_file}, line {line_no}: {problem} (line: {excerpt!r}); "
                "expected 'base64(token) rank'"
            )
        ranks[token] = rank
        token_of_rank[rank] = token
        if rank > largest[0]:
            largest = (rank, line_no)
    if ranks and largest[0] >= rank_limit(len(ranks)):
        raise ValueError(
            f"{tiktoken_bpe_file}, line {largest[1]}: rank {largest[0]} is beyond what a "
            f"vocabulary of {len(ranks)} tokens can hold (ranks are stored densely: they must "
            f"be below {rank_limit(len(ranks))})"
        )
    return ranks


def _parse_tiktoken_line(line: bytes) -> tuple[bytes, int, str | None]:
    """(token, rank, None), or (b"", -1, what is wrong)."""
    fields = line.split()
    if len(fields) != 2:
        return b"", -1, f"expected 2 fields, found {len(fields)}"
    token_b64, rank_text = fields
    try:
        token = _b64decode_strict(token_b64)
    except binascii.Error:
        return b"", -1, "invalid base64 token"
    if not token:
        return b"", -1, "empty token"
    if not rank_text.isdigit():
        return b"", -1, f"rank {rank_text.decode(errors='replace')!r} is not a non-negative integer"
    return token, int(rank_text), None


def tiktoken_bpe_bytes(ranks: Mapping[bytes, int]) -> bytes:
    """The `.tiktoken` file contents for `ranks`, in rank order.

    >>> tiktoken_bpe_bytes({b"b": 1, b"a": 0})
    b'YQ== 0\\nYg== 1\\n'
    """
    if isinstance(ranks, CompactRanks):
        ranks = ranks._mapping()  # already in rank order
    else:
        ranks = dict(sorted(ranks.items(), key=lambda item: item[1]))
    return b"".join(
        base64.b64encode(token) + b" " + str(rank).encode() + b"\n" for token, rank in ranks.items()
    )


def dump_tiktoken_bpe(bpe_ranks: Mapping[bytes, int], tiktoken_bpe_file: str) -> None:
    """Write `bpe_ranks` as a `.tiktoken` file at a local path (same format tiktoken writes).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "v.tiktoken"); dump_tiktoken_bpe({b"a": 0}, p)
    >>> open(p, "rb").read()
    b'YQ== 0\\n'
    """
    with open(tiktoken_bpe_file, "wb") as f:
        f.write(tiktoken_bpe_bytes(bpe_ranks))


# --------------------------------------------------------------------------------------------
# GPT-2 encoder.json + vocab.bpe ("data gym" format)
# --------------------------------------------------------------------------------------------


def _data_gym_byte_table() -> tuple[list[int], dict[str, int]]:
    """GPT-2's byte order (the bytes whose character is themselves first, i.e. by character) and
    its char -> byte map."""
    return sorted(range(256), key=lambda b: BYTE_CHARS[b]), CHAR_BYTES


def data_gym_to_mergeable_bpe_ranks(
    vocab_bpe_file: str,
    encoder_json_file: str,
    vocab_bpe_hash: str | None = None,
    encoder_json_hash: str | None = None,
    clobber_one_byte_tokens: bool = False,
) -> dict[bytes, int]:
    """Mergeable ranks from GPT-2's `vocab.bpe` (merges) checked against `encoder.json`.

    Ranks 0..255 are the single bytes in GPT-2's order, then one rank per merge line, in file
    order; the result must equal `encoder.json` (minus `<|endoftext|>`/`<|startoftext|>`).

    >>> import tempfile, os, json
    >>> d = tempfile.mkdtemp(); bpe, enc = os.path.join(d, "vocab.bpe"), os.path.join(d, "e.json")
    >>> _ = open(bpe, "w").write("#version: 0.2\\nh i\\n")
    >>> rank_to_byte, char_to_byte = _data_gym_byte_table()
    >>> encoder = {c: rank_to_byte.index(b) for c, b in char_to_byte.items()} | {"hi": 256}
    >>> _ = open(enc, "w").write(json.dumps(encoder))
    >>> data_gym_to_mergeable_bpe_ranks(bpe, enc)[b"hi"]
    256
    """
    import json

    rank_to_byte, _ = _data_gym_byte_table()

    def decode_data_gym(value: str, where: str) -> bytes:
        try:
            return from_byte_level(value)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None

    bpe_ranks = {bytes((b,)): rank for rank, b in enumerate(rank_to_byte)}

    vocab_bpe_bytes = read_file_cached(vocab_bpe_file, vocab_bpe_hash)
    try:
        vocab_bpe = vocab_bpe_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{vocab_bpe_file} is not UTF-8 text: {e}") from None
    lines = vocab_bpe.split("\n")
    # Line 1 is the "#version: 0.2" header; the file ends with a newline.
    while lines and lines[-1] == "":
        lines.pop()
    for line_no, line in enumerate(lines[1:], start=2):
        where = f"{vocab_bpe_file}, line {line_no}"
        parts = split_merge(line, any_whitespace=True)
        if parts is None:
            raise ValueError(f"{where}: expected a merge 'first second', got {line[:80]!r}")
        merged = decode_data_gym(parts[0], where) + decode_data_gym(parts[1], where)
        if merged in bpe_ranks:
            raise ValueError(f"{where}: merge {line!r} repeats token {merged!r}")
        bpe_ranks[merged] = len(bpe_ranks)

    try:
        encoder_json = json.loads(read_file_cached(encoder_json_file, encoder_json_hash))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{encoder_json_file} is not valid JSON: {e}") from None
    if not isinstance(encoder_json, dict):
        raise ValueError(f"{encoder_json_file}: expected a JSON object of token -> id")
    encoder = {decode_data_gym(k, encoder_json_file): v for k, v in encoder_json.items()}
    # Not mergeable BPE tokens:
    encoder.pop(b"<|endoftext|>", None)
    encoder.pop(b"<|startoftext|>", None)

    if clobber_one_byte_tokens:
        for token, rank in encoder.items():
            if len(token) == 1:
                bpe_ranks[token] = rank

    # tiktoken assumes ranks are ordered by merge priority, so the two files must agree exactly.
    if bpe_ranks != encoder:
        for token, rank in bpe_ranks.items():
            if encoder.get(token) != rank:
                raise ValueError(
                    f"{encoder_json_file} does not match {vocab_bpe_file}: token {token!r} has "
                    f"rank {rank} from the merges but {encoder.get(token)!r} in encoder.json"
                )
        extra = next(t for t in encoder if t not in bpe_ranks)
        raise ValueError(
            f"{encoder_json_file} does not match {vocab_bpe_file}: token {extra!r} "
            f"(id {encoder[extra]}) has no merge in {vocab_bpe_file}"
        )
    return bpe_ranks
