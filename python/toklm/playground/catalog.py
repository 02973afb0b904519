"""What the playground can tokenize with, and how a name from the page becomes a tokenizer.

The page may name:

* a bundled encoding (``cl100k_base``) or an OpenAI model (``gpt-4o``: the encoding it uses);
* a Hugging Face repo id found in the local hub cache, as ``hf:ORG/NAME``;
* a file or directory given on the command line (``toklm playground --tokenizer PATH``): a
  Hugging Face tokenizer directory or ``tokenizer.json``, or a ``.tiktoken`` rank file.

Nothing else: the page cannot make the server read other paths or reach the network.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import toklm

__all__ = ["Catalog", "Choice", "UnknownTokenizerError", "display_name", "load_path"]

HF_PREFIX = "hf:"


class UnknownTokenizerError(LookupError):
    """A name the playground cannot resolve; the message says what can be chosen instead."""

    def __init__(self, spec: str, message: str) -> None:
        super().__init__(message)
        self.spec = spec
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Choice:
    """One entry of the page's tokenizer list: the name to send, a label and its group."""

    id: str
    label: str
    group: str


def _tiktoken_file(path: Path) -> Any:
    """An `Encoding` from a .tiktoken rank file: whole, with `toklm.load_encoding`, when the
    JSON that `Encoding.save` writes beside it is there; else with the pattern and special
    tokens of the bundled encoding the file is named after (``cl100k_base*.tiktoken``), or
    o200k_base's pattern and no special tokens."""
    loader = getattr(toklm, "load_encoding", None)
    if loader is not None:
        try:
            return loader(str(path))
        except FileNotFoundError:  # no sidecar JSON: a bare rank file
            pass
    from toklm.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(path))
    stem = path.name[: -len(".tiktoken")]
    base_name = next(
        (n for n in toklm.list_encoding_names() if stem == n or stem.startswith(n + "_")),
        None,
    )
    base = toklm.get_encoding(base_name or "o200k_base")
    specials = base._special_tokens if base_name else {}
    return toklm.Encoding(
        stem, pat_str=base._pat_str, mergeable_ranks=ranks, special_tokens=specials
    )


def load_path(path: str) -> Any:
    """A tokenizer from a path given on the command line (ValueError naming the path)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"--tokenizer {path}: no such file or directory")
    try:
        if p.is_file() and p.name.endswith(".tiktoken"):
            return _tiktoken_file(p)
        from toklm.hf import Tokenizer

        return Tokenizer.from_pretrained(str(p))
    except (OSError, ValueError, KeyError) as e:
        msg = str(e.args[0] if isinstance(e, KeyError) and e.args else e).strip()
        first = msg.splitlines()[0] if msg else type(e).__name__
        raise ValueError(f"--tokenizer {path}: cannot load it: {first}") from None


def _hub_repos() -> dict[str, Path]:
    """Repo id -> snapshot directory, for each cached hub repo that holds tokenizer files."""
    from toklm.hub import hub_cache_dir

    found: dict[str, Path] = {}
    cache = hub_cache_dir()
    try:
        repos = sorted(cache.glob("models--*"))
    except OSError:
        return found
    for repo in repos:
        snapshots = []
        ref = repo / "refs" / "main"
        if ref.is_file():
            snapshots.append(repo / "snapshots" / ref.read_text(encoding="utf-8").strip())
        snapshots += sorted(repo.glob("snapshots/*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for snap in snapshots:
            if (
                (snap / "tokenizer.json").is_file()
                or (snap / "vocab.json").is_file()
                and (snap / "merges.txt").is_file()
            ):
                found[repo.name[len("models--") :].replace("--", "/")] = snap
                break
    return found


class Catalog:
    """The tokenizers one playground serves; each is loaded once, on first use.

    >>> cat = Catalog()
    >>> cat.get("gpt-4o").name, "cl100k_base" in [c.id for c in cat.choices()]
    ('o200k_base', True)
    """

    def __init__(self, paths: Sequence[str] = ()) -> None:
        self.paths = list(dict.fromkeys(paths))
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def load_paths(self) -> None:
        """Load every --tokenizer path now, so that a bad one is reported at start."""
        for path in self.paths:
            self._loaded[path] = load_path(path)

    def choices(self) -> list[Choice]:
        """Everything the page offers, in groups."""
        from toklm.openai_models import MODEL_TO_ENCODING

        out = [Choice(n, n, "encoding") for n in toklm.list_encoding_names()]
        out += [Choice(p, p, "file") for p in self.paths]
        out += [Choice(HF_PREFIX + r, r, "hub cache") for r in _hub_repos()]
        out += [Choice(m, f"{m} ({e})", "model") for m, e in MODEL_TO_ENCODING.items()]
        return out

    def get(self, spec: str) -> Any:
        """The tokenizer `spec` names; `UnknownTokenizerError` when it names none."""
        if not isinstance(spec, str) or not spec.strip():
            raise UnknownTokenizerError(str(spec), f"not a tokenizer name: {spec!r}")
        spec = spec.strip()
        if spec in toklm.list_encoding_names():
            return toklm.get_encoding(spec)
        with self._lock:
            if spec in self._loaded:
                return self._loaded[spec]
            if spec in self.paths:
                tok = load_path(spec)
            elif spec.startswith(HF_PREFIX):
                tok = self._hub(spec)
            else:
                tok = self._model(spec)
            self._loaded[spec] = tok
            return tok

    def _hub(self, spec: str) -> Any:
        snapshot = _hub_repos().get(spec[len(HF_PREFIX) :])
        if snapshot is None:
            raise UnknownTokenizerError(
                spec,
                f"unknown tokenizer {spec!r}: no such repo with tokenizer files in the Hugging "
                "Face hub cache (the playground does not download)",
            )
        from toklm.hf import Tokenizer

        tok = Tokenizer.from_pretrained(str(snapshot))
        tok.name = spec[len(HF_PREFIX) :]
        return tok

    def _model(self, spec: str) -> Any:
        try:
            return toklm.encoding_for_model(spec)
        except KeyError:
            pass
        hint = ", ".join(toklm.list_encoding_names())
        files = f"; files given with --tokenizer: {', '.join(self.paths)}" if self.paths else ""
        raise UnknownTokenizerError(
            spec,
            f"unknown tokenizer {spec!r}: choose an encoding ({hint}), an OpenAI model name "
            f"(gpt-4o), or hf:REPO for a tokenizer in the Hugging Face hub cache{files}; other "
            f"files must be given on the command line (toklm playground --tokenizer PATH)",
        )


def display_name(spec: str, tok: Any) -> str:
    """How a column is titled: the encoding, with the model or path it was chosen by.

    >>> display_name("gpt-4o", toklm.get_encoding("o200k_base"))
    'gpt-4o (o200k_base)'
    """
    name = str(getattr(tok, "name", None) or spec)
    if name == spec or spec.startswith(HF_PREFIX):
        return name
    if os.path.exists(spec):
        return spec
    return f"{spec} ({name})"
