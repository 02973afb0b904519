"""Fuzz toklm against tiktoken: random strings through every encoding and every mode.

    python benchmarks/fuzz_tiktoken.py --strings 1000000          # the recorded run
    python benchmarks/fuzz_tiktoken.py --strings 2000 --seed 7    # a quick look

Each group of 64 strings goes through the next of the seven encodings in turn (all seven with
--every-encoding), in the modes `encode` (default: specials refused,
the error text compared), `encode_ordinary`, `encode(allowed_special="all")`,
`encode(disallowed_special=())`, `count` (against the length of tiktoken's list) and, in groups of
64 strings, `encode_batch` / `encode_ordinary_batch` / `count_batch`. The strings mix what breaks
tokenizers: any code point (lone surrogates too), the characters the patterns treat specially,
special-token text, concatenations of real tokens, whitespace runs and long repeats.

Prints the number of strings and comparisons and every mismatch (exit status 1 if any). tiktoken
loads the vocabulary files from ../shared (no network).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import tiktoken
import toklm

SHARED = Path(__file__).resolve().parents[2] / "shared"
BLOB = "https://openaipublic.blob.core.windows.net"
SOURCES = {
    f"{BLOB}/gpt-2/encodings/main/vocab.bpe": "tokenizers/gpt2/merges.txt",
    f"{BLOB}/gpt-2/encodings/main/encoder.json": "tokenizers/gpt2/vocab.json",
    f"{BLOB}/encodings/r50k_base.tiktoken": "tokenizers/tiktoken/r50k_base.tiktoken",
    f"{BLOB}/encodings/p50k_base.tiktoken": "tokenizers/tiktoken/p50k_base.tiktoken",
    f"{BLOB}/encodings/cl100k_base.tiktoken": "tokenizers/tiktoken/cl100k_base.tiktoken",
    f"{BLOB}/encodings/o200k_base.tiktoken": "tokenizers/tiktoken/o200k_base.tiktoken",
}
ENCODINGS = [
    "gpt2",
    "r50k_base",
    "p50k_base",
    "p50k_edit",
    "cl100k_base",
    "o200k_base",
    "o200k_harmony",
]
INTERESTING = list(
    "aZ09'sSdlLvVrRmMtT \t\r\n\x0b\x0c\u3000\u00a0\u2028\u2029\u0085/.,!?-_#@é\u0301ǅʰ"
    "한국語ひ🎉👍\u200d\ufeff<|>\U0001f1f0\U0001f1f7ßİı\u0345"
)
SURROGATES = ["\ud800", "\udfff", "\ud83d", "\udc4d", "\ud83d\udc4d"]
BATCH = 64


def tiktoken_from_shared() -> None:
    """Point tiktoken's cache at copies of the shared vocabulary files."""
    cache = Path(tempfile.mkdtemp(prefix="fuzz-tiktoken-"))
    for url, rel in SOURCES.items():
        shutil.copyfile(SHARED / rel, cache / hashlib.sha1(url.encode()).hexdigest())
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


class Strings:
    """Random strings of several kinds, reproducible from the seed."""

    def __init__(self, seed: int, refs: dict[str, tiktoken.Encoding]) -> None:
        self.rng = random.Random(seed)
        self.specials = sorted({s for r in refs.values() for s in r.special_tokens_set})
        self.token_texts = [
            r.decode([t])
            for r in refs.values()
            for t in random.Random(seed + 1).sample(range(r.n_vocab - 1000), 4000)
        ]
        self.kinds = [
            self.any_code_points,
            self.interesting,
            self.tokens,
            self.with_specials,
            self.whitespace,
            self.repeats,
        ]

    def any_code_points(self) -> str:
        r = self.rng
        n = r.randrange(0, 40)
        out = []
        for _ in range(n):
            top = r.choice((0x80, 0x800, 0x10000, 0x110000))
            out.append(chr(r.randrange(0, top)))
        return "".join(out)

    def interesting(self) -> str:
        r = self.rng
        pool = INTERESTING + SURROGATES
        return "".join(r.choice(pool) for _ in range(r.randrange(0, 60)))

    def tokens(self) -> str:
        r = self.rng
        return "".join(r.choice(self.token_texts) for _ in range(r.randrange(0, 25)))

    def with_specials(self) -> str:
        r = self.rng
        parts = []
        for _ in range(r.randrange(1, 8)):
            k = r.random()
            if k < 0.3:
                parts.append(r.choice(self.specials))
            elif k < 0.4:
                s = r.choice(self.specials)
                cut = r.randrange(1, len(s))
                parts.append(s[:cut])  # a broken special token
            else:
                parts.append(r.choice((self.interesting, self.tokens))()[:20])
        return "".join(parts)

    def whitespace(self) -> str:
        r = self.rng
        ws = " \t\r\n\x0b\x0c\u3000\u00a0\u2028\u0085"
        return "".join(
            r.choice(ws) * r.randrange(1, 6) + (r.choice(INTERESTING) if r.random() < 0.5 else "")
            for _ in range(r.randrange(1, 12))
        )

    def repeats(self) -> str:
        r = self.rng
        unit = r.choice(INTERESTING + ["ab", "12", " a", "ﷺ", "🎉 ", "\u0301"])
        return unit * r.randrange(1, 400)

    def next(self) -> str:
        return self.rng.choice(self.kinds)()


