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

from toklm.byte_level import split_merge
from toklm.hf.normalize import Normalizer, build_normalizer
from toklm.native import ID_LIMIT

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


# `tokenizers` reads ids as u32 and refuses JSON nested 128 levels deep (serde_json's limit).
MAX_JSON_DEPTH = 127


def _id(value: Any, where: str) -> int:
    """`value` if it is an id `tokenizers` accepts (an integer in 0..2**32-1), else SpecError."""
    if type(value) is not int or not 0 <= value < ID_LIMIT:
        raise SpecError(f"{where} must be an integer id in 0..2**32-1, got {value!r:.40}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    """`value` if it is a JSON list (null counts as empty), else SpecError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"{where} must be a list, got {type(value).__name__} {value!r:.60}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else SpecError."""
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be an object, got {type(value).__name__} {value!r:.60}")
    return value


def _check_depth(data: dict[str, Any], path: Path) -> None:
    """SpecError if the document nests deeper than `tokenizers` reads (the vocab and merges,
    whose shapes are checked on their own, are not walked: they are most of the file)."""
    stack: list[tuple[Any, int]] = [(v, 2) for k, v in data.items() if k != "model"]
    model = data.get("model")
    if isinstance(model, dict):
        stack += [(v, 3) for k, v in model.items() if k not in ("vocab", "merges")]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise SpecError(
                    f"{path}: JSON nested more than {MAX_JSON_DEPTH} levels deep "
                    "(tokenizers' limit)"
                )
            items = value.values() if isinstance(value, dict) else value
            stack += [(v, depth + 1) for v in items if isinstance(v, dict | list)]


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
    except RecursionError:
        raise SpecError(f"{path}: JSON nested too deeply to read") from None


def _pre_steps(obj: Any, where: str) -> list[tuple[str, str, bool, str, bool]]:
    if obj is None:
        return []
    kind = _type(obj, where)
    if kind == "Sequence":
        steps = []
        for i, sub in enumerate(_list(obj.get("pretokenizers"), f"{where}.pretokenizers")):
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
        for i, sub in enumerate(_list(obj.get("processors"), f"{where}.processors")):
            out += _post(sub, vocab_ids, f"{where}.processors[{i}]") or []
        return out
    if kind == "ByteLevel":
        trim = _bool(obj, "trim_offsets", True, where)
        return [("byte_level", trim, _bool(obj, "add_prefix_space", True, where))]
    if kind == "TemplateProcessing":
        specials: dict[str, tuple[int, ...]] = {}
        raw_specials = obj.get("special_tokens")
        for name, sp in _object(raw_specials or {}, f"{where}.special_tokens").items():
            w = f"{where}.special_tokens[{name!r}]"
            ids = sp.get("ids") if isinstance(sp, dict) else None
            if not isinstance(ids, list):
                raise SpecError(f"{w} needs a list of int 'ids'")
            specials[name] = tuple(_id(t, f"{w}.ids[{j}]") for j, t in enumerate(ids))
        items = []
        for i, item in enumerate(_list(obj.get("single"), f"{where}.single")):
            w = f"{where}.single[{i}]"
            if isinstance(item, dict) and "Sequence" in item:
                seq = _object(item["Sequence"], f"{w}.Sequence")
                if seq.get("id") != "A":
                    raise SpecError(f"{w}: a single template can only use $A")
                items.append(("A", _id(seq.get("type_id", 0), f"{w}.Sequence.type_id"), True))
            elif isinstance(item, dict) and "SpecialToken" in item:
                sp_item = _object(item["SpecialToken"], f"{w}.SpecialToken")
                name = sp_item.get("id")
                if not isinstance(name, str) or name not in specials:
                    raise SpecError(f"{w}: special token {name!r:.60} is not defined")
                type_id = _id(sp_item.get("type_id", 0), f"{w}.SpecialToken.type_id")
                items.append((name, type_id, False))
            else:
                raise SpecError(f"{w}: unknown template item {item!r:.80}")
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
        lines = (line.removesuffix("\r") for line in merges.split("\n"))
        merges = [line for line in lines if line and not line.startswith("#version")]
    pairs = [split_merge(m) if isinstance(m, str) else (m[0], m[1]) for m in merges]
    return [pair for pair in pairs if pair is not None]


def _added_tokens(raw: Any, where: str) -> list[AddedToken]:
    out = []
    for i, t in enumerate(_list(raw, where)):
        w = f"{where}[{i}]"
        if not isinstance(t, dict) or not isinstance(t.get("id"), int):
            raise SpecError(f"{w} must be an object with an int 'id'")
        _id(t["id"], f"{w}.id")
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
    """Read a `tokenizer.json`; SpecError naming the file and the JSON path of anything
    malformed, anything `tokenizers` refuses, and anything toklm does not run exactly."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object at top level")
    _check_depth(data, path)
    try:
        return _spec_from_data(data, path)
    except RecursionError:  # deeper than the depth check lets through: never, but be sure
        raise SpecError(f"{path}: JSON nested too deeply to read") from None
    except SpecError:
        raise
    except ValueError as e:  # the normalizer's errors name the component already
        raise SpecError(str(e)) from None


def _spec_from_data(data: dict[str, Any], path: Path) -> TokenizerSpec:
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
    if "merges" not in model:
        raise SpecError(f"{where}.merges is missing (tokenizers refuses a BPE model without it)")
    merges = model["merges"]
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
        padding=_padding(data.get("padding"), f"{path}: padding"),
        truncation=_optional_object(data.get("truncation"), f"{path}: truncation"),
        source=str(path),
    )


def _optional_object(value: Any, where: str) -> dict[str, Any] | None:
    return None if value is None else _object(value, where)


def _padding(value: Any, where: str) -> dict[str, Any] | None:
    padding = _optional_object(value, where)
    if padding is not None and padding.get("direction", "Right") not in ("Left", "Right"):
        raise SpecError(
            f"{where}.direction must be 'Left' or 'Right', got {padding['direction']!r:.40}"
        )
    return padding


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
