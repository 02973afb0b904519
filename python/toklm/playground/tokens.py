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
from dataclasses import dataclass
from typing import Any

__all__ = ["Tokenized", "label_of", "tokenize"]


def label_of(tok: Any) -> str:
    """The name a tokenizer is shown under.

    >>> import toklm; label_of(toklm.get_encoding("gpt2"))
    'gpt2'
    """
    return str(getattr(tok, "name", None) or type(tok).__name__)


class _PieceCache:
    """Per tokenizer: id -> (bytes, JSON of its text or null, JSON of its hex), filled on use.

    A text touches few distinct ids, so the per-token work (decode, hex, JSON quoting) is done
    once per id for the life of the tokenizer, not once per token.
    """

    _lock = threading.Lock()
    _by_tokenizer: weakref.WeakKeyDictionary[Any, dict[int, tuple[bytes, str, str]]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def table(cls, tok: Any, ids: list[int]) -> dict[int, tuple[bytes, str, str]]:
        with cls._lock:
            try:
                table = cls._by_tokenizer.setdefault(tok, {})
            except TypeError:  # not weakly referenceable: no cache
                table = {}
        missing = [i for i in set(ids) if i not in table]
        if missing:
            if hasattr(tok, "decode_tokens_bytes"):
                data = tok.decode_tokens_bytes(missing)
            else:
                data = [tok.decode_single_token_bytes(i) for i in missing]
            for i, b in zip(missing, data, strict=True):
                try:
                    text = json.dumps(b.decode("utf-8"), ensure_ascii=False)
                except UnicodeDecodeError:
                    text = "null"
                table[i] = (b, text, '"' + b.hex() + '"')
        return table


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
    pieces: list[bytes]
    starts: list[int]
    ends: list[int]
    _table: dict[int, tuple[bytes, str, str]]

    @property
    def count(self) -> int:
        return len(self.ids)

    def fragment(self, k: int) -> bool:
        """Whether token `k` is only part of a UTF-8 character (its bytes are not valid UTF-8)."""
        return self._table[self.ids[k]][1] == "null"

    @property
    def fragments(self) -> int:
        """How many tokens are only parts of characters."""
        return sum(1 for i in self.ids if self._table[i][1] == "null")

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

    def to_json(self) -> str:
        """The API record as JSON text: stats, ids, pieces (text, or null for a part of a
        character), bytes (hex) and [start, end) UTF-8 byte offsets, one entry per token.

        >>> import toklm, json
        >>> rec = json.loads(tokenize(toklm.get_encoding("gpt2"), "hi 🎉", "gpt2").to_json())
        >>> rec["ids"], rec["pieces"], rec["bytes"], rec["offsets"]
        ([5303, 12520, 236, 231], ['hi', None, None, None], ['6869', '20f09f', '8e', '89'], \
[[0, 2], [2, 5], [5, 6], [6, 7]])
        """
        table = self._table
        head = json.dumps(self.stats(), ensure_ascii=False)[:-1]
        pieces = ",".join([table[i][1] for i in self.ids])
        hexes = ",".join([table[i][2] for i in self.ids])
        offsets = json.dumps(list(zip(self.starts, self.ends, strict=True)))
        return (
            f'{head}, "ids": {json.dumps(self.ids)}, "pieces": [{pieces}], '
            f'"bytes": [{hexes}], "offsets": {offsets}}}'
        )


def _char_to_byte(text: str) -> list[int]:
    """`table[c]` is the UTF-8 byte offset of character `c` (and of the end, at len(text))."""
    return list(itertools.accumulate((len(ch.encode("utf-8")) for ch in text), initial=0))


def _byte_offsets(
    tok: Any, text: str, data: bytes, ids: list[int], pieces: list[bytes]
) -> tuple[list[int], list[int]]:
    """[start, end) byte offsets of each token in `data` (the UTF-8 of `text`)."""
    lengths = [len(b) for b in pieces]
    if sum(lengths) == len(data) and b"".join(pieces) == data:
        starts = list(itertools.accumulate(lengths, initial=0))
        return starts[:-1], starts[1:]
    # The tokenizer changed the text (a normalizer, a prefix space): its character offsets.
    encode_raw = getattr(tok, "_encode_raw", None)
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
    clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    data = clean.encode("utf-8")
    ids = list(tok.encode_ordinary(clean))
    table = _PieceCache.table(tok, ids)
    pieces = [table[i][0] for i in ids]
    starts, ends = _byte_offsets(tok, clean, data, ids, pieces)
    return Tokenized(
        spec=spec if spec is not None else label_of(tok),
        name=label_of(tok),
        n_vocab=getattr(tok, "n_vocab", None),
        text_chars=len(clean),
        text_bytes=len(data),
        ids=ids,
        pieces=pieces,
        starts=starts,
        ends=ends,
        _table=table,
    )
