"""A fresh process's first call on one long piece, against its next call and against tiktoken.

    python benchmarks/bench_first_call.py                # 8 and 16 MB of 'a' and of spaces
    python benchmarks/bench_first_call.py --mb 8 32 --encoding o200k_base

Each measurement runs in a new interpreter (the backtracking tables are built lazily, once per
process), timed by process CPU time, so other jobs on the machine matter less. Prints seconds and
the ratios first/next (target: at most 2) and tiktoken/first (target: at least 1).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
BLOB = "https://openaipublic.blob.core.windows.net"
TIKTOKEN_FILES = {
    f"{BLOB}/encodings/cl100k_base.tiktoken": "tokenizers/tiktoken/cl100k_base.tiktoken",
    f"{BLOB}/encodings/o200k_base.tiktoken": "tokenizers/tiktoken/o200k_base.tiktoken",
    f"{BLOB}/encodings/p50k_base.tiktoken": "tokenizers/tiktoken/p50k_base.tiktoken",
    f"{BLOB}/encodings/r50k_base.tiktoken": "tokenizers/tiktoken/r50k_base.tiktoken",
}

CHILD = """
import sys, time
lib, name, ch, mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
enc = __import__(lib).get_encoding(name)
text = ch * (mb << 20)
times = []
for _ in range(2 if lib == "toklm" else 1):
    t = time.process_time()
    enc.encode_ordinary(text)
    times.append(time.process_time() - t)
print(*times)
"""


def run(lib: str, name: str, ch: str, mb: int) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, lib, name, ch, str(mb)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(x) for x in out.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoding", default="cl100k_base")
    parser.add_argument("--mb", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--no-tiktoken", action="store_true")
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="bench-first-"))
    for url, rel in TIKTOKEN_FILES.items():
        shutil.copyfile(SHARED / rel, cache / hashlib.sha1(url.encode()).hexdigest())
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    print(f"{args.encoding}: one piece, CPU seconds (fresh process each)")
    print("| input | toklm first | toklm next | first/next | tiktoken | tiktoken/first |")
    print("|---|---:|---:|---:|---:|---:|")
    for mb in args.mb:
        for label, ch in (("a", "a"), ("spaces", " ")):
            first, nxt = run("toklm", args.encoding, ch, mb)
            ref = None if args.no_tiktoken else run("tiktoken", args.encoding, ch, mb)[0]
            ref_cells = "– | –" if ref is None else f"{ref:.2f} | {ref / first:.0f}x"
            print(
                f"| {mb} MB {label} | {first:.3f} | {nxt:.3f} | {first / nxt:.1f} | {ref_cells} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
