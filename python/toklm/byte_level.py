"""GPT-2's byte-level text format, shared by `encoder.json`/`vocab.bpe`, `vocab.json`/`merges.txt`
and byte-level `tokenizer.json` files: every byte is written as one visible character
(`bytes_to_unicode`), and a merge as a "left right" line.

Printable Latin-1 bytes stand for themselves; the other 68 bytes for U+0100.. in byte order.

>>> to_byte_level(b" hello\\n")
'ĠhelloĊ'
>>> from_byte_level("Ġhi")
b' hi'
>>> split_merge("Ġ t"), split_merge("a  b"), split_merge("a  b", any_whitespace=True)
(('Ġ', 't'), None, ('a', 'b'))
"""

from __future__ import annotations

__all__ = ["BYTE_CHARS", "CHAR_BYTES", "from_byte_level", "split_merge", "to_byte_level"]


def _bytes_to_unicode() -> list[str]:
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    chars, shifted = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + shifted))
            shifted += 1
    return chars


# byte -> its character, and back.
BYTE_CHARS: list[str] = _bytes_to_unicode()
CHAR_BYTES: dict[str, int] = {c: b for b, c in enumerate(BYTE_CHARS)}


def to_byte_level(data: bytes) -> str:
    """The byte-level string of `data` (each byte one visible character)."""
    return "".join(BYTE_CHARS[b] for b in data)


def from_byte_level(text: str) -> bytes:
    """The bytes a byte-level string stands for; ValueError naming a character outside the
    alphabet.

    >>> from_byte_level("a b")
    Traceback (most recent call last):
    ...
    ValueError: ' ' in 'a b' is not a GPT-2 byte-level character
    """
    try:
        return bytes(CHAR_BYTES[c] for c in text)
    except KeyError as e:
        raise ValueError(f"{e.args[0]!r} in {text!r} is not a GPT-2 byte-level character") from None


def split_merge(line: str, *, any_whitespace: bool = False) -> tuple[str, str] | None:
    """A merge line as (left, right), or None when it is not two tokens. Hugging Face's files
    separate them by exactly one space; GPT-2's own `vocab.bpe` reader (and tiktoken's) by any
    run of whitespace (`any_whitespace`)."""
    parts = line.split() if any_whitespace else line.split(" ")
    if len(parts) != 2:
        return None
    return parts[0], parts[1]
