"""A straightforward minbpe-style BPE trainer, the reference the Rust trainer must equal.

Every step recounts every pair of every word (overlapping pairs included), takes the highest
count, ties to the smallest (left id, right id), and merges left to right. A pair whose bytes
are already a token merges into that token without adding one.
"""

from __future__ import annotations

from collections import Counter

import regex


def count_pieces(texts: list[str], pat_str: str) -> Counter[bytes]:
    counts: Counter[bytes] = Counter()
    for text in texts:
        for piece in regex.findall(pat_str, text):
            counts[piece.encode("utf-8")] += 1
    return counts


def train(texts: list[str], pat_str: str, n_new: int, min_frequency: int) -> list[bytes]:
    """The new tokens, in rank order (ranks 256, 257, ...)."""
    counts = count_pieces(texts, pat_str)
    words = [(list(piece), c) for piece, c in sorted(counts.items())]
    vocab: dict[int, bytes] = {b: bytes([b]) for b in range(256)}
    ids = {v: k for k, v in vocab.items()}
    new: list[bytes] = []
    while len(new) < n_new:
        stats: Counter[tuple[int, int]] = Counter()
        for w, c in words:
            for pair in zip(w, w[1:], strict=False):
                stats[pair] += c
        if not stats:
            break
        pair, best = min(stats.items(), key=lambda kv: (-kv[1], kv[0]))
        if best < min_frequency:
            break
        data = vocab[pair[0]] + vocab[pair[1]]
        token = ids.get(data)
        if token is None:
            token = 256 + len(new)
            vocab[token], ids[data] = data, token
            new.append(data)
        for w, _ in words:
            i, out = 0, []
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
                    out.append(token)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w[:] = out
    return new
