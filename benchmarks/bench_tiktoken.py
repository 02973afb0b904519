"""toklm vs tiktoken 0.14 (and quicktok where it applies), side by side in one process.

    python benchmarks/bench_tiktoken.py            # everything
    python benchmarks/bench_tiktoken.py --quick    # fewer repeats, smaller inputs

Prints MB/s (input bytes per second, best of N runs) and the ratio to tiktoken per corpus and
encoding; then batch scaling, decode speed, pathological inputs and load time / memory.
tiktoken loads the same local vocabulary files (../shared/tokenizers), so no network is used.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = ["en", "ko", "ja", "zh", "code"]
ENCODINGS = ["gpt2", "cl100k_base", "o200k_base"]
BLOB = "https://openaipublic.blob.core.windows.net"
SOURCES = {
    f"{BLOB}/gpt-2/encodings/main/vocab.bpe": "tokenizers/gpt2/merges.txt",
    f"{BLOB}/gpt-2/encodings/main/encoder.json": "tokenizers/gpt2/vocab.json",
    f"{BLOB}/encodings/r50k_base.tiktoken": "tokenizers/tiktoken/r50k_base.tiktoken",
    f"{BLOB}/encodings/cl100k_base.tiktoken": "tokenizers/tiktoken/cl100k_base.tiktoken",
    f"{BLOB}/encodings/o200k_base.tiktoken": "tokenizers/tiktoken/o200k_base.tiktoken",
}


def seed_tiktoken_cache() -> str:
    """Point tiktoken at a cache holding the local vocabulary files (named sha1(url))."""
    cache = Path(tempfile.gettempdir()) / "toklm-bench-tiktoken-cache"
    cache.mkdir(exist_ok=True)
    for url, rel in SOURCES.items():
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            shutil.copyfile(SHARED / rel, target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return str(cache)


# Single-thread runs are timed with this thread's CPU time, so that other load on the machine
# does not distort the ratios; multi-threaded runs (batch) need wall time.
CLOCK = time.thread_time


def best_seconds(fn, repeats: int, clock=None) -> float:
    clock = clock or CLOCK
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def quicktok_encoding(name: str):
    try:
        import quicktok
    except ImportError:
        return None
    if name not in ("cl100k_base", "o200k_base"):
        return None
    return quicktok.get_encoding(name)


def bench_encode(repeats: int, limit: int | None) -> None:
    import tiktoken
    import toklm

    print("\n## One-thread encode (encode_ordinary -> list[int]), MB/s")
    print(
        f"{'corpus':<6} {'encoding':<12} {'tiktoken':>9} {'toklm':>8} {'ratio':>6} "
        f"{'numpy':>8} {'quicktok':>9} {'vs qt':>6}"
    )
    for corpus in CORPORA:
        text = (SHARED / "corpora" / f"{corpus}.txt").read_text(encoding="utf-8")[:limit]
        nbytes = len(text.encode())
        for name in ENCODINGS:
            ref, ours, qt = tiktoken.get_encoding(name), toklm.get_encoding(name), None
            qt = quicktok_encoding(name)
            assert ours.encode_ordinary(text) == ref.encode_ordinary(text)
            t_ref = best_seconds(lambda: ref.encode_ordinary(text), repeats)
            t_ours = best_seconds(lambda: ours.encode_ordinary(text), repeats)
            t_np = best_seconds(lambda: ours.encode_to_numpy(text, disallowed_special=()), repeats)
            qt_col, vs_qt = "-", "-"
            if qt is not None:
                t_qt = best_seconds(lambda: qt.encode_ordinary(text), repeats)
                qt_col, vs_qt = f"{mbps(nbytes, t_qt):9.1f}", f"{t_qt / t_ours:5.2f}x"
            print(
                f"{corpus:<6} {name:<12} {mbps(nbytes, t_ref):9.1f} {mbps(nbytes, t_ours):8.1f} "
                f"{t_ref / t_ours:5.2f}x {mbps(nbytes, t_np):8.1f} {qt_col:>9} {vs_qt:>6}"
            )


def bench_batch(repeats: int, limit: int | None) -> None:
    import tiktoken
    import toklm

    print("\n## Batch encode over all cores (encode_ordinary_batch of lines), MB/s")
    print(
        f"{'corpus':<6} {'encoding':<12} {'toklm 1 thr':>11} {'toklm all':>10} {'scale':>6} "
        f"{'tiktoken':>9} {'ratio':>6}"
    )
    for corpus in ("en", "ko", "code"):
        text = (SHARED / "corpora" / f"{corpus}.txt").read_text(encoding="utf-8")[:limit]
        docs = [text[i : i + 4000] for i in range(0, len(text), 4000)]
        nbytes = len(text.encode())
        for name in ("cl100k_base", "o200k_base"):
            ref, ours = tiktoken.get_encoding(name), toklm.get_encoding(name)
            t1 = best_seconds(
                lambda: ours.encode_ordinary_batch(docs, num_threads=1), repeats, time.perf_counter
            )
            tn = best_seconds(lambda: ours.encode_ordinary_batch(docs), repeats, time.perf_counter)
            tr = best_seconds(lambda: ref.encode_ordinary_batch(docs), repeats, time.perf_counter)
            print(
                f"{corpus:<6} {name:<12} {mbps(nbytes, t1):11.1f} {mbps(nbytes, tn):10.1f} "
                f"{t1 / tn:5.2f}x {mbps(nbytes, tr):9.1f} {tr / tn:5.2f}x"
            )


def bench_decode(repeats: int, limit: int | None) -> None:
    import tiktoken
    import toklm

    print("\n## Decode (decode -> str), MB/s of output text")
    print(f"{'corpus':<6} {'encoding':<12} {'tiktoken':>9} {'toklm':>8} {'ratio':>6}")
    for corpus in ("en", "ko", "code"):
        text = (SHARED / "corpora" / f"{corpus}.txt").read_text(encoding="utf-8")[:limit]
        nbytes = len(text.encode())
        for name in ENCODINGS:
            ref, ours = tiktoken.get_encoding(name), toklm.get_encoding(name)
            tokens = ref.encode_ordinary(text)
            assert ours.decode(tokens) == ref.decode(tokens)
            tr = best_seconds(lambda: ref.decode(tokens), repeats)
            to = best_seconds(lambda: ours.decode(tokens), repeats)
            print(
                f"{corpus:<6} {name:<12} {mbps(nbytes, tr):9.1f} {mbps(nbytes, to):8.1f} "
                f"{tr / to:5.2f}x"
            )


def bench_pathological(repeats: int, size: int) -> None:
    import tiktoken
    import toklm

    print(f"\n## Pathological inputs ({size / 1e6:g} MB of one class), MB/s")
    cases = {
        "a": "a",
        "space": " ",
        "newline": "\n",
        "^": "^",
        "0": "0",
        "U+3000": "\u3000",
        "a-z random": None,
        "base64": None,
    }
    import base64
    import random

    rng = random.Random(0)
    print(f"{'input':<11} {'encoding':<12} {'tiktoken':>9} {'toklm':>8} {'/ en speed':>10}")
    en = (SHARED / "corpora" / "en.txt").read_text(encoding="utf-8")[:size]
    for name in ENCODINGS:
        ours = toklm.get_encoding(name)
        t_en = best_seconds(lambda: ours.encode_ordinary(en), repeats)
        en_speed = mbps(len(en.encode()), t_en)
        for label, ch in cases.items():
            if label == "a-z random":
                text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(size))
            elif label == "base64":
                text = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
            else:
                text = ch * (size // len(ch.encode()))
            nbytes = len(text.encode())
            t_ours = best_seconds(lambda: ours.encode_ordinary(text), repeats)
            try:
                ref = tiktoken.get_encoding(name)
                ref_col = f"{mbps(nbytes, best_seconds(lambda: ref.encode_ordinary(text), 1)):9.1f}"
            except BaseException as e:  # tiktoken raises PanicException (a BaseException)
                ref_col = f"{type(e).__name__[:9]:>9}"
            speed = mbps(nbytes, t_ours)
            print(f"{label:<11} {name:<12} {ref_col} {speed:8.1f} {en_speed / speed:9.2f}x")


LOAD_SNIPPET = """
import os, sys, time, resource
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e6
lib, name = sys.argv[1], sys.argv[2]
mod = __import__(lib)
mod.get_encoding('gpt2' if name != 'gpt2' else 'r50k_base').encode('warm up the import')
before = rss()
t = time.perf_counter()
enc = mod.get_encoding(name)
enc.encode('hello world')
print(f'{(time.perf_counter() - t) * 1000:.1f} {rss() - before:.1f}')
"""


def bench_load() -> None:
    print("\n## Ready after first use (get_encoding + first encode, fresh process)")
    print(
        f"{'encoding':<12} {'tiktoken ms':>11} {'toklm ms':>9} {'tiktoken MB':>11} {'toklm MB':>9}"
    )
    for name in ENCODINGS:
        cols = []
        for lib in ("tiktoken", "toklm"):
            runs = [
                subprocess.run(
                    [sys.executable, "-c", LOAD_SNIPPET, lib, name],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                for _ in range(3)
            ]
            ms = min(float(r[0]) for r in runs)
            mb = min(float(r[1]) for r in runs)
            cols.append((ms, mb))
        print(
            f"{name:<12} {cols[0][0]:11.1f} {cols[1][0]:9.1f} {cols[0][1]:11.1f} {cols[1][1]:9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1 MB inputs")
    parser.add_argument("--only", choices=["encode", "batch", "decode", "pathological", "load"])
    parser.add_argument("--wall", action="store_true", help="time single-thread runs by wall clock")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"needs the shared corpora at {SHARED}")
    seed_tiktoken_cache()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    repeats, limit = (2, 1_000_000) if args.quick else (3, None)
    print(
        f"# toklm vs tiktoken  ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]})"
    )
    steps = {
        "encode": lambda: bench_encode(repeats, limit),
        "batch": lambda: bench_batch(repeats, limit),
        "decode": lambda: bench_decode(repeats, limit),
        "pathological": lambda: bench_pathological(repeats, 1_000_000),
        "load": bench_load,
    }
    for name, step in steps.items():
        if args.only in (None, name):
            step()


if __name__ == "__main__":
    main()
