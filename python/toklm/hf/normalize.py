"""Unicode normalizers of `tokenizer.json` (NFC, NFD, NFKC, NFKD, Sequence), with alignments.

The text itself comes from `unicodedata.normalize`. Offsets need to know which original
character each normalized character came from; `tokenizers` gets that from its
`unicode-normalization-alignments` crate, whose rule we reproduce: decompose each character
(first piece keeps its place, the rest are insertions), reorder marks, recompose (a composed
character stands for the characters it swallowed), then align each output character with the
next unconsumed input character, and an inserted one with the previous.

`unicodedata` carries Python's Unicode version, `tokenizers` its crate's; they differ only on
characters assigned in between.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

FORMS = ("NFC", "NFD", "NFKC", "NFKD")


class Normalizer:
    """One normalization form, or a sequence of them applied in order."""

    def __init__(self, forms: tuple[str, ...]) -> None:
        self.forms = forms

    def __repr__(self) -> str:
        return f"Normalizer({'+'.join(self.forms)})"

    def is_normalized(self, text: str) -> bool:
        """Whether normalizing would leave `text` unchanged (fast path: no alignment needed).

        >>> nfc = Normalizer(("NFC",))
        >>> nfc.is_normalized("caf\\u00e9"), nfc.is_normalized("e\\u0301")
        (True, False)
        """
        if len(self.forms) == 1:
            return unicodedata.is_normalized(self.forms[0], text)
        return self.normalize(text) == text

    def normalize(self, text: str) -> str:
        """The normalized text.

        >>> Normalizer(("NFKC",)).normalize("\\ufb01ne")
        'fine'
        """
        for form in self.forms:
            text = unicodedata.normalize(form, text)
        return text

    def normalize_aligned(self, text: str) -> tuple[str, list[int]]:
        """The normalized text and, per normalized character, the index of its source character.

        >>> Normalizer(("NFC",)).normalize_aligned("e\\u0301x")
        ('\\xe9x', [0, 2])
        """
        align = list(range(len(text)))
        for form in self.forms:
            text, step = _aligned(form, text)
            align = [align[i] for i in step] if align else step
        return text, align


def build_normalizer(obj: Any, where: str) -> Normalizer | None:
    """The normalizer of a `tokenizer.json`; ValueError naming any unsupported component."""
    if obj is None:
        return None
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind in FORMS:
        return Normalizer((kind,))
    if kind == "Sequence":
        forms: list[str] = []
        subs = obj.get("normalizers") or []
        if not isinstance(subs, list):
            raise ValueError(f"{where}.normalizers must be a list, got {type(subs).__name__}")
        for i, sub in enumerate(subs):
            inner = build_normalizer(sub, f"{where}.normalizers[{i}]")
            if inner is not None:
                forms += inner.forms
        return Normalizer(tuple(forms)) if forms else None
    raise ValueError(
        f"{where}: normalizer type {kind!r} is not supported by toklm "
        f"(supported: {', '.join(FORMS)}, Sequence)"
    )


@functools.lru_cache(maxsize=4096)
def _compose(a: str, b: str) -> str | None:
    """The primary composite of the pair, or None."""
    c = unicodedata.normalize("NFC", a + b)
    return c if len(c) == 1 else None


def _aligned(form: str, text: str) -> tuple[str, list[int]]:
    expected = unicodedata.normalize(form, text)
    if expected == text:
        return text, list(range(len(text)))
    decomposed_form = "NFKD" if form in ("NFKC", "NFKD") else "NFD"
    # (char, change): change 0 replaces one input char, +1 is inserted, -k also swallows k more.
    seq: list[tuple[str, int]] = []
    for c in text:
        d = unicodedata.normalize(decomposed_form, c)
        seq += [(ch, 0 if k == 0 else 1) for k, ch in enumerate(d)]
    # Canonical ordering: stable sort of each run of non-starters by combining class.
    i = 0
    while i < len(seq):
        j = i
        while j < len(seq) and unicodedata.combining(seq[j][0]):
            j += 1
        if j - i > 1:
            seq[i:j] = sorted(seq[i:j], key=lambda p: unicodedata.combining(p[0]))
        i = j + 1 if j == i else j
    if form in ("NFC", "NFKC"):
        seq = _recompose(seq)
    out = "".join(ch for ch, _ in seq)
    if out != expected:  # our reconstruction disagrees: align by position rather than guess
        return expected, [min(k, len(text) - 1) for k in range(len(expected))]
    align, idx = [], 0
    for _, change in seq:
        if change > 0:
            align.append(max(idx - 1, 0))
        else:
            align.append(min(idx, len(text) - 1))
            idx += 1 - change
    return out, align


def _recompose(seq: list[tuple[str, int]]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    starter: int | None = None
    last_cc = -1  # combining class of the last char after the starter; -1: none yet
    for ch, change in seq:
        cc = unicodedata.combining(ch)
        if starter is not None and (last_cc == -1 or last_cc < cc):
            composite = _compose(out[starter][0], ch)
            if composite is not None:
                out[starter] = (composite, out[starter][1] + change - 1)
                continue
        if cc == 0:
            starter, last_cc = len(out), -1
        else:
            last_cc = cc
        out.append((ch, change))
    return out
