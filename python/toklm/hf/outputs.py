"""What `Tokenizer` hands back: `BatchEncoding`, tensors, streaming decoding, and its errors."""

from __future__ import annotations

from typing import Any


class UnknownTokenIdError(ValueError, KeyError):
    """An id with no token: a ValueError and, as in toklm.Encoding, a KeyError."""

    def __str__(self) -> str:
        return str(self.args[0])


class BatchEncoding(dict):  # type: ignore[type-arg]
    """The dict `__call__` returns (`input_ids`, `attention_mask`, ...), readable as attributes.

    >>> BatchEncoding({"input_ids": [1, 2]}).input_ids
    [1, 2]
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device: Any) -> BatchEncoding:
        """Move torch tensors to `device` (other values unchanged)."""
        return BatchEncoding({k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()})


class StreamDecoder:
    """Incremental decoding: `step(id)` returns the text that token completes, holding back a
    character split across tokens until its last byte arrives, so output never breaks one.

    >>> s = StreamDecoder(lambda ids: bytes(ids), byte_level=True)
    >>> [s.step(b) for b in "é!".encode()], s.flush()
    (['', 'é', '!'], '')
    """

    def __init__(self, token_bytes: Any, *, byte_level: bool) -> None:
        self._token_bytes = token_bytes
        self._byte_level = byte_level
        self._pending = b""
        self._first = True

    def step(self, token_id: int) -> str:
        data = self._token_bytes([token_id])
        if not self._byte_level:  # tokens joined by spaces (no decoder)
            text = data.decode("utf-8", errors="replace")
            if not data:
                return ""
            out, self._first = (text if self._first else " " + text), False
            return out
        buf = self._pending + data
        cut = _complete_prefix(buf)
        self._pending = buf[cut:]
        return buf[:cut].decode("utf-8", errors="replace")

    def flush(self) -> str:
        """Whatever is held back (an incomplete character decodes to U+FFFD)."""
        out, self._pending = self._pending.decode("utf-8", errors="replace"), b""
        return out


def _complete_prefix(buf: bytes) -> int:
    """Length of `buf` minus a trailing sequence that could still become a valid character."""
    n = len(buf)
    for back in range(1, min(3, n) + 1):
        b = buf[n - back]
        if b < 0x80:
            return n
        if b >= 0xC0:  # a lead byte: incomplete if it wants more bytes than follow it
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            if b >= 0xF5 or (0xC0 <= b < 0xC2) or need <= back:
                return n
            try:  # e.g. E0 80 is invalid at once and must not be held back
                buf[n - back :].decode("utf-8")
            except UnicodeDecodeError as e:
                if e.reason != "unexpected end of data":
                    return n
            return n - back
    return n


def to_list(obj: Any) -> Any:
    """numpy arrays and torch tensors to (nested) lists of int, like transformers' to_py_obj.

    >>> import numpy as np; to_list(np.array([[1, 2]]))
    [[1, 2]]
    """
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def to_tensor(value: list[Any], kind: str, key: str) -> Any:
    """A batch of equal-length rows as numpy or torch; ValueError for ragged rows.

    >>> to_tensor([[1, 2], [3, 4]], "np", "input_ids").shape
    (2, 2)
    """
    if key != "length" and len({len(row) for row in value}) > 1:
        raise ValueError(
            f"cannot make a tensor of {key} rows of different lengths; pass padding=True "
            "(or padding='max_length') to pad them"
        )
    if kind == "np":
        import numpy as np

        return np.asarray(value, dtype=np.int64)
    if kind == "pt":
        import torch

        return torch.tensor(value, dtype=torch.int64)
    raise ValueError(f"return_tensors must be None, 'np' or 'pt', got {kind!r}")
