"""Copy the parallel sentences the playground ships from the shared NTREX-128 corpus.

The playground's token premium panel compares English with another language on the same
sentences. It ships the first LINES aligned lines of every language of
`../shared/corpora/parallel/ntrex128/` (NTREX-128, CC BY-SA 4.0; the WMT19 news test set and
its professional translations) to `python/toklm/playground/data/ntrex128/<lang>.txt`, unchanged.

Usage:
    python scripts/build_playground_pairs.py [--source DIR] [--lines 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "corpora" / "parallel" / "ntrex128"
TARGET = REPO / "python" / "toklm" / "playground" / "data" / "ntrex128"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--lines", type=int, default=10)
    args = parser.parse_args()
    TARGET.mkdir(parents=True, exist_ok=True)
    for path in sorted(args.source.glob("*.txt")):
        with open(path, encoding="utf-8", newline="") as f:
            lines = [next(f) for _ in range(args.lines)]
        tmp = TARGET / (path.name + ".tmp")
        tmp.write_text("".join(lines), encoding="utf-8", newline="")
        tmp.replace(TARGET / path.name)
    print(
        f"wrote {args.lines} lines of {len(list(args.source.glob('*.txt')))} languages to {TARGET}"
    )


if __name__ == "__main__":
    main()
