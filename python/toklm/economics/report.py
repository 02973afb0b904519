"""`report`: tokens per language and tokenizer over a parallel corpus, and the token premium.

A parallel corpus is a directory with one UTF-8 file per language (``<lang>.txt``), aligned line
by line: line i is the same sentence in every file. Each line is encoded on its own, without its
line break, as a sentence would be sent. The *token premium* of a language under a tokenizer is
its total tokens divided by the reference language's (English) under the same tokenizer: how many
times more tokens the same content costs.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toklm.economics.compare import resolve
from toklm.economics.measure import measure, read_fields, tokenizer_label
from toklm.economics.textio import InputError, Source
from toklm.languages import LANGUAGE_NAMES

__all__ = ["LANGUAGE_NAMES", "count_lines", "report", "summarize"]


# Quantiles of tokens per line kept in each record (for box plots and the tables).
LINE_QUANTILES = (5, 25, 50, 75, 95)


def count_lines(path: str) -> int:
    """Lines in a file: line breaks, plus one for a last line without a break.

    >>> import tempfile; f = tempfile.NamedTemporaryFile("wb", delete=False); _ = f.write(b"a\\nb")
    >>> f.close(); count_lines(f.name)
    2
    """
    lines, last = 0, b"\n"
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    return lines + (last != b"\n")


@dataclass(frozen=True)
class _Input:
    """One language of a report: its code (the file stem), where its text comes from."""

    language: str
    source: Source
    path: Path | None = None


def _corpus_files(
    paths: Sequence[str | os.PathLike[str]], texts: Sequence[str] = ()
) -> tuple[list[_Input], bool]:
    """The inputs to report on, and whether they came from one directory (a parallel corpus).

    A path "-" is stdin; `texts` are literal texts (languages "text", "text2", ...).
    """
    inputs = [
        _Input("text" if i == 1 else f"text{i}", Source.from_text(t, f"<text {i}>"))
        for i, t in enumerate(texts, 1)
    ]
    if not inputs and len(paths) == 1 and Path(paths[0]).is_dir():
        directory = Path(paths[0])
        files = sorted(p for p in directory.iterdir() if p.suffix == ".txt" and p.is_file())
        if not files:
            raise InputError(f"{directory}: no <language>.txt files in this directory")
        return [_Input(f.stem, Source.from_path(f), f) for f in files], True
    for p in paths:
        if os.fspath(p) == "-":
            inputs.append(_Input("stdin", Source.stdin()))
            continue
        p = Path(p)
        if p.is_dir():
            raise InputError(f"{p}: is a directory; give one corpus directory, or files")
        if not p.exists():
            raise InputError(f"{p}: no such file")
        inputs.append(_Input(p.stem, Source.from_path(p), p))
    if not inputs:
        raise InputError("no corpus given: pass a directory of <language>.txt files, or files")
    return inputs, False


def _misalignment(inputs: list[_Input]) -> str | None:
    """Why `inputs` are not aligned line by line, or None when they are."""
    if any(i.path is None for i in inputs):
        return "stdin and --text are not files of a corpus"
    counts = [(i.path, count_lines(str(i.path))) for i in inputs]
    first, n_first = counts[0]
    for path, n in counts[1:]:
        if n != n_first:
            return f"{path} has {n:,} lines, {first} has {n_first:,}"
    return None


def _premium_note(
    inputs: list[_Input], parallel: bool | None, reference: str | None, from_directory: bool
) -> str | None:
    """None when the token premium can be computed; else why not (an error for a corpus)."""
    languages = [i.language for i in inputs]
    if parallel is False:
        return "--no-parallel: the files are reported independently"
    if not reference:
        return "--no-reference: no reference language"
    if parallel is None and not from_directory and len(inputs) < 2:
        return "one input, no other language to compare it with"
    why = _misalignment(inputs)
    if why is not None:
        if parallel:
            raise InputError(
                f"parallel files differ in length: {why}; a parallel corpus must be aligned "
                "line by line (pass --no-parallel to report the files independently)"
            )
        return f"the files are not aligned line by line ({why})"
    if reference not in languages:
        if parallel:
            raise InputError(
                f"no reference file {reference}.txt among {', '.join(languages)}: name the "
                "reference language with --reference LANG, or pass --no-reference"
            )
        return f"no {reference}.txt among the files (name the reference with --reference LANG)"
    return None


def _quantile(hist: Counter[int], q: float) -> int:
    """The q-th percentile (nearest rank) of the values counted in `hist`."""
    total = sum(hist.values())
    if not total:
        return 0
    rank = max(1, -(-total * q // 100))  # ceil(total * q / 100)
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


def report(
    paths: Sequence[str | os.PathLike[str]],
    tokenizers: Sequence[Any] | None = None,
    *,
    parallel: bool | None = None,
    reference: str | None = "en",
    texts: Sequence[str] = (),
    errors: str = "strict",
    quiet: bool = True,
) -> list[dict[str, Any]]:
    """One record per (language file, tokenizer), in file order then tokenizer order.

    Each line is encoded on its own, without its line break (a sentence as it would be sent),
    so `tokens` is the sum over lines: fewer than `toklm count` of the whole file, which also
    counts the line breaks and tokens that span them.

    parallel=None: a directory is a parallel corpus (an error when misaligned); files given one
    by one are one when they are aligned line by line and include the reference. The `premium`
    is tokens / tokens of the `reference` language; when there is none, `premium_note` says why.
    A path "-" is stdin; `texts` are literal texts.

    >>> corpus = shared("corpora/parallel/udhr")  # ../shared (conftest.py: skipped if absent)
    >>> rows = report([corpus], ["o200k_base"])
    >>> [r["premium"] for r in rows if r.get("language") in ("en", None)][0]
    1.0
    """
    toks = resolve(tokenizers)
    inputs, from_directory = _corpus_files(paths, texts)
    note = _premium_note(
        inputs, True if from_directory and parallel is None else parallel, reference, from_directory
    )
    sources = [i.source for i in inputs]
    results = measure(sources, toks, per_line=True, fragments=True, errors=errors, quiet=quiet)
    records = []
    for inp, result in zip(inputs, results, strict=True):
        for tok, tally in zip(toks, result.tallies, strict=True):
            tokens, lines = tally.tokens, result.lines
            content_bytes = result.read.bytes - result.read.newlines  # line breaks not encoded
            content_chars = result.read.chars - result.read.newlines
            rec: dict[str, Any] = {
                "language": inp.language,
                "language_name": LANGUAGE_NAMES.get(inp.language, inp.language),
                "file": str(inp.path) if inp.path is not None else inp.source.label,
                "tokenizer": tokenizer_label(tok),
                "lines": lines,
                "chars": content_chars,
                "bytes": content_bytes,
                "tokens": tokens,
                "tokens_per_line": tokens / lines if lines else None,
                "bytes_per_token": content_bytes / tokens if tokens else None,
                "chars_per_token": content_chars / tokens if tokens else None,
                "tokens_per_char": tokens / content_chars if content_chars else None,
                "premium": None,
                "reference": None,
                "premium_note": note,
                "byte_fragments": tally.fragments,
                "byte_fragment_share": (tally.fragments or 0) / tokens if tokens else 0.0,
                **read_fields(result.read),
            }
            for q in LINE_QUANTILES:
                rec[f"tokens_per_line_p{q}"] = _quantile(tally.line_tokens, q)
            rec["tokens_per_line_max"] = max(tally.line_tokens, default=0)
            records.append(rec)
    if note is None:
        base = {r["tokenizer"]: r["tokens"] for r in records if r["language"] == reference}
        for r in records:
            if base.get(r["tokenizer"]):
                r["premium"] = r["tokens"] / base[r["tokenizer"]]
                r["reference"] = reference
    return records


def _fewer(before: int, after: int) -> str:
    """ "71% fewer", "3% more" or "the same": how `after` tokens compare with `before`."""
    change = (before - after) / before if before else 0.0
    if round(change, 2) == 0:
        return "about the same"
    return f"{change:.0%} fewer" if change > 0 else f"{-change:.0%} more"


def _fmt_premium(x: float) -> str:
    return f"{x:.2f}x"


def summarize(records: Sequence[dict[str, Any]]) -> list[str]:
    """The finding in sentences with numbers: which languages pay the most tokens for the same
    content under each tokenizer, and how the premium changed from the first tokenizer to the
    last (e.g. gpt2 -> o200k_base).

    >>> # skipped: the figures change with the corpus (tests/economics check them)
    >>> rows = report(["../shared/corpora/parallel/udhr"])  # doctest: +SKIP
    >>> [s for s in summarize(rows) if s.startswith("Finding")]  # doctest: +SKIP
    ['Finding: Korean: 5.08x English tokens under gpt2 -> 1.35x under o200k_base (9,867 -> ...)']
    """
    tokenizers = list(dict.fromkeys(r["tokenizer"] for r in records))
    by = {(r["language"], r["tokenizer"]): r for r in records}
    languages = list(dict.fromkeys(r["language"] for r in records))
    name = {r["language"]: r["language_name"] for r in records}
    lines: list[str] = []
    reference = next((r["reference"] for r in records if r["reference"]), None)
    if reference is None:
        for tok in tokenizers:
            rows = sorted(
                (by[lang, tok] for lang in languages), key=lambda r: -(r["tokens_per_char"] or 0)
            )
            lines.append(
                f"{tok}: "
                + ", ".join(
                    f"{name[r['language']]} {r['tokens_per_char']:.2f} tokens/char, "
                    f"{r['byte_fragment_share']:.0%} byte fragments"
                    for r in rows
                    if r["tokens_per_char"] is not None
                )
            )
        note = next((r.get("premium_note") for r in records if r.get("premium_note")), None)
        lines.append(f"No token premium: {note or 'the reference language has no tokens'}.")
        return lines
    ref_name = name.get(reference, reference)
    lines.append(
        f"Token premium = tokens for the same lines / {ref_name} tokens, same tokenizer "
        f"({len(languages)} languages)."
    )
    for tok in tokenizers:
        rows = sorted(
            (by[lang, tok] for lang in languages if lang != reference),
            key=lambda r: -(r["premium"] or 0.0),
        )
        shown = [f"{name[r['language']]} {_fmt_premium(r['premium'])}" for r in rows]
        if len(shown) < 2:
            lines.append(f"{tok}: premium {', '.join(shown)}.")
            continue
        k = min(3, len(shown) // 2)  # highest and lowest never name the same language
        lines.append(
            f"{tok}: highest premium {', '.join(shown[:k])}; lowest {', '.join(shown[-k:])}."
        )
    if len(tokenizers) >= 2:
        old, new = tokenizers[0], tokenizers[-1]

        def change(lang: str) -> str:
            a, b = by[lang, old], by[lang, new]
            return (
                f"{name[lang]}: {_fmt_premium(a['premium'])} {ref_name} tokens under {old} -> "
                f"{_fmt_premium(b['premium'])} under {new} ({a['tokens']:,} -> {b['tokens']:,} "
                f"tokens, {_fewer(a['tokens'], b['tokens'])}; byte fragments "
                f"{a['byte_fragment_share']:.0%} -> {b['byte_fragment_share']:.0%})"
            )

        others = [lang for lang in languages if lang != reference]
        cut = sorted(others, key=lambda lang: by[lang, new]["premium"] - by[lang, old]["premium"])
        if "ko" in others:
            lines.append("Finding: " + change("ko") + ".")
        lines.append(f"Largest premium cuts from {old} to {new}:")
        lines += [f"  {change(lang)}" for lang in cut[:3]]
        ref_a, ref_b = by[reference, old]["tokens"], by[reference, new]["tokens"]
        lines.append(
            f"{ref_name} itself: {ref_a:,} tokens under {old}, {ref_b:,} under {new} "
            f"({_fewer(ref_a, ref_b)})."
        )
    return lines
