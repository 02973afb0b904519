"""`Encoding`: a drop-in for `tiktoken.Encoding`, backed by toklm's Rust core.

Python owns policy (which special tokens are allowed, error texts, surrogates, pickling);
`toklm._core.CoreBPE` owns the loops and releases the GIL while it runs them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from toklm import _core
from toklm.load import CompactRanks
from toklm.native import DEFAULT_THREADS, ID_LIMIT

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_T = TypeVar("_T")
AllowedSpecial = Literal["all"] | AbstractSet[str]
DisallowedSpecial = Literal["all"] | Collection[str]


class Encoding:
    """A byte-level BPE encoding: a pattern, mergeable ranks and special tokens."""

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: Mapping[bytes, int],
        special_tokens: Mapping[str, int],
        explicit_n_vocab: int | None = None,
    ) -> None:
        """Build an encoding, as `tiktoken.Encoding(...)` does.

        >>> enc = Encoding("bytes", pat_str=r"\\S+|\\s+",
        ...                mergeable_ranks={bytes([b]): b for b in range(256)},
        ...                special_tokens={"<|end|>": 256})
        >>> enc.encode("hi"), enc.n_vocab
        ([104, 105], 257)
        """
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        if not isinstance(pat_str, str):
            raise TypeError(f"pat_str must be a str, got {type(pat_str).__name__}")
        if not isinstance(mergeable_ranks, Mapping):
            raise TypeError("mergeable_ranks must be a mapping of bytes to int")
        if not isinstance(special_tokens, Mapping):
            raise TypeError("special_tokens must be a mapping of str to int")
        for token, rank in special_tokens.items():
            if not isinstance(token, str) or not isinstance(rank, int) or not 0 <= rank < ID_LIMIT:
                raise ValueError(
                    f"special token {token!r}: expected a str mapped to an int in 0..2**32-1, "
                    f"got {rank!r}"
                )
        self.name = name
        self._pat_str = pat_str
        self._special_tokens = dict(special_tokens)
        specials = list(self._special_tokens.items())
        if isinstance(mergeable_ranks, CompactRanks):
            self._compact: CompactRanks | None = mergeable_ranks
            self._ranks_dict: dict[bytes, int] | None = None
            self._core_bpe = _core.CoreBPE.from_compact(mergeable_ranks.blob, specials, pat_str)
        else:
            self._compact = None
            self._ranks_dict = dict(mergeable_ranks)
            self._core_bpe = _core.CoreBPE.from_ranks(self._ranks_dict, specials, pat_str)
        n_tokens, n_ranks = self._core_bpe.vocab_sizes()
        self.max_token_value = max(n_ranks - 1, max(self._special_tokens.values(), default=0))
        if explicit_n_vocab is not None:
            if n_tokens + len(self._special_tokens) != explicit_n_vocab:
                raise ValueError(
                    f"encoding {name!r}: {n_tokens} mergeable + {len(self._special_tokens)} "
                    f"special tokens != explicit_n_vocab {explicit_n_vocab}"
                )
            if self.max_token_value != explicit_n_vocab - 1:
                raise ValueError(
                    f"encoding {name!r}: max token value {self.max_token_value} != "
                    f"explicit_n_vocab - 1 ({explicit_n_vocab - 1})"
                )
        self._special_token_values = frozenset(self._special_tokens.values())

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    # ---------------------------------------------------------------- encoding

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special-token strings as plain text.

        >>> import toklm; toklm.get_encoding("cl100k_base").encode_ordinary("hello world")
        [15339, 1917]
        """
        if not isinstance(text, str):
            raise TypeError(_expected_str(text))
        return _on_valid_text(self._core_bpe.encode_ordinary, text)

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """Encode text; special-token strings raise unless allowed (tiktoken's semantics).

        >>> import toklm; enc = toklm.get_encoding("cl100k_base")
        >>> enc.encode("hello <|endoftext|>", allowed_special="all")
        [15339, 220, 100257]
        """
        text = self._checked_text(text, allowed_special, disallowed_special)
        allowed_all, allowed = self._allowed(allowed_special)
        return _on_valid_text(self._core_bpe.encode, text, allowed_all, allowed)

    def count(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: DisallowedSpecial = "all",
    ) -> int:
        """Number of tokens `encode` would return, without building the list.

        >>> import toklm; toklm.get_encoding("o200k_base").count("Hello world, we are Gmarket. 🎉")
        10
        """
        text = self._checked_text(text, allowed_special, disallowed_special)
        allowed_all, allowed = self._allowed(allowed_special)
        if not allowed_all and not allowed:
            return _on_valid_text(self._core_bpe.count_ordinary, text)
        return len(_on_valid_text(self._core_bpe.encode, text, allowed_all, allowed))

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: DisallowedSpecial = "all",
    ) -> npt.NDArray[np.uint32]:
        """Encode text to a read-only `numpy.uint32` array, without a Python list.

        >>> import toklm; toklm.get_encoding("gpt2").encode_to_numpy("hello world").tolist()
        [31373, 995]
        """
        import numpy as np

        text = self._checked_text(text, allowed_special, disallowed_special)
        allowed_all, allowed = self._allowed(allowed_special)
        buf = _on_valid_text(self._core_bpe.encode_to_bytes, text, allowed_all, allowed)
        return np.frombuffer(buf, dtype="<u4").astype(np.uint32, copy=False)

    def encode_ordinary_batch(
        self, text: Sequence[str], *, num_threads: int = DEFAULT_THREADS
    ) -> list[list[int]]:
        """Encode many texts in one native call on `num_threads` cores.

        >>> import toklm; toklm.get_encoding("gpt2").encode_ordinary_batch(["hello", " world"])
        [[31373], [995]]
        """
        texts = _text_list(text)
        try:
            return self._core_bpe.encode_ordinary_batch(texts, num_threads)
        except UnicodeEncodeError:
            return self._core_bpe.encode_ordinary_batch(_clean_texts(texts), num_threads)

    def encode_batch(
        self,
        text: Sequence[str],
        *,
        num_threads: int = DEFAULT_THREADS,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[list[int]]:
        """Encode many texts in one native call, with `encode`'s special-token rules.

        >>> import toklm; toklm.get_encoding("gpt2").encode_batch(["hello", " world"])
        [[31373], [995]]
        """
        texts = self._checked_texts(_text_list(text), allowed_special, disallowed_special)
        allowed_all, allowed = self._allowed(allowed_special)
        try:
            return self._core_bpe.encode_batch(texts, allowed_all, allowed, num_threads)
        except UnicodeEncodeError:
            texts = _clean_texts(texts)
            return self._core_bpe.encode_batch(texts, allowed_all, allowed, num_threads)

    def encode_ordinary_batch_to_numpy(
        self, text: Sequence[str], *, num_threads: int = DEFAULT_THREADS
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """Encode many texts (specials as plain text) to one flat `uint32` token array and the
        `int64` offsets of each document in it (``len(text) + 1`` of them), on `num_threads`
        cores; short texts are grouped, so a batch of lines runs as fast as a few long texts.

        >>> import toklm; enc = toklm.get_encoding("gpt2")
        >>> tokens, offsets = enc.encode_ordinary_batch_to_numpy(["hello world", "hi"])
        >>> tokens.tolist(), offsets.tolist()
        ([31373, 995, 5303], [0, 2, 3])
        """
        if isinstance(text, str):
            raise TypeError("expected a sequence of str, got a single str")
        texts = text if type(text) is list else list(text)
        try:  # the core checks the types as it reads the list; _text_list names a bad item
            bufs = self._core_bpe.encode_batch_flat(texts, False, set(), set(), num_threads)
        except TypeError:
            _text_list(texts)  # raises, naming the item that is not a str
            raise
        except UnicodeEncodeError:
            texts = _clean_texts(texts)
            bufs = self._core_bpe.encode_batch_flat(texts, False, set(), set(), num_threads)
        assert not isinstance(bufs, str)  # nothing is disallowed
        return flat_arrays(*bufs)

    def encode_batch_to_numpy(
        self,
        text: Sequence[str],
        *,
        num_threads: int = DEFAULT_THREADS,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: DisallowedSpecial = "all",
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """`encode_ordinary_batch_to_numpy` with `encode`'s special-token rules: document `i` is
        ``tokens[offsets[i]:offsets[i + 1]]``.

        >>> import toklm; enc = toklm.get_encoding("cl100k_base")
        >>> tokens, offsets = enc.encode_batch_to_numpy(["a<|endoftext|>", "b"],
        ...                                             allowed_special="all")
        >>> tokens.tolist(), offsets.tolist()
        ([64, 100257, 65], [0, 2, 3])
        """
        if isinstance(text, str):
            raise TypeError("expected a sequence of str, got a single str")
        texts = text if type(text) is list else list(text)
        allowed_all, allowed = self._allowed(allowed_special)
        # The disallowed tokens are looked for inside the parallel native call, and the core
        # checks the items' types: a Python loop over the texts was the serial part (one-line
        # documents scaled 1.38x on two threads).
        disallowed = self._disallowed(allowed_special, disallowed_special)
        core = self._core_bpe
        try:
            out = core.encode_batch_flat(texts, allowed_all, allowed, disallowed, num_threads)
        except TypeError:
            _text_list(texts)  # raises, naming the item that is not a str
            raise
        except UnicodeEncodeError:  # lone surrogates: replaced, as `encode` does
            texts = _clean_texts(texts)
            out = core.encode_batch_flat(texts, allowed_all, allowed, disallowed, num_threads)
        if isinstance(out, str):
            raise_disallowed_special_token(out)
        assert not isinstance(out, str)
        return flat_arrays(*out)

    def count_batch(self, text: Sequence[str], *, num_threads: int = DEFAULT_THREADS) -> list[int]:
        """Token counts of many texts (specials as plain text), in one native call.

        >>> import toklm; toklm.get_encoding("gpt2").count_batch(["hello world", "hi"])
        [2, 1]
        """
        texts = _text_list(text)
        try:
            return self._core_bpe.count_ordinary_batch(texts, num_threads)
        except UnicodeEncodeError:
            return self._core_bpe.count_ordinary_batch(_clean_texts(texts), num_threads)

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: DisallowedSpecial = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """Stable tokens, and the possible token sequences of the unstable tail.

        >>> import toklm; enc = toklm.get_encoding("cl100k_base")
        >>> stable, completions = enc.encode_with_unstable("hello fanta")
        >>> stable, [14964] in completions  # " fantastic" is one token
        ([15339], True)
        """
        text = self._checked_text(text, allowed_special, disallowed_special)
        allowed_all, allowed = self._allowed(allowed_special)
        return _on_valid_text(self._core_bpe.encode_with_unstable, text, allowed_all, allowed)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of a single token given as its text or bytes; KeyError if it is not one.

        >>> import toklm; toklm.get_encoding("gpt2").encode_single_token("hello")
        31373
        """
        if isinstance(text_or_bytes, str):
            special = self._special_tokens.get(text_or_bytes)
            if special is not None:
                return special
            key = text_or_bytes.encode("utf-8")
        elif isinstance(text_or_bytes, bytes | bytearray | memoryview):
            key = bytes(text_or_bytes)
            try:
                return self._special_tokens[key.decode("utf-8")]
            except (KeyError, UnicodeDecodeError):
                pass
        else:
            raise TypeError(f"expected str or bytes, got {type(text_or_bytes).__name__}")
        rank = self._core_bpe.encode_single_token(key)
        if rank is None:
            raise KeyError(key)
        return rank

    # ---------------------------------------------------------------- decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """Bytes of a token sequence (may be invalid UTF-8).

        >>> import toklm; toklm.get_encoding("gpt2").decode_bytes([31373, 995])
        b'hello world'
        """
        try:
            return self._core_bpe.decode_bytes(tokens)
        except (OverflowError, TypeError):
            raise _bad_token(tokens) from None

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """Text of a token sequence; invalid UTF-8 is replaced by default (`errors=`).

        >>> import toklm; toklm.get_encoding("gpt2").decode([31373, 995])
        'hello world'
        """
        try:
            text = self._core_bpe.decode_str(tokens)
        except (OverflowError, TypeError):
            raise _bad_token(tokens) from None
        if text is not None:
            return text
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """Bytes of one token.

        >>> import toklm; toklm.get_encoding("gpt2").decode_single_token_bytes(995)
        b' world'
        """
        try:
            return self._core_bpe.decode_single_token_bytes(token)
        except (OverflowError, TypeError):
            raise _bad_token([token]) from None

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """Bytes of each token.

        >>> import toklm; toklm.get_encoding("gpt2").decode_tokens_bytes([31373, 995])
        [b'hello', b' world']
        """
        try:
            return self._core_bpe.decode_tokens_bytes(tokens)
        except (OverflowError, TypeError):
            raise _bad_token(tokens) from None

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """Text and, per token, the index of the character where it starts.

        >>> import toklm; toklm.get_encoding("cl100k_base").decode_with_offsets([15339, 1917])
        ('hello world', [0, 5])
        """
        token_bytes = self.decode_tokens_bytes(tokens)
        text_len = 0
        offsets = []
        for token in token_bytes:
            # A token that starts inside a character belongs to that character.
            offsets.append(max(0, text_len - (0x80 <= token[0] < 0xC0)) if token else text_len)
            text_len += sum(1 for c in token if not 0x80 <= c < 0xC0)
        return b"".join(token_bytes).decode("utf-8", errors="strict"), offsets

    def decode_batch(
        self,
        batch: Sequence[Sequence[int]],
        *,
        errors: str = "replace",
        num_threads: int = DEFAULT_THREADS,
    ) -> list[str]:
        """Decode many token sequences.

        >>> import toklm; toklm.get_encoding("gpt2").decode_batch([[31373], [995]])
        ['hello', ' world']
        """
        return [b.decode("utf-8", errors=errors) for b in self.decode_bytes_batch(batch)]

    def decode_bytes_batch(
        self, batch: Sequence[Sequence[int]], *, num_threads: int = DEFAULT_THREADS
    ) -> list[bytes]:
        """Decode many token sequences to bytes in one native call.

        >>> import toklm; toklm.get_encoding("gpt2").decode_bytes_batch([[31373], [995]])
        [b'hello', b' world']
        """
        try:
            return self._core_bpe.decode_bytes_batch(batch, num_threads)
        except (OverflowError, TypeError):
            raise _bad_token([t for tokens in batch for t in tokens]) from None

    def show(self, text: str) -> Any:
        """How this encoding splits `text`, coloured: HTML in a notebook, rich in a terminal.

        >>> import toklm; toklm.get_encoding("gpt2").show("hi 🎉").counts
        {'gpt2': 4}
        """
        from toklm.show import show

        return show(text, tokenizers=[self])

    # ---------------------------------------------------------------- vocabulary

    def token_byte_values(self) -> list[bytes]:
        """All ordinary token bytes, sorted.

        >>> import toklm; len(toklm.get_encoding("gpt2").token_byte_values())
        50256
        """
        return self._core_bpe.token_byte_values()

    @property
    def eot_token(self) -> int:
        """The id of `<|endoftext|>`.

        >>> import toklm; toklm.get_encoding("cl100k_base").eot_token
        100257
        """
        return self._special_tokens["<|endoftext|>"]

    @functools.cached_property
    def special_tokens_set(self) -> set[str]:
        """The special-token strings.

        >>> import toklm; sorted(toklm.get_encoding("gpt2").special_tokens_set)
        ['<|endoftext|>']
        """
        return set(self._special_tokens.keys())

    def is_special_token(self, token: int) -> bool:
        """Whether `token` is the id of a special token.

        >>> import toklm; toklm.get_encoding("gpt2").is_special_token(50256)
        True
        """
        if not isinstance(token, int):
            raise TypeError(f"token must be an int, got {type(token).__name__}")
        return token in self._special_token_values

    @property
    def pat_str(self) -> str:
        """The pre-tokenization pattern (tiktoken keeps it as `_pat_str`, which also works).

        >>> import toklm; toklm.get_encoding("gpt2").pat_str[:12]
        "'(?:[sdmt]|l"
        """
        return self._pat_str

    @property
    def n_vocab(self) -> int:
        """One more than the largest token id.

        >>> import toklm; toklm.get_encoding("gpt2").n_vocab
        50257
        """
        return self.max_token_value + 1

    @property
    def _mergeable_ranks(self) -> Mapping[bytes, int]:
        """The mergeable ranks as given (bundled vocabularies build their dict on first use)."""
        if self._ranks_dict is not None:
            return self._ranks_dict
        assert self._compact is not None  # one of the two is always set
        return self._compact

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a `.tiktoken` file (tiktoken's `load_tiktoken_bpe` reads it) and a JSON
        beside it (`path.json`: name, pattern, special tokens); `toklm.load_encoding(path)`
        restores the whole encoding. Both writes are atomic.

        >>> import tempfile, os, toklm
        >>> p = os.path.join(tempfile.mkdtemp(), "r50k.tiktoken")
        >>> toklm.get_encoding("r50k_base").save(p); toklm.load_encoding(p).encode("hi there")
        [5303, 612]
        """
        from toklm.encoding_files import save_encoding

        save_encoding(self, path)

    # ---------------------------------------------------------------- private API of tiktoken

    def _encode_single_piece(self, text_or_bytes: str | bytes) -> list[int]:
        """BPE of one piece without pre-tokenization.

        >>> import toklm; toklm.get_encoding("gpt2")._encode_single_piece("hello world")
        [31373, 995]
        """
        if isinstance(text_or_bytes, str):
            text_or_bytes = text_or_bytes.encode("utf-8")
        return self._core_bpe.byte_pair_encode(bytes(text_or_bytes))

    def _encode_only_native_bpe(self, text: str) -> list[int]:
        """Encode with the pattern run in Python (`regex`), BPE in Rust; for testing."""
        import regex

        ret: list[int] = []
        for piece in regex.findall(self._pat_str, text):
            ret.extend(self._core_bpe.byte_pair_encode(piece.encode("utf-8")))
        return ret

    def _encode_bytes(self, text: bytes) -> list[int]:
        """Encode arbitrary bytes so that `decode_bytes` returns them exactly.

        >>> import toklm; enc = toklm.get_encoding("cl100k_base")
        >>> enc._encode_bytes(b" \\xec\\x8b\\xa4\\xed")
        [62085]
        """
        return self._core_bpe.encode_bytes(bytes(text))

    # ---------------------------------------------------------------- policy helpers

    def _allowed(self, allowed_special: AllowedSpecial) -> tuple[bool, set[str]]:
        if allowed_special == "all":
            return True, set()
        return False, set(allowed_special)

    def _disallowed(
        self, allowed_special: AllowedSpecial, disallowed_special: DisallowedSpecial
    ) -> set[str]:
        if allowed_special == "all":
            allowed_special = self.special_tokens_set
        if disallowed_special == "all":
            return set(self.special_tokens_set - set(allowed_special))
        if isinstance(disallowed_special, str):
            raise TypeError("disallowed_special must be 'all' or a collection of strings")
        return set(disallowed_special)

    def _checked_text(
        self, text: str, allowed_special: AllowedSpecial, disallowed_special: DisallowedSpecial
    ) -> str:
        """Raise on disallowed special tokens in `text`; return it (surrogates replaced when the
        search met them; the native calls go through `_on_valid_text` for the other cases)."""
        if not isinstance(text, str):
            raise TypeError(_expected_str(text))
        disallowed = self._disallowed(allowed_special, disallowed_special)
        if not disallowed:
            return text
        try:
            found = self._core_bpe.find_special(text, False, disallowed)
        except UnicodeEncodeError:
            text = _replace_surrogates(text)
            found = self._core_bpe.find_special(text, False, disallowed)
        if found:
            raise_disallowed_special_token(found)
        return text

    def _checked_texts(
        self,
        texts: list[str],
        allowed_special: AllowedSpecial,
        disallowed_special: DisallowedSpecial,
    ) -> list[str]:
        """`_checked_text` for every text (a list of str), as one native search over the texts
        joined by a separator that no disallowed token contains, so no match can span two
        texts; the leftmost match is the first offending text's (a call per text was a serial
        Python loop in front of `encode_batch`'s parallel work). Texts with lone surrogates
        take the per-text path, which replaces them."""
        disallowed = self._disallowed(allowed_special, disallowed_special)
        if not disallowed:
            return texts
        sep = next((c for c in ("\n", "\x00") if not any(c in s for s in disallowed)), None)
        if sep is not None:
            try:
                found = self._core_bpe.find_special(sep.join(texts), False, disallowed)
            except UnicodeEncodeError:
                pass
            else:
                if found:
                    raise_disallowed_special_token(found)
                return texts
        return [self._checked_text(t, allowed_special, disallowed_special) for t in texts]

    # ---------------------------------------------------------------- pickling

    def __getstate__(self) -> object:
        # The full definition. (Encodings shared by `toklm.get_encoding` pickle by name instead:
        # the registry, which owns them, registers that with `copyreg`.)
        return {
            "name": self.name,
            "pat_str": self._pat_str,
            "mergeable_ranks": dict(self._mergeable_ranks),
            "special_tokens": self._special_tokens,
        }

    def __setstate__(self, value: object) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"cannot unpickle an Encoding from {type(value).__name__}")
        self.__init__(**value)  # type: ignore[misc]


def raise_disallowed_special_token(token: str) -> None:
    """Raise tiktoken's teaching error for a special token found in text."""
    raise ValueError(
        f"Encountered text corresponding to disallowed special token {token!r}.\n"
        "If you want this text to be encoded as a special token, "
        f"pass it to `allowed_special`, e.g. `allowed_special={{{token!r}, ...}}`.\n"
        f"If you want this text to be encoded as normal text, disable the check for this token "
        f"by passing `disallowed_special=(enc.special_tokens_set - {{{token!r}}})`.\n"
        "To disable this check for all special tokens, pass `disallowed_special=()`.\n"
    )


def flat_arrays(
    tokens: bytearray, offsets: bytearray
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """numpy arrays over the little-endian buffers of the core's flat batch output (no copy)."""
    import numpy as np

    return (
        np.frombuffer(tokens, dtype="<u4").astype(np.uint32, copy=False),
        np.frombuffer(offsets, dtype="<i8").astype(np.int64, copy=False),
    )


def _replace_surrogates(text: str) -> str:
    # tiktoken's rule: surrogate pairs become their code point, lone surrogates U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _on_valid_text(call: Callable[..., _T], text: str, *args: object) -> _T:
    """`call(text, *args)`, retried with surrogates replaced when the text holds any (as
    tiktoken does in every mode); valid text pays nothing for the check."""
    try:
        return call(text, *args)
    except UnicodeEncodeError:
        return call(_replace_surrogates(text), *args)


def _expected_str(value: object) -> str:
    return f"expected a str to encode, got {type(value).__name__}"


def _text_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a sequence of str, got a single str")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}]: {_expected_str(t)}")
    return texts


def _clean_texts(texts: list[str]) -> list[str]:
    return [_replace_surrogates(t) for t in texts]


def _bad_token(tokens: Sequence[int] | object) -> Exception:
    """The error for a token sequence the core rejected while converting it."""
    if isinstance(tokens, str | bytes) or not hasattr(tokens, "__iter__"):
        return TypeError(f"expected a sequence of int token ids, got {type(tokens).__name__}")
    for t in tokens:  # type: ignore[attr-defined]
        if not isinstance(t, int) or isinstance(t, bool):
            return TypeError(f"token ids must be int, got {t!r} ({type(t).__name__})")
        if not 0 <= t < ID_LIMIT:
            return KeyError(f"Invalid token for decoding: {t}")
    return TypeError("expected a sequence of int token ids")
