"""`toklm count` on a 1 GB file vs the tiktoken loop a user would write, side by side.

    python benchmarks/bench_count.py                  # 1 GB file in /tmp, cl100k_base
    python benchmarks/bench_count.py --size-mb 100    # a quicker run
    python benchmarks/bench_count.py --file big.txt -e o200k_base

The file is made once from the shared corpora (English, Korean, Japanese, Chinese, Python code,
cycled) under the temp directory and is never part of the repository. Each contender runs in its
own child process, so its wall time and peak resident memory are its own:

* ``toklm count`` (the CLI): exact whole-file count, streamed in 1 MB blocks cut at token
  boundaries, batches on every core;
* tiktoken, line by line: ``for line in f: n += len(enc.encode_ordinary(line))``;
* tiktoken, batched: ``enc.encode_ordinary_batch(lines, num_threads=8)`` over 10,000 lines.

The tiktoken loops count each line on its own, so they can differ from the exact whole-file count
by a few tokens where a line break would merge with whitespace next to it; both counts are shown.
tiktoken loads the same local vocabulary files, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tiktoken import SHARED, seed_tiktoken_cache  # noqa: E402

CORPORA = ["en.txt", "ko.txt", "ja.txt", "zh.txt", "code.txt", "en_sotu.txt"]
BATCH_LINES = 10_000


def make_file(path: Path, size: int) -> None:
    """Write `size` bytes (rounded up to whole corpora) of the shared corpora, cycled."""
    parts = [(SHARED / "corpora" / name).read_bytes() for name in CORPORA]
    tmp = path.with_suffix(".partial")
    written = 0
    with open(tmp, "wb") as f:
        while written < size:
            for part in parts:
                f.write(part)
                written += len(part)
    tmp.replace(path)


def worker(kind: str, path: str, encoding: str) -> dict[str, object]:
    """Count in this process; returns the token count and seconds."""
    start = time.perf_counter()
    if kind == "tiktoken-lines":
        import tiktoken

        enc = tiktoken.get_encoding(encoding)
        start = time.perf_counter()
        tokens = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                tokens += len(enc.encode_ordinary(line))
    elif kind == "tiktoken-batch":
        import itertools

        import tiktoken

        enc = tiktoken.get_encoding(encoding)
        start = time.perf_counter()
        tokens = 0
        with open(path, encoding="utf-8") as f:
            while lines := list(itertools.islice(f, BATCH_LINES)):
                tokens += sum(map(len, enc.encode_ordinary_batch(lines, num_threads=8)))
    else:
        raise ValueError(kind)
    return {"tokens": tokens, "seconds": time.perf_counter() - start}


def run_child(argv: list[str]) -> tuple[str, float, float]:
    """Run argv; return its stdout, wall seconds and peak resident memory in MB."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with exit status {proc.returncode}")
    return out, seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="size of the generated file")
    ap.add_argument("--file", help="count this file instead of generating one")
    ap.add_argument("-e", "--encoding", default="cl100k_base")
    ap.add_argument("--skip-tiktoken-lines", action="store_true", help="leave out the line loop")
    ap.add_argument("--skip-tiktoken-batch", action="store_true", help="leave out the batch loop")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)  # KIND FILE ENCODING
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return

    seed_tiktoken_cache()
    if args.file:
        path = Path(args.file)
    else:
        path = Path(tempfile.gettempdir()) / f"toklm-bench-count-{args.size_mb}MB.txt"
        if not path.exists():
            print(f"writing {path} ...", file=sys.stderr)
            make_file(path, args.size_mb * 1_000_000)
    size = path.stat().st_size
    toklm_cli = shutil.which("toklm")
    cli = [toklm_cli] if toklm_cli else [sys.executable, "-m", "toklm.cli"]

    mb = f"{size / 1e6:,.0f} MB"
    print(f"# Token count of {path} ({mb}), {args.encoding}, {os.cpu_count()} cores")
    header = f"{'seconds':>8} {'MB/s':>7} {'peak MB':>8} {'tokens':>14} {'speed-up':>8}"
    print(f"{'contender':<38} {header}")
    rows = []
    out, seconds, rss = run_child([*cli, "count", "--quiet", "-e", args.encoding, "-i", str(path)])
    rows.append(("toklm count (exact, whole file)", seconds, rss, int(out)))
    kinds = [] if args.skip_tiktoken_batch else ["tiktoken-batch"]
    kinds += [] if args.skip_tiktoken_lines else ["tiktoken-lines"]
    labels = {
        "tiktoken-lines": "tiktoken, line by line",
        "tiktoken-batch": f"tiktoken, batch of {BATCH_LINES:,} lines x8",
    }
    for kind in kinds:
        me = [sys.executable, __file__, "--worker", kind, str(path), args.encoding]
        out, seconds, rss = run_child(me)
        rows.append((labels[kind], seconds, rss, json.loads(out)["tokens"]))
    base = rows[-1][1]  # the plain line loop (or the batch loop when it is skipped)
    for label, seconds, rss, tokens in rows:
        print(
            f"{label:<38} {seconds:>8.1f} {size / seconds / 1e6:>7.1f} {rss:>8.0f} "
            f"{tokens:>14,} {base / seconds:>7.2f}x"
        )
    print(f"(seconds include process start and vocabulary load; speed-up vs {rows[-1][0]})")


if __name__ == "__main__":
    main()
