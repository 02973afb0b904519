"""`train_bpe` and `extend_encoding`: learning byte-level BPE vocabularies as `Encoding`s.

The work is done by the Rust core (`src/train/`): pieces are counted on every core with u64
counts, then merges are learned with incremental pair counts. The best pair is the one with
the highest count; ties go to the smallest `(left id, right id)`, so results are identical
whatever the thread count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from toklm import _core
from toklm.encoding import Encoding
from toklm.train.corpus import Corpus, Progress, feed

MAX_ID = 2**32 - 2  # the largest token id the core accepts


def resolve_pattern(pattern: str) -> str:
    """An encoding name's pattern (`"o200k_base"`), or `pattern` itself as a regex.

    >>> resolve_pattern("gpt2") == resolve_pattern("r50k_base")
    True
    """
    from toklm.registry import list_encoding_names

    if pattern in list_encoding_names():
        from toklm.registry import get_encoding

        return get_encoding(pattern)._pat_str
    return pattern


def new_trainer(pat_str: str) -> _core.BpeTrainer:
    try:
        return _core.BpeTrainer(pat_str)
    except ValueError as e:
        raise ValueError(f"pattern {pat_str!r} does not compile: {e}") from None


def train_bpe(
    corpus: Corpus,
    vocab_size: int,
    *,
    pattern: str = "o200k_base",
    special_tokens: Sequence[str] | None = None,
    min_frequency: int = 2,
    name: str | None = None,
    errors: str = "strict",
    progress: Progress | None = None,
) -> Encoding:
    """Train a byte-level BPE encoding of up to `vocab_size` tokens (256 bytes, the learned
    tokens, then `special_tokens`) on `corpus` (paths or texts, see `toklm.train.corpus`).

    Fewer tokens are learned when no pair occurs `min_frequency` times any more.
    `progress(stage, done, total)` reports `("read", bytes, file_bytes)` while counting and
    `("merge", tokens_added, tokens_wanted)` every thousand tokens.

    >>> enc = train_bpe(["low lower lowest"] * 10, 260, pattern="gpt2",
    ...                 special_tokens=["<|end|>"])
    >>> enc.n_vocab, enc.encode(" lower"), enc.decode_single_token_bytes(258)
    (260, [258, 101, 114], b' low')
    """
    specials = check_sizes(vocab_size, special_tokens, min_frequency)
    pat_str = resolve_pattern(pattern)
    trainer = new_trainer(pat_str)
    feed(trainer, corpus, errors=errors, progress=progress)
    if trainer.n_pieces() == 0:
        raise ValueError("the corpus is empty: no text to learn merges from")
    n_merges = vocab_size - 256 - len(specials)
    tokens = trainer.train(n_merges, min_frequency, _merge_progress(progress, n_merges))
    return encoding_from_tokens(name or f"bpe{vocab_size}", pat_str, tokens, specials)


def _merge_progress(progress: Progress | None, target: int) -> Callable[[int], None] | None:
    """`progress("merge", tokens_added, target)` for the native trainer, or None."""
    if progress is None:
        return None
    report = progress

    def merged(n: int) -> None:
        report("merge", n, target)

    return merged


def check_sizes(
    vocab_size: int, special_tokens: Sequence[str] | None, min_frequency: int
) -> list[str]:
    """Validate the sizes of a training run; return the special tokens as a list."""
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    specials = list(special_tokens or [])
    if len(set(specials)) != len(specials) or not all(isinstance(s, str) and s for s in specials):
        raise ValueError("special_tokens must be distinct non-empty strings")
    if vocab_size < 256 + len(specials):
        raise ValueError(
            f"vocab_size {vocab_size} is below 256 (the bytes) + {len(specials)} special tokens"
        )
    if vocab_size > MAX_ID + 1:
        raise ValueError(f"vocab_size {vocab_size} overflows the id space (at most {MAX_ID + 1})")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
    return specials


def encoding_from_tokens(
    name: str, pat_str: str, tokens: list[bytes], specials: list[str]
) -> Encoding:
    """The Encoding of the 256 bytes, `tokens` (ranks 256, ...) and then `specials`."""
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update((t, 256 + i) for i, t in enumerate(tokens))
    first_special = len(ranks)
    return Encoding(
        name,
        pat_str=pat_str,
        mergeable_ranks=ranks,
        special_tokens={s: first_special + i for i, s in enumerate(specials)},
    )


def extend_encoding(
    base: Encoding | str,
    corpus: Corpus,
    n_new: int,
    *,
    scripts: Sequence[str] | None = None,
    min_frequency: int = 2,
    name: str | None = None,
    errors: str = "strict",
    progress: Progress | None = None,
) -> Encoding:
    """Add up to `n_new` tokens learned from `corpus` to `base`, keeping every base rank and
    special-token id; new ids start after the base's highest id.

    With `scripts` (e.g. `["Hangul"]`), every new token holds a character of those scripts, so
    a text without them encodes to exactly the base's ids (see `src/train/extend.rs`).

    >>> import toklm
    >>> ext = extend_encoding("gpt2", ["안녕하세요 여러분"] * 5, 8, scripts=["Hangul"])
    >>> ext.n_vocab, ext.encode("hello world")
    (50265, [31373, 995])
    >>> len(toklm.get_encoding("gpt2").encode("안녕하세요")), len(ext.encode("안녕하세요"))
    (14, 8)
    """
    if isinstance(base, str):
        from toklm.registry import get_encoding

        base = get_encoding(base)
    if not isinstance(n_new, int) or n_new < 0:
        raise ValueError(f"n_new must be a non-negative int, got {n_new!r}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
    first_id = base.max_token_value + 1
    if first_id + n_new - 1 > MAX_ID:
        raise ValueError(
            f"{n_new} new tokens after id {base.max_token_value} overflow the id space "
            f"(ids end at {MAX_ID})"
        )
    if scripts is not None:
        scripts = list(scripts)
        known = {s.lower() for s in _core.BpeTrainer.script_names()}
        for s in scripts:
            if s.lower() not in known:
                raise ValueError(
                    f"unknown script {s!r}; known: {', '.join(_core.BpeTrainer.script_names())}"
                )
    trainer = new_trainer(base._pat_str)
    feed(trainer, corpus, errors=errors, progress=progress)
    if trainer.n_pieces() == 0:
        raise ValueError("the corpus is empty: no text to learn merges from")
    compact = base._compact
    base_ranks: bytes | Mapping[bytes, int] = (
        compact.blob if compact is not None else dict(base._mergeable_ranks)
    )
    tokens = trainer.extend(
        base_ranks, first_id, n_new, min_frequency, scripts, _merge_progress(progress, n_new)
    )
    ranks = dict(base._mergeable_ranks)
    ranks.update((t, first_id + i) for i, t in enumerate(tokens))
    return Encoding(
        name or f"{base.name}+{len(tokens)}",
        pat_str=base._pat_str,
        mergeable_ranks=ranks,
        special_tokens=base._special_tokens,
    )
