"""Balanced multilingual training: each merge goes to the language that pays the most.

Parity-aware BPE (arXiv 2508.04796): every language has a training corpus and a development
text; the development texts are parallel (the same content in each language, e.g. NTREX-128 or
FLORES), so a language's premium - its development tokens divided by the reference language's -
is what the same content costs in it. At each step the language with the worst premium gets its
most frequent pair merged, in every language. See `src/train/balance.rs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from toklm import _core
from toklm.encoding import Encoding
from toklm.train.bpe import check_sizes, encoding_from_tokens, new_trainer, resolve_pattern
from toklm.train.corpus import Corpus, feed


def train_bpe_balanced(
    corpora: Mapping[str, Corpus],
    vocab_size: int,
    *,
    dev: Mapping[str, Corpus] | None = None,
    reference: str = "en",
    pattern: str = "o200k_base",
    special_tokens: Sequence[str] | None = None,
    min_frequency: int = 2,
    name: str | None = None,
    errors: str = "strict",
) -> tuple[Encoding, dict[str, float]]:
    """Train one vocabulary for several languages, balancing their token premiums.

    `corpora` maps a language to its training corpus; `dev` maps each language to a parallel
    development text (default: the training corpora, which then must be parallel). Returns the
    encoding and each language's final premium on `dev` (tokens / tokens of `reference`).

    >>> enc, premium = train_bpe_balanced(
    ...     {"en": ["the rule of law "] * 20, "ko": ["법의 지배 "] * 20}, 300, pattern="gpt2")
    >>> enc.n_vocab, premium["en"], premium["ko"]  # each piece is one token: 3 vs 5 pieces
    (278, 1.0, 0.6)
    """
    specials = check_sizes(vocab_size, special_tokens, min_frequency)
    languages = list(corpora)
    if reference not in corpora:
        raise ValueError(f"reference language {reference!r} is not among {', '.join(languages)}")
    dev = corpora if dev is None else dev
    missing = [lang for lang in languages if lang not in dev]
    if missing:
        raise ValueError(f"no development text for {', '.join(missing)}")
    pat_str = resolve_pattern(pattern)
    train_trainers, dev_trainers = [], []
    for lang in languages:
        t = new_trainer(pat_str)
        feed(t, corpora[lang], errors=errors)
        d = t if dev is corpora else new_trainer(pat_str)
        if d is not t:
            feed(d, dev[lang], errors=errors)
        if t.n_pieces() == 0 or d.n_pieces() == 0:
            raise ValueError(f"language {lang!r}: the corpus is empty")
        train_trainers.append(t)
        dev_trainers.append(d)
    tokens, premiums = _core.BpeTrainer.train_balanced(
        train_trainers,
        dev_trainers,
        languages.index(reference),
        vocab_size - 256 - len(specials),
        min_frequency,
    )
    enc = encoding_from_tokens(name or f"balanced{vocab_size}", pat_str, tokens, specials)
    return enc, dict(zip(languages, premiums, strict=True))
