"""`Tokenizer`: Hugging Face tokenizers on toklm's Rust core, with a transformers-shaped API.

The native `HfBpe` runs added-token matching, pre-tokenization and BPE (releasing the GIL);
this class adds normalization (only when the text is not already normalized), post-processing
(templates, offset trimming), truncation, padding, tensors and decoding, following
`tokenizers` 0.23 and transformers 5.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from toklm import _core
from toklm.hf.outputs import (
    BatchEncoding,
    StreamDecoder,
    UnknownTokenIdError,
    to_list,
    to_tensor,
)
from toklm.hf.postprocess import apply_template, pad, strategies, trim_offsets
from toklm.hf.spec import AddedToken, SpecError, Template, TokenizerSpec
from toklm.native import DEFAULT_THREADS, ID_LIMIT

VERY_LARGE_INTEGER = int(1e30)  # transformers' "no limit" model_max_length
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "pad_token")


class Tokenizer:
    """A Hugging Face tokenizer (tokenizer.json, or GPT-2's vocab.json + merges.txt).
    >>> tok = Tokenizer.from_pretrained(shared("tokenizers/gpt2"))
    >>> tok("Hello world")["input_ids"]
    [15496, 995]
    """

    model_input_names = ("input_ids", "attention_mask")
    _profile = "auto"

    def __init__(
        self,
        spec: TokenizerSpec,
        *,
        name: str = "",
        bos_token: str | None = None,
        eos_token: str | None = None,
        unk_token: str | None = None,
        pad_token: str | None = None,
        add_bos_token: bool | None = None,
        add_eos_token: bool | None = None,
        model_max_length: int = VERY_LARGE_INTEGER,
        padding_side: str = "right",
        truncation_side: str = "right",
        clean_up_tokenization_spaces: bool = False,
    ) -> None:
        self._spec = spec
        self.name = self.name_or_path = name
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self._special: dict[str, str | None] = {
            "bos_token": bos_token,
            "eos_token": eos_token,
            "unk_token": unk_token,
            "pad_token": pad_token,
        }
        self._add_bos, self._add_eos = add_bos_token, add_eos_token
        self._warned_cleanup = False
        self._id_to_token: dict[int, str] | None = None
        # Named special tokens become special added tokens, as transformers adds them.
        self._added: list[AddedToken] = []
        for added in spec.added:
            self._add_token(added)
        present = {t.content for t in self._added}
        for token in self._special.values():
            if token is not None and token not in present:
                self._add_token(AddedToken(id=-1, content=token, special=True, normalized=False))
                present.add(token)
        self._build()

    # ---- construction ------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | os.PathLike[str], *, revision: str = "main", **kwargs: Any
    ) -> Tokenizer:
        """Load from a local directory or file, or a repo id in the Hugging Face hub cache.
        >>> tok = Tokenizer.from_pretrained(shared("tokenizers/gpt-neox-20b"))
        >>> tok.encode("Hi")
        [12764]
        """
        from toklm.hf.load import load_tokenizer

        return load_tokenizer(
            cls, path_or_repo_id, revision=revision, profile=cls._profile, **kwargs
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Tokenizer:
        """Load a `tokenizer.json` file as the `tokenizers` library would, with no config files."""
        from pathlib import Path

        from toklm.hf.spec import spec_from_tokenizer_json

        return cls(spec_from_tokenizer_json(Path(path)), name=str(path), **kwargs)

    def _add_token(self, token: AddedToken) -> None:
        """Add a token as `tokenizers` does, whatever id it comes with: an added token with the
        same content keeps its id (the new flags win), else its model vocab id, else the next
        id after the vocab and all added tokens."""
        if not token.content:
            return
        same = next((k for k, t in enumerate(self._added) if t.content == token.content), None)
        if same is not None:
            self._added[same] = replace(token, id=self._added[same].id)
            return
        tid = self._spec.vocab.get(token.content)
        if tid is None:
            tid = max([len(self._spec.vocab) - 1] + [t.id for t in self._added]) + 1
        self._added.append(replace(token, id=tid))

    def _build(self) -> None:
        spec = self._spec
        norm = spec.normalizer
        # tokenizers matches special tokens first, then the other added tokens, in file order.
        ordered = [t for t in self._added if t.special] + [t for t in self._added if not t.special]
        # The core matches normalized added tokens on normalized text: it gets them normalized.
        added = [
            replace(t, content=norm.normalize(t.content)) if (t.normalized and norm) else t
            for t in ordered
            if t.content
        ]
        try:
            self._core = self._new_core(spec, added)
        except ValueError as e:
            raise SpecError(f"{spec.source or self.name}: {e}") from None
        self._special_contents = {t.content for t in self._added if t.special}
        self._stripping_ids = {t.id for t in self._added if t.lstrip or t.rstrip}
        self._added_by_content = {t.content: t.id for t in self._added}
        self._len = len(spec.vocab.keys() | self._added_by_content.keys())
        top = max(spec.vocab.values(), default=-1)
        self._n_vocab = max([top] + [t.id for t in self._added]) + 1
        post = spec.post
        if self._add_bos is not None or self._add_eos is not None or post is None:
            post = [("template", self._bos_eos_template())]
        self._post = post
        self._id_to_token = None

    @staticmethod
    def _new_core(spec: TokenizerSpec, added: list[AddedToken]) -> Any:
        return _core.HfBpe(
            spec.vocab,
            spec.merges,
            byte_level=spec.byte_level,
            ignore_merges=spec.ignore_merges,
            byte_fallback=spec.byte_fallback,
            unk_token=spec.unk_token,
            fuse_unk=spec.fuse_unk,
            added=added,
            steps=spec.pre_steps,
            decoder_byte_level=spec.decoder_byte_level,
        )

    def _bos_eos_template(self) -> Template:
        """transformers' `update_post_processor`: [bos] $A [eos] as asked by add_bos/eos_token."""
        items: list[tuple[str, int, bool]] = []
        specials: dict[str, tuple[int, ...]] = {}
        for name, flag in (("bos_token", self._add_bos), ("eos_token", self._add_eos)):
            token = self._special[name]
            if flag and token is not None:
                specials[token] = (self._token_id(token),)
        bos, eos = self._special["bos_token"], self._special["eos_token"]
        if self._add_bos and bos is not None:
            items.append((bos, 0, False))
        items.append(("A", 0, True))
        if self._add_eos and eos is not None:
            items.append((eos, 0, False))
        return Template(tuple(items), specials)

    # ---- vocabulary ------------------------------------------------------------------------

    def _token_id(self, token: str) -> int:
        tid = self._added_by_content.get(token, self._spec.vocab.get(token))
        if tid is None:
            raise ValueError(f"token {token!r} is not in the vocabulary of {self.name!r}")
        return tid

    def _tokens(self) -> dict[int, str]:
        if self._id_to_token is None:
            table = {i: s for s, i in self._spec.vocab.items()}
            table.update((t.id, t.content) for t in self._added)
            self._id_to_token = table
        return self._id_to_token

    @property
    def vocab_size(self) -> int:
        """Size of the model's vocabulary, without added tokens (as transformers)."""
        return len(self._spec.vocab)

    def __len__(self) -> int:
        """Size of the vocabulary with added tokens (distinct token strings, as transformers)."""
        return self._len

    @property
    def n_vocab(self) -> int:
        """One past the largest token id (as `toklm.Encoding.n_vocab`)."""
        return self._n_vocab

    def get_vocab(self) -> dict[str, int]:
        return {**self._spec.vocab, **self._added_by_content}

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> Any:
        """Ids of tokens (byte-level strings); unknown ones give `unk_token_id` (None if none)."""
        if isinstance(tokens, str):
            tid = self._lookup(tokens)
            return tid if tid is not None else self.unk_token_id
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def _lookup(self, token: str) -> int | None:
        tid = self._added_by_content.get(token)
        return tid if tid is not None else self._spec.vocab.get(token)

    def convert_ids_to_tokens(self, ids: Any, skip_special_tokens: bool = False) -> Any:
        """Token strings of ids (None for an id with no token, as transformers).
        >>> tok.convert_ids_to_tokens([15496, 995])
        ['Hello', 'Ġworld']
        """
        table = self._tokens()
        ids = to_list(ids)
        if isinstance(ids, int):
            return table.get(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [table.get(int(i)) for i in ids if int(i) not in skip]

    # ---- special tokens --------------------------------------------------------------------

    def _special_id(self, name: str) -> int | None:
        token = self._special[name]
        return None if token is None else self._lookup(token)

    bos_token = property(
        lambda self: self._special["bos_token"], lambda s, v: s._set_special("bos_token", v)
    )
    eos_token = property(
        lambda self: self._special["eos_token"], lambda s, v: s._set_special("eos_token", v)
    )
    unk_token = property(
        lambda self: self._special["unk_token"], lambda s, v: s._set_special("unk_token", v)
    )
    pad_token = property(
        lambda self: self._special["pad_token"], lambda s, v: s._set_special("pad_token", v)
    )
    bos_token_id = property(lambda self: self._special_id("bos_token"))
    eos_token_id = property(lambda self: self._special_id("eos_token"))
    unk_token_id = property(lambda self: self._special_id("unk_token"))
    pad_token_id = property(lambda self: self._special_id("pad_token"))

    def _set_special(self, name: str, token: str | None) -> None:
        self._special[name] = token
        if token is not None and token not in self._added_by_content:
            self._add_token(AddedToken(id=-1, content=token, special=True, normalized=False))
        self._build()

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return {k: v for k, v in self._special.items() if v is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        return list(dict.fromkeys(self.special_tokens_map.values()))

    @property
    def all_special_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(t) for t in self.all_special_tokens]

    def add_special_tokens(self, tokens: dict[str, str]) -> int:
        """Set named special tokens ({'pad_token': '<pad>'}); returns how many were new."""
        before = len(self)
        for name, token in tokens.items():
            if name not in SPECIAL_NAMES:
                raise ValueError(f"unknown special token name {name!r} (known: {SPECIAL_NAMES})")
            self._set_special(name, token)
        return len(self) - before

    def add_tokens(self, tokens: Sequence[str], special_tokens: bool = False) -> int:
        """Add tokens matched in text before BPE; returns how many were new."""
        before = len(self)
        for t in tokens:
            if t and t not in self._added_by_content:
                self._add_token(
                    AddedToken(
                        id=-1, content=t, special=special_tokens, normalized=not special_tokens
                    )
                )
        self._build()
        return len(self) - before

    # ---- encoding ----------------------------------------------------------------------------

    def _encode_raw(
        self, text: str, offsets: bool, trim: bool | None = None
    ) -> tuple[list[int], list[Any] | None, bool]:
        """Ids and (when asked) character offsets of `text` before post-processing, and whether
        the offsets were already trimmed natively (as ByteLevel would, `trim` = its
        add_prefix_space; only on the fast path)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        norm = self._spec.normalizer
        if norm is None or norm.is_normalized(text):
            if offsets:
                ids, offs = self._core.encode_with_offsets(text, True, trim)
                return ids, offs, trim is not None
            return self._core.encode(text), None, False
        ids: list[int] = []
        offs: list[Any] = []
        for tid, s, e in self._core.split_raw(text):
            if tid is not None:
                ids.append(tid)
                offs.append((s, e))
                continue
            if not offsets:
                ids += self._core.encode(norm.normalize(text[s:e]), raw_stage=False)
                continue
            normed, align = norm.normalize_aligned(text[s:e])
            pids, poffs = self._core.encode_with_offsets(normed, raw_stage=False)
            ids += pids
            offs += [(s + align[a], s + align[b - 1] + 1) for a, b in poffs]
        return ids, (offs if offsets else None), False

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids with no special tokens added (added tokens in the text are still matched).
        >>> tok.encode_ordinary("Hello world")
        [15496, 995]
        """
        return self._encode_raw(text, False)[0]

    def encode_ordinary_batch(
        self, texts: Sequence[str], *, num_threads: int = DEFAULT_THREADS
    ) -> list[list[int]]:
        """`encode_ordinary` of many texts, on `num_threads` cores in one native call."""
        return self._encode_raw_batch(list(texts), False, num_threads)[0]

    def encode_batch_to_numpy(
        self, texts: Sequence[str], *, num_threads: int = DEFAULT_THREADS
    ) -> tuple[Any, Any]:
        """`encode_ordinary` of many texts as one flat `uint32` token array and the `int64`
        offsets of each text's tokens in it (``len(texts) + 1`` of them), on `num_threads` cores
        in chunks of about 64 KB of text.
        >>> tokens, offsets = tok.encode_batch_to_numpy(["Hello world", "hi"])
        >>> tokens.tolist(), offsets.tolist()
        ([15496, 995, 5303], [0, 2, 3])
        """
        import numpy as np

        from toklm.encoding import flat_arrays

        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"texts must be str, got {type(t).__name__}")
        norm = self._spec.normalizer
        if norm is None or all(norm.is_normalized(t) for t in texts):
            return flat_arrays(*self._core.encode_batch_flat(texts, num_threads))
        ids = self._encode_raw_batch(texts, False, num_threads)[0]
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in ids], out=offsets[1:])
        tokens = np.fromiter((t for x in ids for t in x), dtype=np.uint32, count=int(offsets[-1]))
        return tokens, offsets

    encode_ordinary_batch_to_numpy = encode_batch_to_numpy

    def count_batch(self, texts: Sequence[str], *, num_threads: int = DEFAULT_THREADS) -> list[int]:
        """The number of tokens of each text (`encode_ordinary_batch`), in one native call.
        >>> tok.count_batch(["Hello world", "!"])
        [2, 1]
        """
        return [len(ids) for ids in self.encode_ordinary_batch(texts, num_threads=num_threads)]

    def count(self, text: str) -> int:
        """Number of tokens `encode_ordinary(text)` gives, without building the list."""
        norm = self._spec.normalizer
        if isinstance(text, str) and (norm is None or norm.is_normalized(text)):
            return self._core.count(text)
        return len(self.encode_ordinary(text))

    def _encode_raw_batch(
        self, texts: list[str], offsets: bool, num_threads: int, trim: bool | None = None
    ) -> tuple[list[list[int]], list[Any], list[bool]]:
        """`_encode_raw` of each text: (ids, offsets or None, trimmed) lists."""
        norm = self._spec.normalizer
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"texts must be str, got {type(t).__name__}")
        if norm is None or all(norm.is_normalized(t) for t in texts):
            if offsets:
                pairs = self._core.encode_batch_with_offsets(texts, num_threads, trim)
                trimmed = [trim is not None] * len(texts)
                return [p[0] for p in pairs], [p[1] for p in pairs], trimmed
            return (
                self._core.encode_batch(texts, num_threads),
                [None] * len(texts),
                [False] * len(texts),
            )
        results = [self._encode_raw(t, offsets, trim) for t in texts]
        return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]

    def _native_trim(self, truncating: bool) -> bool | None:
        """When offsets can be trimmed natively: the add_prefix_space of a leading ByteLevel
        post-processor that trims (None when there is none, or trimming must follow a left
        truncation, which changes which token is first)."""
        trims = [p for p in self._post if p[0] == "byte_level" and p[1]]
        if len(trims) != 1 or self._post[0] is not trims[0]:
            return None
        prefix = bool(trims[0][2])
        if prefix and truncating and self.truncation_side == "left":
            return None
        return prefix

    def _post_process(
        self,
        ids: list[int],
        offs: list[Any] | None,
        add_special_tokens: bool,
        max_length: int | None,
        text: str,
        want_tokens: bool = False,
        trimmed: bool = False,
    ) -> dict[str, list[Any]]:
        """Truncate, then run the post-processors (tokenizers' `post_process` order); `trimmed`
        says the offsets were already trimmed by the leading ByteLevel post-processor."""
        special = [0] * len(ids)
        trims = offs is not None and any(p[0] == "byte_level" and p[1] for p in self._post)
        trims = trims and not trimmed
        tokens = self._token_strings(text, ids, offs) if (trims or want_tokens) else None
        templates = [p for p in self._post if p[0] == "template"]
        if max_length is not None:
            n_added = sum(p[1].added_count() for p in templates) if add_special_tokens else 0
            keep = max_length - n_added
            if keep < 0:
                raise ValueError(
                    f"max_length {max_length} leaves no room for the {n_added} special tokens "
                    f"{self.name!r} adds"
                )
            if len(ids) > keep:
                sl = (
                    slice(0, keep)
                    if self.truncation_side == "right"
                    else slice(len(ids) - keep, None)
                )
                ids, special = ids[sl], special[sl]
                offs = offs[sl] if offs is not None else None
                tokens = tokens[sl] if tokens is not None else None
        for k, proc in enumerate(self._post):
            if proc[0] == "byte_level" and proc[1] and offs is not None and tokens is not None:
                if not (trimmed and k == 0):
                    offs = trim_offsets(tokens, offs, proc[2])
            elif proc[0] == "template" and add_special_tokens:
                table = self._tokens() if tokens is not None else {}
                ids, offs, special, tokens = apply_template(
                    proc[1], ids, offs, special, tokens, table
                )
        out: dict[str, list[Any]] = {"input_ids": ids, "special_tokens_mask": special}
        if offs is not None:
            out["offset_mapping"] = offs
        if tokens is not None:
            out["tokens"] = tokens
        return out

    def _token_strings(self, text: str, ids: list[int], offs: list[Any] | None) -> list[str]:
        """Token strings as `tokenizers` has them: an added token that strips spaces around it
        (lstrip/rstrip) is the text it matched, spaces included."""
        table = self._tokens()
        if not self._stripping_ids or offs is None:
            return [table.get(i, "") for i in ids]
        return [
            text[s:e] if i in self._stripping_ids else table.get(i, "")
            for i, (s, e) in zip(ids, offs, strict=True)
        ]

    def __call__(
        self,
        text: str | Sequence[str],
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        return_length: bool = False,
    ) -> BatchEncoding:
        """Encode a text or a batch the way transformers' tokenizers do.
        >>> tok("Hello world", return_tensors="np")["input_ids"].shape
        (1, 2)
        """
        batched = not isinstance(text, str)
        if batched and not all(isinstance(t, str) for t in text):
            raise TypeError("text must be a str or a list of str")
        texts = list(text) if batched else [text]  # type: ignore[list-item]
        pad_kind, trunc_len, pad_len = strategies(
            padding, truncation, max_length, self.model_max_length
        )
        if pad_kind and (self.pad_token is None or self.pad_token_id is None):
            raise ValueError(
                f"asking to pad but {self.name!r} has no padding token: set one, for example "
                "tokenizer.pad_token = tokenizer.eos_token"
            )
        trim = self._native_trim(trunc_len is not None) if return_offsets_mapping else None
        ids_list, offs_list, trimmed = self._encode_raw_batch(
            texts, return_offsets_mapping, DEFAULT_THREADS, trim
        )
        encs = [
            self._post_process(
                ids, offs_list[i], add_special_tokens, trunc_len, texts[i], trimmed=trimmed[i]
            )
            for i, ids in enumerate(ids_list)
        ]
        for e in encs:
            e["attention_mask"] = [1] * len(e["input_ids"])
        if pad_kind:
            side = padding_side or self.padding_side
            pad(encs, pad_len, pad_to_multiple_of, side, self.pad_token_id)  # type: ignore[arg-type]
        keys = ["input_ids"]
        if return_attention_mask is None or return_attention_mask:
            keys.append("attention_mask")
        if return_special_tokens_mask:
            keys.append("special_tokens_mask")
        if return_offsets_mapping:
            keys.append("offset_mapping")
        out = {k: [e[k] for e in encs] for k in keys}
        if return_length:
            out["length"] = [len(e["input_ids"]) for e in encs]
        if return_tensors is not None:
            return BatchEncoding({k: to_tensor(v, return_tensors, k) for k, v in out.items()})
        if not batched:
            return BatchEncoding({k: v[0] if k != "length" else v for k, v in out.items()})
        return BatchEncoding(out)

    def encode(
        self,
        text: str,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        return_tensors: str | None = None,
    ) -> Any:
        """Token ids of `text`, special tokens added as the post-processor says.
        >>> tok.encode("Hello world, we are Gmarket.")
        [15496, 995, 11, 356, 389, 402, 10728, 13]
        """
        enc = self(
            text,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            return_tensors=return_tensors,
            return_attention_mask=False,
        )
        return enc["input_ids"]

    def tokenize(self, text: str, add_special_tokens: bool = False) -> list[str]:
        """Token strings of `text` (byte-level strings such as 'Ġworld').
        >>> tok.tokenize("Hello world")
        ['Hello', 'Ġworld']
        """
        ids, offs, _ = self._encode_raw(text, bool(self._stripping_ids))
        enc = self._post_process(ids, offs, add_special_tokens, None, text, want_tokens=True)
        return enc["tokens"]

    # ---- decoding ----------------------------------------------------------------------------

    def decode_bytes(self, ids: Sequence[int], skip_special_tokens: bool = False) -> bytes:
        """The bytes the tokens stand for; UnknownTokenIdError names an id with no token."""
        ids = [int(i) for i in ids]
        try:
            return self._core.decode_bytes(ids, skip_special_tokens)
        except OverflowError:
            bad = next(i for i in ids if not 0 <= i < ID_LIMIT)
            raise UnknownTokenIdError(
                f"{self.name}: token id {bad} is not in the vocabulary"
            ) from None
        except ValueError as e:
            raise UnknownTokenIdError(f"{self.name}: {e}") from None

    def decode_single_token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token.
        >>> tok.decode_single_token_bytes(995)
        b' world'
        """
        data = self._core.token_bytes(int(token_id)) if 0 <= int(token_id) < ID_LIMIT else None
        if data is None:
            raise UnknownTokenIdError(f"{self.name}: token id {token_id} is not in the vocabulary")
        return data

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> Any:
        """Text of the ids (a list of texts for a batch).
        >>> tok.decode([15496, 995])
        'Hello world'
        """
        ids = to_list(token_ids)
        if isinstance(ids, int):
            ids = [ids]
        if ids and isinstance(ids[0], (list, tuple)):
            return [
                self.decode(seq, skip_special_tokens, clean_up_tokenization_spaces) for seq in ids
            ]
        cleanup = (
            self.clean_up_tokenization_spaces
            if clean_up_tokenization_spaces is None
            else clean_up_tokenization_spaces
        )
        if cleanup and not self._warned_cleanup:
            self._warned_cleanup = True  # transformers 5 skips this cleanup for BPE models too
            warnings.warn(
                "clean_up_tokenization_spaces is ignored for BPE tokenizers (as transformers 5 "
                "does): it would strip legitimate spaces before punctuation",
                stacklevel=2,
            )
        if self._spec.decoder_byte_level:
            return self.decode_bytes(ids, skip_special_tokens).decode("utf-8", errors="replace")
        table = self._tokens()
        tokens = []
        for i in ids:
            if int(i) not in table:
                raise UnknownTokenIdError(f"{self.name}: token id {i} is not in the vocabulary")
            if not (skip_special_tokens and table[int(i)] in self._special_contents):
                tokens.append(table[int(i)])
        return " ".join(tokens)

    def batch_decode(
        self,
        sequences: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[str]:
        """`decode` of each sequence."""
        out = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [out] if isinstance(out, str) else out

    def decode_stream(self, skip_special_tokens: bool = False) -> StreamDecoder:
        """An incremental decoder: feed ids one by one with `.step(id)`, then `.flush()`.
        >>> s = tok.decode_stream()
        >>> [s.step(i) for i in tok.encode("né")]
        ['n', 'é']
        """
        return StreamDecoder(
            lambda ids: self.decode_bytes(ids, skip_special_tokens),
            byte_level=self._spec.decoder_byte_level,
        )

    def show(self, text: str) -> Any:
        """How this tokenizer splits `text`, coloured: HTML in a notebook, rich in a terminal.
        >>> list(tok.show("Hello world").counts.values())  # {tokenizer name: tokens}
        [2]
        """
        from toklm.show import show

        return show(text, tokenizers=[self])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size})"

    def __getstate__(self) -> dict[str, Any]:
        # The native core is rebuilt from the spec on unpickling (data loaders pickle tokenizers).
        return {k: v for k, v in self.__dict__.items() if k not in ("_core", "_id_to_token")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._id_to_token = None
        self._build()
