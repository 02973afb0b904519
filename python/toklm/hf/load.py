"""`from_pretrained`: find the files, read the configs, and build the tokenizer transformers would.

transformers 5 picks a tokenizer class from `tokenizer_config.json` (`tokenizer_class`) or
`config.json` (`model_type`). `TokenizersBackend` (the "auto" profile) runs `tokenizer.json` as
is; `GPT2Tokenizer` and `GPTNeoXTokenizer` rebuild the pipeline from the vocab and merges with
their own normalizer, pre-tokenizer, decoder and special-token defaults, which changes offsets
and special tokens. Those three are reproduced; any other class runs `tokenizer.json` as is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from toklm.hf.normalize import Normalizer
from toklm.hf.spec import (
    AddedToken,
    SpecError,
    TokenizerSpec,
    gpt2_pre_steps,
    read_json,
    read_merges_txt,
    read_vocab_json,
    spec_from_tokenizer_json,
)
from toklm.hub import download_hint, resolve_model_files
from toklm.native import ID_LIMIT

CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json", "config.json")
CLASS_PROFILES = {
    "GPT2Tokenizer": "gpt2",
    "GPT2TokenizerFast": "gpt2",
    "GPTNeoXTokenizer": "neox",
    "GPTNeoXTokenizerFast": "neox",
}
MODEL_TYPE_PROFILES = {"gpt2": "gpt2", "gpt_neox": "neox"}
# The special tokens each profile's class defaults to (transformers' __init__ signatures).
PROFILE_SPECIALS: dict[str, dict[str, str | None]] = {
    "auto": {},
    "gpt2": {
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    },
    "neox": {
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|padding|>",
    },
}
SETTINGS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "pad_token",
    "add_bos_token",
    "add_eos_token",
    "model_max_length",
    "padding_side",
    "truncation_side",
    "clean_up_tokenization_spaces",
    "add_prefix_space",
)


def _locate(target: str, revision: str) -> tuple[Path, Path | None]:
    """(directory, tokenizer.json or None when only vocab.json + merges.txt exist)."""
    local = Path(target).expanduser()
    if (
        local.is_file()
        and local.suffix == ".json"
        and local.name not in ("vocab.json",) + CONFIG_FILES
    ):
        return local.parent, local
    errors = []
    for required in (["tokenizer.json"], ["vocab.json", "merges.txt"]):
        try:
            directory = resolve_model_files(
                target, required, revision=revision, optional=CONFIG_FILES
            )
        except FileNotFoundError as e:
            errors.append(str(e))
            continue
        return directory, (
            directory / "tokenizer.json" if required[0] == "tokenizer.json" else None
        )
    raise FileNotFoundError(
        f"no tokenizer files for {target!r} (tokenizer.json, or vocab.json and merges.txt): "
        f"pass a local directory holding them, or download them with `hf download {target}`"
        f"{download_hint()}.\n" + "\n".join(errors)
    )


def _config(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object")
    return data


def _token_str(value: Any) -> Any:
    """A special token as configs write it: a string or {"content": ...}."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _config_added(config: dict[str, Any], where: str) -> list[AddedToken]:
    out = []
    for key, t in (config.get("added_tokens_decoder") or {}).items():
        if not isinstance(t, dict) or not isinstance(t.get("content"), str):
            raise SpecError(f"{where}: added_tokens_decoder[{key!r}] needs a string 'content'")
        try:
            tid = int(key)
        except ValueError:
            tid = -1
        if not 0 <= tid < ID_LIMIT:
            raise SpecError(
                f"{where}: added_tokens_decoder key {key!r} is not an integer id in 0..2**32-1"
            )
        special = bool(t.get("special", False))
        out.append(
            AddedToken(
                id=tid,
                content=t["content"],
                special=special,
                single_word=bool(t.get("single_word", False)),
                lstrip=bool(t.get("lstrip", False)),
                rstrip=bool(t.get("rstrip", False)),
                normalized=bool(t.get("normalized", not special)),
            )
        )
    return out


def load_tokenizer(
    cls: Any, path_or_repo_id: str | os.PathLike[str], *, revision: str, profile: str, **kwargs: Any
) -> Any:
    unknown = set(kwargs) - set(SETTINGS)
    if unknown:
        raise TypeError(f"from_pretrained() got unexpected keyword arguments {sorted(unknown)}")
    target = os.fspath(path_or_repo_id)
    directory, json_path = _locate(target, revision)
    tok_config = _config(directory, "tokenizer_config.json")
    special_map = _config(directory, "special_tokens_map.json")
    model_config = _config(directory, "config.json")
    if profile == "auto":
        if json_path is None:
            profile = "gpt2"  # transformers' AutoTokenizer gives up here; GPT-2 is what these are
        else:
            cls_name = tok_config.get("tokenizer_class")
            profile = CLASS_PROFILES.get(cls_name) or (
                "auto"
                if cls_name
                else MODEL_TYPE_PROFILES.get(model_config.get("model_type"), "auto")
            )

    settings: dict[str, Any] = dict(PROFILE_SPECIALS[profile])
    for source in (tok_config, special_map, kwargs):
        for key in SETTINGS:
            if key in source:
                settings[key] = _token_str(source[key]) if key.endswith("_token") else source[key]

    if json_path is not None:
        spec = spec_from_tokenizer_json(json_path)
    else:
        spec = TokenizerSpec(
            vocab=read_vocab_json(directory / "vocab.json"),
            merges=read_merges_txt(directory / "merges.txt"),
            post=None,
            source=str(directory / "merges.txt"),
        )
    known = {t.content for t in spec.added}
    spec.added += [
        t
        for t in _config_added(tok_config, str(directory / "tokenizer_config.json"))
        if t.content not in known
    ]
    add_prefix_space = bool(settings.pop("add_prefix_space", False))
    if profile in ("gpt2", "neox"):
        # The class rebuilds its pipeline from the vocab and merges alone.
        spec.ignore_merges = spec.byte_fallback = spec.fuse_unk = False
        spec.unk_token = None
        spec.normalizer = Normalizer(("NFC",)) if profile == "neox" else None
        spec.pre_steps = gpt2_pre_steps(add_prefix_space)
        spec.decoder_byte_level = True
        if profile == "neox":
            spec.post = None  # GPTNeoXTokenizer always installs its bos/eos template
            settings.setdefault("add_bos_token", False)
            settings.setdefault("add_eos_token", False)
    elif add_prefix_space:
        raise TypeError("add_prefix_space applies to GPT-2 and GPT-NeoX tokenizers only")
    if "model_max_length" in settings and settings["model_max_length"] is None:
        del settings["model_max_length"]
    if spec.padding and "padding_side" not in settings:
        settings["padding_side"] = {"Left": "left", "Right": "right"}.get(
            spec.padding.get("direction"), "right"
        )
    return cls(spec, name=target, **settings)
