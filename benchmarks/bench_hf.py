"""toklm's Hugging Face tokenizers vs the `tokenizers` library 0.23, side by side in one process.

    python benchmarks/bench_hf.py            # everything
    python benchmarks/bench_hf.py --quick    # fewer repeats, smaller inputs

For GPT-NeoX-20B (Pythia; tokenizer.json) and GPT-2 (vocab.json + merges.txt) from ../shared:
one-thread encode of whole corpus files, batch encode of their lines on every core, decode, and
load time. Prints MB/s (input bytes per second, best of N) and the ratio toklm / tokenizers;
every encode is checked to give the same ids first.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = ["en", "ko", "code"]

# Single-thread runs use this thread's CPU time, so other load on the machine does not distort
# the ratios (both libraries encode in the calling thread); batch runs need wall time.
CPU = time.thread_time
WALL = time.perf_counter


def best(fn, repeats: int, clock=CPU) -> float:
    out = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        out = min(out, clock() - t)
    return out


def load_pair(name: str):
    """(toklm, tokenizers) tokenizers for one shared tokenizer, built as transformers builds it."""
    import tokenizers
    from tokenizers import decoders, pre_tokenizers
    from tokenizers.models import BPE
    from toklm.hf import Tokenizer

    if name == "gpt-neox-20b":
        path = SHARED / "tokenizers/gpt-neox-20b/tokenizer.json"
        return Tokenizer.from_pretrained(path.parent), tokenizers.Tokenizer.from_file(str(path))
    d = SHARED / "tokenizers/gpt2"
    ref = tokenizers.Tokenizer(BPE.from_file(str(d / "vocab.json"), str(d / "merges.txt")))
    ref.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    ref.decoder = decoders.ByteLevel()
    ref.add_special_tokens([tokenizers.AddedToken("<|endoftext|>", special=True)])
    return Tokenizer.from_pretrained(d), ref


def row(label: str, ours: float, theirs: float, unit: str = "MB/s") -> None:
    ratio = ours / theirs if unit == "MB/s" else theirs / ours
    print(
        f"  {label:<26} toklm {ours:9.2f} {unit:<5} "
        f"tokenizers {theirs:9.2f} {unit:<5} x{ratio:6.1f}"
    )


def bench_encode(name: str, tok, ref, texts: dict[str, str], repeats: int) -> None:
    print(f"\n{name}: one thread, whole file (encode without special tokens)")
    for corpus, text in texts.items():
        ids = tok.encode_ordinary(text)
        assert ids == ref.encode(text, add_special_tokens=False).ids, f"{name}/{corpus} differs"
        mb = len(text.encode()) / 1e6
        ours = best(lambda t=text: tok.encode_ordinary(t), repeats)
        theirs = best(lambda t=text: ref.encode(t, add_special_tokens=False), max(1, repeats // 2))
        row(corpus, mb / ours, mb / theirs)
    text = texts["en"]
    mb = len(text.encode()) / 1e6
    ours = best(lambda: tok(text, return_offsets_mapping=True), repeats)
    theirs = best(lambda: ref.encode(text), max(1, repeats // 2))
    row("en, with offsets", mb / ours, mb / theirs)


def bench_batch(name: str, tok, ref, texts: dict[str, str], repeats: int) -> None:
    threads = os.cpu_count() or 1
    print(f"\n{name}: batch of lines, {threads} threads (wall time)")
    for corpus, text in texts.items():
        lines = [line for line in text.split("\n") if line]
        mb = sum(len(line.encode()) for line in lines) / 1e6
        assert tok.encode_ordinary_batch(lines) == [
            e.ids for e in ref.encode_batch(lines, add_special_tokens=False)
        ]
        ours = best(
            lambda ls=lines: tok.encode_ordinary_batch(ls, num_threads=threads), repeats, WALL
        )
        theirs = best(
            lambda ls=lines: ref.encode_batch(ls, add_special_tokens=False), repeats, WALL
        )
        row(corpus, mb / ours, mb / theirs)


def bench_decode(name: str, tok, ref, text: str, repeats: int) -> None:
    ids = tok.encode_ordinary(text)
    assert tok.decode(ids) == ref.decode(ids)
    mb = len(text.encode()) / 1e6
    ours = best(lambda: tok.decode(ids), repeats)
    theirs = best(lambda: ref.decode(ids), repeats)
    print(f"\n{name}: decode")
    row("en", mb / ours, mb / theirs)


def bench_load(name: str, repeats: int) -> None:
    import tokenizers
    from tokenizers.models import BPE
    from toklm.hf import Tokenizer

    print(f"\n{name}: load time (wall)")
    if name == "gpt-neox-20b":
        path = SHARED / "tokenizers/gpt-neox-20b/tokenizer.json"
        ours = best(lambda: Tokenizer.from_pretrained(path.parent), repeats, WALL)
        theirs = best(lambda: tokenizers.Tokenizer.from_file(str(path)), repeats, WALL)
    else:
        d = SHARED / "tokenizers/gpt2"
        ours = best(lambda: Tokenizer.from_pretrained(d), repeats, WALL)
        theirs = best(
            lambda: BPE.from_file(str(d / "vocab.json"), str(d / "merges.txt")), repeats, WALL
        )
    row("from files", ours * 1e3, theirs * 1e3, unit="ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 300 kB inputs")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    texts = {}
    for corpus in CORPORA:
        text = (SHARED / "corpora" / f"{corpus}.txt").read_text(encoding="utf-8")
        texts[corpus] = text[:300_000] if args.quick else text
    import tokenizers

    print(f"toklm vs tokenizers {tokenizers.__version__}; ratio > 1 means toklm is faster")
    for name in ("gpt-neox-20b", "gpt2"):
        tok, ref = load_pair(name)
        bench_encode(name, tok, ref, texts, repeats)
        bench_batch(name, tok, ref, texts, repeats)
        bench_decode(name, tok, ref, texts["en"], repeats)
        bench_load(name, repeats)


if __name__ == "__main__":
    main()
