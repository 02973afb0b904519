"""`toklm demo`: the same sentences through gpt2, cl100k_base and o200k_base, side by side."""

from __future__ import annotations

import argparse

DEMO_TEXTS = ("Hello world, we are Gmarket. 🎉", "안녕하세요, 우리는 Gmarket입니다. 🎉")
DEMO_ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `toklm demo`."""
    p = sub.add_parser("demo", help="show how three OpenAI tokenizers split two sentences")
    p.add_argument("texts", nargs="*", help="texts to show (default: an English and a Korean one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import toklm

    texts = args.texts or DEMO_TEXTS
    for text in texts:
        print(f"\n{text!r}")
        for name in DEMO_ENCODINGS:
            enc = toklm.get_encoding(name)
            ids = enc.encode(text)
            print(f"  {name:<12} n_vocab={enc.n_vocab:<7} {len(ids):>3} tokens  {ids}")
    return 0
