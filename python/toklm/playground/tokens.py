"""One tokenizer's reading of one text: ids, token bytes and UTF-8 byte offsets.

This is what the playground's API returns and what its views draw. Special-token strings are
encoded as ordinary text (as `toklm count` and the economics reports bill them); a Hugging Face
tokenizer still matches its added tokens, as its `encode_ordinary` does.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FIELDS", "Tokenized", "label_of", "tokenize"]

# The per-token arrays of an API record.
FIELDS = ("ids", "pieces", "bytes", "offsets")


def label_of(tok: Any) -> str:
    """The name a tokenizer is shown under.

    >>> import toklm; label_of(toklm.get_encoding("gpt2"))
    'gpt2'
    """
    return str(getattr(tok, "name", None) or type(tok).__name__)


# One token id as the views and the API need it: its bytes, its text as JSON (null for part of
# a character), its bytes as JSON hex, its length in bytes, whether it is part of a character.
Entry = tuple[bytes, str, str, int, bool]


def _entry(data: bytes) -> Entry:
    try:
        return (data, json.dumps(data.decode("utf-8"), ensure_ascii=False), f'"{data.hex()}"',
                len(data), False)  # fmt: skip
    except UnicodeDecodeError:
        return (data, "null", f'"{data.hex()}"', len(data), True)


class _Vocab:
    """One tokenizer's ids as far as they have been seen: the `Entry` of each, and numpy arrays
    of their byte lengths and fragment flags, so that a whole text's offsets and counts are
    computed without a Python step per token. Filled on use, kept for the tokenizer's life."""

    _lock = threading.Lock()
    _all: weakref.WeakKeyDictionary[Any, _Vocab] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        import numpy as np  # not at import: the page is served before numpy is needed

        self.entries: dict[int, Entry] = {}
        self.lengths = np.zeros(0, dtype=np.int64)
        self.fragments = np.zeros(0, dtype=bool)
        self.known = np.zeros(0, dtype=bool)

    @classmethod
    def of(cls, tok: Any) -> _Vocab:
        with cls._lock:
            try:
                vocab = cls._all.get(tok)
                if vocab is None:
                    vocab = cls._all[tok] = _Vocab()
            except TypeError:  # not weakly referenceable: no cache
                vocab = _Vocab()
        return vocab

    def learn(self, tok: Any, ids: np.ndarray) -> None:
        """Make sure every id in `ids` (ids of `tok`) is known."""
        import numpy as np

        if not ids.size:
            return
        with self._lock:
            top = int(ids.max()) + 1
            if top > self.known.size:
                size = max(top, 2 * self.known.size)
                for name in ("lengths", "fragments", "known"):
                    old = getattr(self, name)
                    new = np.zeros(size, dtype=old.dtype)
                    new[: old.size] = old
                    setattr(self, name, new)
            new_ids = np.unique(ids[~self.known[ids]]).tolist()
            if not new_ids:
                return
            if hasattr(tok, "decode_tokens_bytes"):
                data = tok.decode_tokens_bytes(new_ids)
            else:
                data = [tok.decode_single_token_bytes(i) for i in new_ids]
            for i, b in zip(new_ids, data, strict=True):
                self.entries[i] = _entry(b)
            self.lengths[new_ids] = [len(b) for b in data]
            self.fragments[new_ids] = [self.entries[i][4] for i in new_ids]
            self.known[new_ids] = True


