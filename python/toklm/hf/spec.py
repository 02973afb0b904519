"""Reading Hugging Face tokenizer files into a `TokenizerSpec`, refusing what toklm cannot run.

Two sources: a `tokenizer.json` (the `tokenizers` library's serialization) or GPT-2's
`vocab.json` + `merges.txt`. Every component is checked against the set toklm implements
exactly; anything else is a ValueError naming the file and the component, never a silent
difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toklm.hf.normalize import Normalizer, build_normalizer

# tokenizers' ByteLevel regex (pre_tokenizers/byte_level.rs); `use_regex` selects it.
BYTE_LEVEL_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
SPLIT_BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")


@dataclass(frozen=True)
class AddedToken:
    """An entry of `added_tokens`, with the flags `tokenizers` gives it."""

    id: int
    content: str
    special: bool = False
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = True


@dataclass(frozen=True)
class Template:
    """`TemplateProcessing` for single sequences: items are ("A", type_id) or (token, type_id)."""

    items: tuple[tuple[str, int, bool], ...]  # (name, type_id, is_sequence)
    special_ids: dict[str, tuple[int, ...]]  # special token name -> its ids

    def added_count(self) -> int:
        return sum(len(self.special_ids[n]) for n, _, seq in self.items if not seq)


@dataclass
class TokenizerSpec:
    """Everything toklm needs from a tokenizer's files, checked and normalized."""

    vocab: dict[str, int]
    # As tokenizer.json lists them ("a b" or ["a", "b"]), or the text of a merges.txt; the
    # native core parses them (see `merge_pairs` for Python's view).
    merges: list[Any] | str
    added: list[AddedToken] = field(default_factory=list)
    ignore_merges: bool = False
    byte_fallback: bool = False
    unk_token: str | None = None
    fuse_unk: bool = False
    normalizer: Normalizer | None = None
    # ("split", pattern, is_regex, behavior, invert) | ("byte_level", "", use_regex, "", prefix)
    pre_steps: list[tuple[str, str, bool, str, bool]] = field(default_factory=list)
    # ("byte_level", trim_offsets, add_prefix_space) | ("template", Template)
    post: list[tuple[Any, ...]] | None = None
    decoder_byte_level: bool = True
    padding: dict[str, Any] | None = None
    truncation: dict[str, Any] | None = None
    source: str = ""  # the file(s) it was read from, for error messages

    @property
    def byte_level(self) -> bool:
        return any(step[0] == "byte_level" for step in self.pre_steps)


class SpecError(ValueError):
    """A tokenizer file toklm cannot read or cannot run exactly."""