def outcome(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except ValueError as e:  # the disallowed-special error: its text must match too
        return ("ValueError", str(e))


def compare(name, ours, ref, texts, report) -> int:
    """Every mode on `texts` (one batch); returns the number of comparisons."""
    n = 0
    for text in texts:
        want_all = ref.encode(text, allowed_special="all")
        want_none = ref.encode(text, disallowed_special=())
        checks = [
            ("encode", outcome(ours.encode, text), outcome(ref.encode, text)),
            ("encode_ordinary", ours.encode_ordinary(text), ref.encode_ordinary(text)),
            ("allowed_special=all", ours.encode(text, allowed_special="all"), want_all),
            ("disallowed_special=()", ours.encode(text, disallowed_special=()), want_none),
            (
                "count(disallowed_special=())",
                ours.count(text, disallowed_special=()),
                len(want_none),
            ),
            ("count(allowed_special=all)", ours.count(text, allowed_special="all"), len(want_all)),
        ]
        got_count = outcome(ours.count, text)
        want_default = outcome(ref.encode, text)
        checks.append(
            (
                "count",
                got_count,
                want_default if isinstance(want_default, tuple) else len(want_default),
            )
        )
        for mode, got, want in checks:
            n += 1
            if got != want:
                report(name, mode, text, got, want)
    want_ordinary = ref.encode_ordinary_batch(texts, num_threads=1)
    want_none = ref.encode_batch(texts, num_threads=1, disallowed_special=())
    batch_checks = [
        ("encode_ordinary_batch", ours.encode_ordinary_batch(texts), want_ordinary),
        (
            "encode_batch(disallowed_special=())",
            ours.encode_batch(texts, disallowed_special=()),
            want_none,
        ),
        (
            "encode_batch(allowed_special=all)",
            ours.encode_batch(texts, allowed_special="all"),
            ref.encode_batch(texts, num_threads=1, allowed_special="all"),
        ),
        ("count_batch", ours.count_batch(texts), [len(t) for t in want_ordinary]),
    ]
    for mode, got, want in batch_checks:
        n += 1
        if got != want:
            for text, g, w in zip(texts, got, want, strict=True):
                if g != w:
                    report(name, mode, text, g, w)
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", type=int, default=50_000, help="report every N strings")
    parser.add_argument(
        "--every-encoding", action="store_true", help="each string through all seven encodings"
    )
    args = parser.parse_args()
    tiktoken_from_shared()
    refs = {name: tiktoken.get_encoding(name) for name in ENCODINGS}
    ours = {name: toklm.get_encoding(name) for name in ENCODINGS}
    strings = Strings(args.seed, refs)
    mismatches = 0
    comparisons = 0
    chars = 0

    def report(name, mode, text, got, want):
        nonlocal mismatches
        mismatches += 1
        if mismatches <= 50:
            print(
                f"MISMATCH {name} {mode} {text!r:.200}: toklm {got!r:.200} tiktoken {want!r:.200}"
            )

    start = time.perf_counter()
    done = 0
    per_encoding = dict.fromkeys(ENCODINGS, 0)
    while done < args.strings:
        texts = [strings.next() for _ in range(min(BATCH, args.strings - done))]
        chars += sum(map(len, texts))
        turn = ENCODINGS[(done // BATCH) % len(ENCODINGS)]
        for name in ENCODINGS if args.every_encoding else [turn]:
            comparisons += compare(name, ours[name], refs[name], texts, report)
            per_encoding[name] += len(texts)
        before, done = done, done + len(texts)
        if done // args.progress != before // args.progress:
            print(
                f"{done} strings, {comparisons} comparisons, {mismatches} mismatches, "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
    print(
        f"done: {done} strings ({chars} characters), {comparisons} comparisons, "
        f"{mismatches} mismatches, {time.perf_counter() - start:.0f} s (seed {args.seed}); "
        f"strings per encoding: {per_encoding}"
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