@dataclass
class Tokenized:
    """`ids` of `text` under tokenizer `spec` (shown as `name`), with each token's bytes and its
    [start, end) UTF-8 byte offsets in the text."""

    spec: str
    name: str
    n_vocab: int | None
    text_chars: int
    text_bytes: int
    ids: list[int]
    starts: list[int]
    ends: list[int]
    fragments: int
    _vocab: _Vocab

    @property
    def entries(self) -> list[Entry]:
        """Each token's `Entry`, in order."""
        table = self._vocab.entries
        return [table[i] for i in self.ids]

    def piece(self, k: int) -> bytes:
        """The bytes of token `k`."""
        return self._vocab.entries[self.ids[k]][0]

    def fragment(self, k: int) -> bool:
        """Whether token `k` is only part of a UTF-8 character (its bytes are not valid UTF-8)."""
        return self._vocab.entries[self.ids[k]][4]

    @property
    def count(self) -> int:
        return len(self.ids)

    def stats(self) -> dict[str, Any]:
        """Count, characters and bytes per token, byte fragments.

        >>> import toklm; tokenize(toklm.get_encoding("gpt2"), "hi 🎉", "gpt2").stats()["count"]
        4
        """
        n = self.count
        return {
            "tokenizer": self.spec,
            "name": self.name,
            "n_vocab": self.n_vocab,
            "count": n,
            "chars_per_token": self.text_chars / n if n else None,
            "bytes_per_token": self.text_bytes / n if n else None,
            "byte_fragments": self.fragments,
        }

    def to_json(self, fields: Sequence[str] = FIELDS) -> str:
        """The API record as JSON text: the stats, then one entry per token in each of `ids`,
        `pieces` (the text, or null for part of a character), `bytes` (hex), and `starts` /
        `ends` (UTF-8 byte offsets: token k is bytes [starts[k], ends[k]) of the text); only
        the `fields` asked for ("offsets" stands for starts and ends).

        >>> import toklm, json
        >>> rec = json.loads(tokenize(toklm.get_encoding("gpt2"), "hi 🎉", "gpt2").to_json())
        >>> rec["ids"], rec["pieces"], rec["bytes"], rec["starts"], rec["ends"]
        ([5303, 12520, 236, 231], ['hi', None, None, None], ['6869', '20f09f', '8e', '89'], \
[0, 2, 5, 6], [2, 5, 6, 7])
        """
        parts = [json.dumps(self.stats(), ensure_ascii=False)[:-1]]
        if "ids" in fields:
            parts.append(f'"ids": {json.dumps(self.ids)}')
        entries = self.entries if "pieces" in fields or "bytes" in fields else []
        if "pieces" in fields:
            parts.append(f'"pieces": [{",".join([e[1] for e in entries])}]')
        if "bytes" in fields:
            parts.append(f'"bytes": [{",".join([e[2] for e in entries])}]')
        if "offsets" in fields:
            parts.append(f'"starts": {json.dumps(self.starts)}, "ends": {json.dumps(self.ends)}')
        return ", ".join(parts) + "}"


def _char_to_byte(text: str) -> list[int]:
    """`table[c]` is the UTF-8 byte offset of character `c` (and of the end, at len(text))."""
    return list(itertools.accumulate((len(ch.encode("utf-8")) for ch in text), initial=0))


def _byte_offsets(
    tok: Any, text: str, data: bytes, ids: list[int], lengths: np.ndarray
) -> tuple[list[int], list[int]]:
    """[start, end) byte offsets of each token in `data` (the UTF-8 of `text`)."""
    import numpy as np

    encode_raw = getattr(tok, "_encode_raw", None)  # a Hugging Face tokenizer
    if int(lengths.sum()) == len(data) and (encode_raw is None or tok.decode_bytes(ids) == data):
        ends = np.cumsum(lengths)
        return (ends - lengths).tolist(), ends.tolist()
    # The tokenizer changed the text (a normalizer, a prefix space): its character offsets.
    if encode_raw is None:
        raise ValueError(f"{label_of(tok)}: the tokens do not spell the text and carry no offsets")
    raw_ids, offsets, _ = encode_raw(text, True)
    if raw_ids != ids or offsets is None:
        raise ValueError(f"{label_of(tok)}: offsets do not match the ids")
    table = _char_to_byte(text)
    return [table[s] for s, _ in offsets], [table[e] for _, e in offsets]


def tokenize(tok: Any, text: str, spec: str | None = None) -> Tokenized:
    """Encode `text` with `tok` (an `Encoding` or a Hugging Face `Tokenizer`).

    >>> import toklm; t = tokenize(toklm.get_encoding("o200k_base"), "안녕하세요")
    >>> t.ids, t.starts, t.ends
    ([14307, 171731], [0, 3], [3, 15])
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    import numpy as np

    clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    data = clean.encode("utf-8")
    ids = list(tok.encode_ordinary(clean))
    array = np.array(ids, dtype=np.int64)
    vocab = _Vocab.of(tok)
    vocab.learn(tok, array)
    starts, ends = _byte_offsets(tok, clean, data, ids, vocab.lengths[array])
    return Tokenized(
        spec=spec if spec is not None else label_of(tok),
        name=label_of(tok),
        n_vocab=getattr(tok, "n_vocab", None),
        text_chars=len(clean),
        text_bytes=len(data),
        ids=ids,
        starts=starts,
        ends=ends,
        fragments=int(vocab.fragments[array].sum()),
        _vocab=vocab,
    )