def _bool(obj: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SpecError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def _type(obj: Any, where: str) -> str:
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise SpecError(f"{where} must be an object with a string 'type', got {obj!r:.80}")
    return obj["type"]


def read_json(path: Path) -> Any:
    """Parse a JSON file; ValueError naming the file, line and column when it is malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(
            f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None


def _pre_steps(obj: Any, where: str) -> list[tuple[str, str, bool, str, bool]]:
    if obj is None:
        return []
    kind = _type(obj, where)
    if kind == "Sequence":
        steps = []
        for i, sub in enumerate(obj.get("pretokenizers") or []):
            steps += _pre_steps(sub, f"{where}.pretokenizers[{i}]")
        return steps
    if kind == "ByteLevel":
        prefix = _bool(obj, "add_prefix_space", True, where)
        return [("byte_level", "", _bool(obj, "use_regex", True, where), "", prefix)]
    if kind == "Split":
        pattern = obj.get("pattern")
        if isinstance(pattern, dict) and isinstance(pattern.get("Regex"), str):
            text, is_regex = oniguruma_regex(pattern["Regex"], f"{where}.pattern"), True
        elif isinstance(pattern, dict) and isinstance(pattern.get("String"), str):
            text, is_regex = pattern["String"], False
        else:
            raise SpecError(f"{where}.pattern must be {{'Regex': ...}} or {{'String': ...}}")
        behavior = obj.get("behavior", "Isolated")
        if behavior not in SPLIT_BEHAVIORS:
            raise SpecError(f"{where}.behavior {behavior!r} is not one of {SPLIT_BEHAVIORS}")
        return [("split", text, is_regex, behavior, _bool(obj, "invert", False, where))]
    raise SpecError(
        f"{where}: pre-tokenizer type {kind!r} is not supported by toklm "
        "(supported: ByteLevel, Split, Sequence)"
    )


def oniguruma_regex(pattern: str, where: str) -> str:
    r"""The fancy-regex pattern that means what `pattern` means to `tokenizers`' Oniguruma (Ruby
    syntax), or SpecError where the two read the same text differently and no rewrite is safe.

    Ruby's `^`/`$` match at line breaks, so they become `(?m:^)`/`(?m:$)` (except `\s++$`,
    which can only match at the very end either way); Ruby's `X{m,n}+` is one or more `X{m,n}`,
    possessive in fancy-regex, and is refused.

    >>> oniguruma_regex(r"a$|\s++$", "p")
    'a(?m:$)|\\s++$'
    """
    out: list[str] = []
    i, in_class = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":  # an escape, with its {...} argument if it has one (\p{L}, \x{41})
            end = i + 2
            if pattern[end : end + 1] == "{" and "}" in pattern[end:]:
                end = pattern.index("}", end) + 1
            out.append(pattern[i:end])
            i = end
            continue
        if c == "[":
            in_class += 1
        elif c == "]" and in_class:
            in_class -= 1
        elif not in_class and c in "^$":
            if c == "$" and pattern[:i].endswith("\\s++"):
                out.append(c)
            else:
                out.append(f"(?m:{c})")
            i += 1
            continue
        elif not in_class and c == "}" and pattern[i + 1 : i + 2] == "+":
            raise SpecError(
                f"{where}: {pattern!r} uses '{{m,n}}+', which Oniguruma (tokenizers) reads as "
                "'one or more {m,n}' and fancy-regex as possessive; toklm refuses to guess"
            )
        out.append(c)
        i += 1
    return "".join(out)


def _post(obj: Any, vocab_ids: dict[str, int], where: str) -> list[tuple[Any, ...]] | None:
    if obj is None:
        return None
    kind = _type(obj, where)
    if kind == "Sequence":
        out: list[tuple[Any, ...]] = []
        for i, sub in enumerate(obj.get("processors") or []):
            out += _post(sub, vocab_ids, f"{where}.processors[{i}]") or []
        return out
    if kind == "ByteLevel":
        trim = _bool(obj, "trim_offsets", True, where)
        return [("byte_level", trim, _bool(obj, "add_prefix_space", True, where))]
    if kind == "TemplateProcessing":
        specials: dict[str, tuple[int, ...]] = {}
        for name, sp in (obj.get("special_tokens") or {}).items():
            ids = sp.get("ids") if isinstance(sp, dict) else None
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise SpecError(f"{where}.special_tokens[{name!r}] needs a list of int 'ids'")
            specials[name] = tuple(ids)
        items = []
        for i, item in enumerate(obj.get("single") or []):
            if "Sequence" in item:
                seq = item["Sequence"]
                if seq.get("id") != "A":
                    raise SpecError(f"{where}.single[{i}]: a single template can only use $A")
                items.append(("A", int(seq.get("type_id", 0)), True))
            elif "SpecialToken" in item:
                name = item["SpecialToken"].get("id")
                if name not in specials:
                    raise SpecError(f"{where}.single[{i}]: special token {name!r} is not defined")
                items.append((name, int(item["SpecialToken"].get("type_id", 0)), False))
            else:
                raise SpecError(f"{where}.single[{i}]: unknown template item {item!r:.80}")
        return [("template", Template(tuple(items), specials))]
    raise SpecError(
        f"{where}: post-processor type {kind!r} is not supported by toklm "
        "(supported: ByteLevel, TemplateProcessing, Sequence)"
    )


def _decoder_byte_level(obj: Any, where: str) -> bool:
    """True for a ByteLevel decoder, False for none (tokens joined by spaces)."""
    if obj is None:
        return False
    kind = _type(obj, where)
    if kind == "ByteLevel":
        return True
    raise SpecError(
        f"{where}: decoder type {kind!r} is not supported by toklm (supported: ByteLevel)"
    )


def merge_pairs(merges: list[Any] | str) -> list[tuple[str, str]]:
    """Merges as (left, right) pairs, from either form `TokenizerSpec.merges` holds."""
    if isinstance(merges, str):
        lines = merges.split("\n")
        return [
            (a, b)
            for a, b in (line.removesuffix("\r").split(" ") for line in lines if line)
            if not a.startswith("#version")
        ]
    return [tuple(m.split(" ")) if isinstance(m, str) else (m[0], m[1]) for m in merges]


def _added_tokens(raw: Any, where: str) -> list[AddedToken]:
    out = []
    for i, t in enumerate(raw or []):
        w = f"{where}[{i}]"
        if not isinstance(t, dict) or not isinstance(t.get("id"), int):
            raise SpecError(f"{w} must be an object with an int 'id'")
        if not isinstance(t.get("content"), str):
            raise SpecError(f"{w} must have a string 'content'")
        special = _bool(t, "special", False, w)
        out.append(
            AddedToken(
                id=t["id"],
                content=t["content"],
                special=special,
                single_word=_bool(t, "single_word", False, w),
                lstrip=_bool(t, "lstrip", False, w),
                rstrip=_bool(t, "rstrip", False, w),
                normalized=_bool(t, "normalized", not special, w),
            )
        )
    return out


def spec_from_tokenizer_json(path: Path) -> TokenizerSpec:
    """Read a `tokenizer.json`; SpecError for anything toklm does not run exactly."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object at top level")
    model = data.get("model")
    if not isinstance(model, dict):
        raise SpecError(f"{path}: no 'model' object")
    kind = model.get("type", "BPE" if "merges" in model else None)
    if kind != "BPE":
        raise SpecError(f"{path}: model type {kind!r} is not supported by toklm (supported: BPE)")
    where = f"{path}: model"
    dropout = model.get("dropout")
    if dropout not in (None, 0, 0.0):
        raise SpecError(
            f"{where}.dropout is {dropout}: BPE dropout samples merges at random, and toklm "
            "encodes deterministically; set it to null to use this tokenizer"
        )
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise SpecError(f"{where}.{key} {model[key]!r} is not supported by toklm")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or set(map(type, vocab.values())) - {int}:
        raise SpecError(f"{where}.vocab must be an object of token -> int id")
    merges = model.get("merges", [])
    if not isinstance(merges, list):
        raise SpecError(f"{where}.merges must be a list")
    unk = model.get("unk_token")
    if unk is not None and not isinstance(unk, str):
        raise SpecError(f"{where}.unk_token must be a string or null")
    normalizer = build_normalizer(data.get("normalizer"), f"{path}: normalizer")
    pre_steps = _pre_steps(data.get("pre_tokenizer"), f"{path}: pre_tokenizer")
    kinds = [s[0] for s in pre_steps]
    if "byte_level" in kinds and kinds.index("byte_level") != len(kinds) - 1:
        raise SpecError(
            f"{path}: pre_tokenizer: toklm needs ByteLevel to be the last pre-tokenizer"
        )
    return TokenizerSpec(
        vocab=vocab,
        merges=merges,
        added=_added_tokens(data.get("added_tokens"), f"{path}: added_tokens"),
        ignore_merges=_bool(model, "ignore_merges", False, where),
        byte_fallback=_bool(model, "byte_fallback", False, where),
        unk_token=unk,
        fuse_unk=_bool(model, "fuse_unk", False, where),
        normalizer=normalizer,
        pre_steps=pre_steps,
        post=_post(data.get("post_processor"), vocab, f"{path}: post_processor"),
        decoder_byte_level=_decoder_byte_level(data.get("decoder"), f"{path}: decoder"),
        padding=data.get("padding") if isinstance(data.get("padding"), dict) else None,
        truncation=data.get("truncation") if isinstance(data.get("truncation"), dict) else None,
        source=str(path),
    )


def read_vocab_json(path: Path) -> dict[str, int]:
    """GPT-2's `vocab.json` (`encoder.json`): token -> id; non-integer values are skipped."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object of token -> id")
    if set(map(type, data.values())) - {int}:
        return {k: v for k, v in data.items() if type(v) is int}
    return data


def read_merges_txt(path: Path) -> str:
    """GPT-2's `merges.txt` (`vocab.bpe`) as text: '#version' lines, then 'a b' per line. The
    native core parses it and names the line of any malformed merge."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text ({e})") from None


def gpt2_pre_steps(add_prefix_space: bool = False) -> list[tuple[str, str, bool, str, bool]]:
    """The pre-tokenizer GPT-2 and GPT-NeoX tokenizers use: ByteLevel with its regex."""
    return [("byte_level", "", True, "", add_prefix_space)]
