"""BPE training: toklm vs Hugging Face `tokenizers` BpeTrainer and rustbpe, same corpus and vocab.

    python benchmarks/bench_train.py                     # 20 MB mixed corpus, vocab 32k
    python benchmarks/bench_train.py --size-mb 5 --vocab-size 8000     # a quicker run
    python benchmarks/bench_train.py --extend            # + cl100k_base extended with ko.txt

The corpus is the shared corpora (corpora/*.txt, NTREX-128, UDHR) concatenated and cut at a
line break after `--size-mb` MB, written once under the temp directory. Each trainer runs in its
own child process, so its CPU time (user + sys, training only, from getrusage) and peak resident
memory are its own:

* toklm, `train_bpe(path, ...)`, the file streamed in blocks (both patterns below);
* toklm, the same from a Python list of lines (the input the other two get);
* HF tokenizers BpeTrainer, ByteLevel pre-tokenizer (the GPT-2 pattern), `train_from_iterator`
  over the lines, min_frequency 2 - compared with toklm on the gpt2 pattern;
* rustbpe (nanochat's trainer) `train_from_iterator` over the lines with the cl100k_base pattern
  - compared with toklm on the cl100k_base pattern.

toklm's counting phase is also timed alone with RAYON_NUM_THREADS=1 and 2 (wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def make_corpus(path: Path, size: int) -> None:
    """The shared corpora concatenated, cut at the first line break after `size` bytes."""
    files = sorted((SHARED / "corpora").glob("*.txt"))
    for sub in ("ntrex128", "udhr"):
        files += sorted((SHARED / "corpora" / "parallel" / sub).glob("*.txt"))
    data = b"".join(f.read_bytes().rstrip(b"\n") + b"\n" for f in files)
    if len(data) < size:
        data = data * (size // len(data) + 1)
    cut = data.index(b"\n", size) + 1 if b"\n" in data[size:] else len(data)
    tmp = path.with_suffix(".partial")
    tmp.write_bytes(data[:cut])
    tmp.replace(path)


def _lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.readlines()


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(name: str, path: str, vocab: int) -> dict:
    """Run one trainer in this process; CPU seconds of the training call, peak RSS."""
    result: dict = {"name": name}
    if name.startswith("toklm"):
        import toklm
        from toklm import _core
        from toklm.train import resolve_pattern

        pattern = "gpt2" if "gpt2" in name else "cl100k_base"
        if name.startswith("toklm-count"):
            trainer = _core.BpeTrainer(resolve_pattern(pattern))
            t0, c0 = time.perf_counter(), _cpu()
            trainer.add_file(path)
            result["wall"] = time.perf_counter() - t0
            result["cpu"] = _cpu() - c0
        else:
            corpus: object = Path(path)
            if "lines" in name:
                corpus = _lines(path)
            t0, c0 = time.perf_counter(), _cpu()
            enc = toklm.train_bpe(corpus, vocab, pattern=pattern, min_frequency=2)  # type: ignore[arg-type]
            result["wall"] = time.perf_counter() - t0
            result["cpu"] = _cpu() - c0
            result["n_vocab"] = enc.n_vocab
    elif name == "hf":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        lines = _lines(path)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            min_frequency=2,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        t0, c0 = time.perf_counter(), _cpu()
        tok.train_from_iterator(lines, trainer=trainer)
        result["wall"] = time.perf_counter() - t0
        result["cpu"] = _cpu() - c0
        result["n_vocab"] = tok.get_vocab_size()
    elif name == "rustbpe":
        import rustbpe
        from toklm.train import resolve_pattern

        lines = _lines(path)
        tok = rustbpe.Tokenizer()
        t0, c0 = time.perf_counter(), _cpu()
        tok.train_from_iterator(iter(lines), vocab, pattern=resolve_pattern("cl100k_base"))
        result["wall"] = time.perf_counter() - t0
        result["cpu"] = _cpu() - c0
    result["rss_mb"] = _peak_rss_mb()
    return result


def _peak_rss_mb() -> float:
    """VmHWM: this process's peak resident memory (ru_maxrss can carry the parent's over exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(name: str, path: Path, vocab: int, env: dict | None = None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--file",
        str(path),
        "--vocab-size",
        str(vocab),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        return {"name": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def extend_check() -> None:
    """cl100k_base + 16384 Hangul tokens from ko.txt: premium on NTREX-128, English ids."""
    import toklm

    base = toklm.get_encoding("cl100k_base")
    c0 = _cpu()
    ext = toklm.extend_encoding(base, SHARED / "corpora" / "ko.txt", 16384, scripts=["Hangul"])
    cpu = _cpu() - c0
    ntrex = SHARED / "corpora" / "parallel" / "ntrex128"
    en = (ntrex / "en.txt").read_text(encoding="utf-8")
    ko = (ntrex / "ko.txt").read_text(encoding="utf-8")
    same = ext.encode_ordinary(en) == base.encode_ordinary(en)
    for enc in (base, ext):
        premium = len(enc.encode_ordinary(ko)) / len(enc.encode_ordinary(en))
        print(f"  {enc.name:20s} Korean premium on ntrex128 {premium:.2f}")
    print(f"  extension: {cpu:.1f} s CPU; English ntrex128 ids identical to cl100k_base: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, default=20)
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--file", help="corpus file (default: made from the shared corpora)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--extend", action="store_true", help="also measure the cl100k_base extension")
    ap.add_argument("--skip", action="append", default=[], help="skip a trainer (hf, rustbpe)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.file, args.vocab_size)))
        return
    if args.file:
        path = Path(args.file)
    else:
        size = int(args.size_mb * 1e6)
        path = Path(tempfile.gettempdir()) / f"toklm_bench_train_{size}.txt"
        if not path.exists():
            make_corpus(path, size)
    mb = path.stat().st_size / 1e6
    print(f"corpus {path} ({mb:.1f} MB), vocab {args.vocab_size}")
    names = ["toklm-gpt2", "toklm-cl100k", "toklm-lines-cl100k", "hf", "rustbpe"]
    results = {n: run(n, path, args.vocab_size) for n in names if n not in args.skip}
    for r in results.values():
        if "error" in r:
            print(f"  {r['name']:20s} failed: {r['error']}")
        else:
            print(
                f"  {r['name']:20s} CPU {r['cpu']:6.1f} s  wall {r['wall']:6.1f} s  "
                f"peak RSS {r['rss_mb']:6.0f} MB  n_vocab {r.get('n_vocab', '-')}"
            )

    def ratio(a: str, b: str, key: str) -> str:
        ra, rb = results.get(a, {}), results.get(b, {})
        if key not in ra or key not in rb:
            return "-"
        return f"{ra[key] / rb[key]:.2f}x"

    print(f"toklm (gpt2 pattern) / HF: CPU {ratio('toklm-gpt2', 'hf', 'cpu')}, "
          f"peak RSS {ratio('toklm-gpt2', 'hf', 'rss_mb')}")  # fmt: skip
    print(f"toklm (cl100k pattern) / rustbpe: CPU {ratio('toklm-cl100k', 'rustbpe', 'cpu')}, "
          f"peak RSS {ratio('toklm-cl100k', 'rustbpe', 'rss_mb')}")  # fmt: skip
    print(f"toklm from lines / rustbpe: CPU {ratio('toklm-lines-cl100k', 'rustbpe', 'cpu')}")
    one = run("toklm-count-cl100k", path, args.vocab_size, {"RAYON_NUM_THREADS": "1"})
    two = run("toklm-count-cl100k", path, args.vocab_size, {"RAYON_NUM_THREADS": "2"})
    if "wall" in one and "wall" in two:
        print(
            f"counting phase: 1 thread {one['wall']:.2f} s, 2 threads {two['wall']:.2f} s "
            f"({one['wall'] / two['wall']:.2f}x; {mb / one['wall']:.0f} MB/s per thread)"
        )
    if args.extend:
        extend_check()


if __name__ == "__main__":
    main()
