"""Corpus tokenization: toklm against the loops people write today, side by side.

    python benchmarks/bench_corpus.py                     # every section, 1 GB file in /tmp
    python benchmarks/bench_corpus.py --only batch        # encode_batch_to_numpy scaling only
    python benchmarks/bench_corpus.py --size-mb 200 --only tokenize

Sections (ratios are taken within one run, on the same input):

* ``batch``: `Encoding.encode_batch_to_numpy` on 1 and on every thread, for 4 KB documents and
  for one document per line of the shared corpora (en_sotu + ko + code), next to the list API
  (`encode_ordinary_batch`); interleaved repeats, each a sample of ~0.25 s of calls
  (``--sample-s``), the best and the median ratio of back-to-back pairs reported.
* ``tokenize``: ``toklm tokenize FILE -o DIR`` of a generated file (default 1 GB, one document
  per line) on one core (``taskset -c 0``) and on all of them, alternately (``--pairs``; the
  median of the pairs' ratios is reported), and the tiktoken loop that writes
  the same uint16/uint32 token file (nanoGPT's way: ``encode_ordinary`` per line, ids appended to
  an array); each in its own process (wall time with start-up, peak RSS).
* ``hf``: Hugging Face ``datasets.map(batched=True)`` with a `tokenizers` tokenizer against
  ``datasets.map`` with ``toklm.corpus.datasets_map_fn`` and ``toklm tokenize`` (GPT-2's vocab).
* ``engines``: ``toklm tokenize --engine local|dask|ray`` on the same file (the clusters are
  started for the job: 2 single-threaded Dask workers, Ray with 2 CPUs), job and start-up timed
  apart; ``--pairs`` rounds of the three, each engine against the local run of its round.

The file is made from the shared corpora under the temp directory and deleted afterwards
(``--keep`` keeps it). Nothing is downloaded: tiktoken reads the local vocabulary files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tiktoken import SHARED, seed_tiktoken_cache  # noqa: E402

CORPORA = ["en.txt", "ko.txt", "ja.txt", "zh.txt", "code.txt", "en_sotu.txt"]
MB = 1e6
LAST_CPU = 0.0


def make_file(path: Path, size: int) -> None:
    """`size` bytes (rounded up to whole corpora) of the shared corpora, cycled."""
    parts = [(SHARED / "corpora" / name).read_bytes() for name in CORPORA]
    written = 0
    with open(path, "wb") as f:
        while written < size:
            for part in parts:
                f.write(part)
                written += len(part)


def run_child(argv: list[str]) -> tuple[str, float, float]:
    """Run argv; its stdout, wall seconds and peak resident memory (MB). The CPU seconds it used
    are left in `LAST_CPU` (a measure that other load on the machine does not inflate)."""
    global LAST_CPU
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    LAST_CPU = usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return out, seconds, usage.ru_maxrss / 1024


def toklm_cli() -> list[str]:
    script = shutil.which("toklm")
    return [script] if script else [sys.executable, "-m", "toklm.cli"]


# ---------------------------------------------------------------- batch


# The batch APIs timed: the one the targets name (special tokens checked, as `encode` does), the
# same without the check, and the list API.
APIS = {
    "numpy": "encode_batch_to_numpy",
    "ordinary": "encode_ordinary_batch_to_numpy",
    "lists": "encode_ordinary_batch",
}


def bench_batch(encoding: str, repeats: int, sample_s: float) -> None:
    import toklm

    enc = toklm.get_encoding(encoding)
    text = "".join(
        (SHARED / "corpora" / n).read_text("utf-8") for n in ("en_sotu.txt", "ko.txt", "code.txt")
    )
    size = len(text.encode("utf-8"))
    docs4k = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    lines = [line for line in text.split("\n") if line]
    cores = os.cpu_count() or 1
    print(f"\n## encode_batch_to_numpy, {encoding}, {size / MB:.1f} MB, {cores} cores")
    print(f"({len(docs4k):,} documents of 4 KB; {len(lines):,} documents of one line)")
    cases = []
    for label, docs in (("4 KB documents", docs4k), ("one line each", lines)):
        for api in APIS:
            for threads in (1, cores):
                cases.append((label, api, threads, docs))
    times: dict[tuple[str, str, int], list[float]] = {(c[0], c[1], c[2]): [] for c in cases}
    calls = {}  # calls per sample: about `sample_s` seconds of one case
    for label, api, threads, docs in cases:
        fn = getattr(enc, APIS[api])
        start = time.perf_counter()
        fn(docs, num_threads=threads)
        calls[(label, api, threads)] = max(1, round(sample_s / (time.perf_counter() - start)))
    for _ in range(repeats):  # interleaved, so that a burst of load hits every case alike
        for label, api, threads, docs in cases:
            fn = getattr(enc, APIS[api])
            n = calls[(label, api, threads)]
            start = time.perf_counter()
            for _ in range(n):
                fn(docs, num_threads=threads)
            times[(label, api, threads)].append((time.perf_counter() - start) / n)
    # Scaling two ways: the best times' ratio, and the median ratio of each repeat's pair (one
    # thread, then all, back to back). This VM's speed swings by 10-30% over tenths of a second
    # and drifts within a minute; samples of ~0.5 s smooth the first, pairs the second.
    print(f"{'documents':<16} {'API':<31} {'1 thread':>10} {f'{cores} threads':>10} "
          f"{'scaling':>8} {'pairs':>6}  (each pair's ratio)")  # fmt: skip
    rate = {}
    for label in ("4 KB documents", "one line each"):
        for api, name in APIS.items():
            t1, tn = times[(label, api, 1)], times[(label, api, cores)]
            one, many = (size / min(t) / MB for t in (t1, tn))
            rate[(label, api)] = many
            pairs = sorted(a / b for a, b in zip(t1, tn, strict=True))
            each = " ".join(f"{p:.2f}" for p in pairs)
            print(f"{label:<16} {name:<31} {one:>7.1f} MB/s {many:>5.1f} MB/s {many / one:>7.2f}x "
                  f"{statistics.median(pairs):>5.2f}x  ({each})")  # fmt: skip
    ratio = rate[("one line each", "numpy")] / rate[("4 KB documents", "numpy")]
    print(f"one line each / 4 KB documents (encode_batch_to_numpy, {cores} threads): {ratio:.2f}x")


# ---------------------------------------------------------------- tokenize


def tiktoken_loop(path: str, encoding: str, out: str, limit: str) -> dict[str, float]:
    """nanoGPT's way: encode_ordinary per document (line), ids appended, one token file; the
    first `limit` bytes of the file (whole lines)."""
    import numpy as np
    import tiktoken

    enc = tiktoken.get_encoding(encoding)
    dtype = np.uint16 if enc.n_vocab <= 1 << 16 else np.uint32
    start = time.perf_counter()
    n = 0
    with open(path, encoding="utf-8") as f, open(out, "wb") as w:
        buf: list[int] = []
        done = 0
        for line in f:
            done += len(line.encode("utf-8"))
            if done > int(limit):
                break
            line = line.rstrip("\n")
            if line:
                buf.extend(enc.encode_ordinary(line))
            if len(buf) > 1 << 20:
                np.array(buf, dtype=dtype).tofile(w)
                n += len(buf)
                buf = []
        np.array(buf, dtype=dtype).tofile(w)
        n += len(buf)
    return {"tokens": n, "seconds": time.perf_counter() - start, "bytes": done}


def bench_tokenize(path: Path, encoding: str, skip_tiktoken: bool, tiktoken_mb: int,
                   pairs: int) -> None:  # fmt: skip
    size = path.stat().st_size
    out = Path(tempfile.mkdtemp(prefix="toklm-bench-corpus-"))
    print(f"\n## toklm tokenize {path.name} ({size / MB:,.0f} MB, a document per line), {encoding}")
    print(f"{'contender':<44} {'seconds':>8} {'MB/s':>7} {'CPU s':>7} {'CPU MB/s':>8} "
          f"{'peak MB':>8} {'tokens':>14}")  # fmt: skip
    rows: dict[str, list[tuple[float, float]]] = {}  # label: (wall MB/s, MB per CPU s) per run

    def show(label: str, seconds: float, rss: float, tokens: int, nbytes: int) -> None:
        rows.setdefault(label, []).append((nbytes / seconds, nbytes / LAST_CPU))
        print(f"{label:<44} {seconds:>8.1f} {nbytes / seconds / MB:>7.1f} {LAST_CPU:>7.1f} "
              f"{nbytes / LAST_CPU / MB:>8.1f} {rss:>8.0f} {tokens:>14,}", flush=True)  # fmt: skip

    base = [*toklm_cli(), "tokenize", str(path), "-e", encoding, "-q"]
    one, every = "toklm tokenize, taskset -c 0 (one core)", "toklm tokenize, all cores"
    checksums = set()
    # One core and all cores alternately, `pairs` times: the VM's speed drifts by 10% within a
    # minute, so a ratio is taken within each back-to-back pair and the median reported.
    for _ in range(pairs):
        for label, prefix in ((one, ["taskset", "-c", "0"]), (every, [])):
            target = out / "o"
            _, seconds, rss = run_child([*prefix, *base, "-o", str(target)])
            manifest = (target / "manifest.json").read_bytes()
            checksums.add(manifest)
            show(label, seconds, rss, json.loads(manifest)["tokens"], size)
            shutil.rmtree(target)
    if not skip_tiktoken:
        limit = str(tiktoken_mb * 1_000_000 if tiktoken_mb else size)
        me = [sys.executable, __file__, "--worker", "tiktoken", str(path), encoding,
              str(out / "t"), limit]  # fmt: skip
        res, seconds, rss = run_child(me)
        r = json.loads(res)
        label = f"tiktoken loop, first {r['bytes'] / MB:,.0f} MB"
        show(label, seconds, rss, r["tokens"], r["bytes"])
    ratios = sorted(b[0] / a[0] for a, b in zip(rows[one], rows[every], strict=True))
    each, same = " ".join(f"{x:.2f}x" for x in ratios), len(checksums) == 1
    print(f"all cores / one core (wall MB/s), each pair: {each}; median "
          f"{statistics.median(ratios):.2f}x (manifests identical: {same})")  # fmt: skip
    if not skip_tiktoken:
        tik = rows[label][0]
        best = max(rows[every])
        print(f"all cores / tiktoken loop (wall MB/s): {best[0] / tik[0]:.2f}x best, "
              f"{statistics.median(r[0] for r in rows[every]) / tik[0]:.2f}x median; "
              f"per CPU second: {best[1] / tik[1]:.2f}x")  # fmt: skip
    shutil.rmtree(out)


# ---------------------------------------------------------------- hf


def hf_worker(kind: str, path: str) -> dict[str, float]:
    import datasets

    datasets.disable_progress_bars()
    lines = [x for x in Path(path).read_text("utf-8").split("\n") if x]
    ds = datasets.Dataset.from_dict({"text": lines})
    gpt2 = SHARED / "tokenizers" / "gpt2"
    if kind == "tokenizers":
        from tokenizers import Tokenizer
        from tokenizers.models import BPE
        from tokenizers.pre_tokenizers import ByteLevel

        tok = Tokenizer(BPE.from_file(str(gpt2 / "vocab.json"), str(gpt2 / "merges.txt")))
        tok.pre_tokenizer = ByteLevel(add_prefix_space=False)

        def fn(batch):
            return {"input_ids": [e.ids for e in tok.encode_batch(batch["text"])]}
    else:
        import toklm
        from toklm.corpus import datasets_map_fn

        fn = datasets_map_fn(toklm.Tokenizer.from_pretrained(str(gpt2)))
    start = time.perf_counter()
    mapped = ds.map(fn, batched=True, batch_size=1000, remove_columns=["text"],
                    keep_in_memory=True)  # fmt: skip
    n = sum(len(x) for x in mapped["input_ids"])
    return {"tokens": n, "seconds": time.perf_counter() - start}


def bench_hf(path: Path) -> None:
    size = path.stat().st_size
    print(f"\n## datasets.map(batched=True) vs toklm, GPT-2 vocabulary, {size / MB:.0f} MB")
    print(f"{'contender':<52} {'seconds':>8} {'MB/s':>7} {'tokens':>12}")
    rows = []
    for kind, label in (("tokenizers", "datasets.map + tokenizers encode_batch"),
                        ("toklm", "datasets.map + toklm.corpus.datasets_map_fn")):  # fmt: skip
        res, _, _ = run_child([sys.executable, __file__, "--worker", "hf", kind, str(path)])
        r = json.loads(res)
        rows.append((label, r["seconds"], r["tokens"]))
    out = Path(tempfile.mkdtemp(prefix="toklm-bench-corpus-"))
    gpt2 = SHARED / "tokenizers" / "gpt2"
    _, seconds, _ = run_child([*toklm_cli(), "tokenize", str(path), "-e", str(gpt2), "-q",
                               "-o", str(out / "o")])  # fmt: skip
    rows.append(("toklm tokenize (process wall time)", seconds,
                 json.loads((out / "o" / "manifest.json").read_text())["tokens"]))  # fmt: skip
    shutil.rmtree(out)
    for label, seconds, tokens in rows:
        print(f"{label:<52} {seconds:>8.1f} {size / seconds / MB:>7.1f} {tokens:>12,}")


# ---------------------------------------------------------------- engines


def engine_worker(path: str, engine: str, encoding: str, out: str) -> dict[str, float]:
    """The job on `engine`; a cluster is started first (the same one the job would start: two
    single-threaded workers; Dask's by `start_local_dask_cluster`, as the job does), so that
    start-up and job are timed apart."""
    from toklm.corpus import tokenize_corpus

    start = time.perf_counter()
    address, cluster = None, None
    if engine == "dask":
        from toklm.corpus.engines import start_local_dask_cluster

        cluster = start_local_dask_cluster()
        address = cluster.scheduler_address
    elif engine == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ready = time.perf_counter()
    threads = 0 if engine == "local" else 1
    tokenize_corpus([path], out, encoding, engine=engine, address=address,
                    shard_bytes=8 << 20, num_threads=threads)  # fmt: skip
    done = time.perf_counter()
    if cluster is not None:
        cluster.close()
    return {"seconds": done - ready, "startup": ready - start}


def bench_engines(path: Path, encoding: str, rounds: int) -> None:
    size = path.stat().st_size
    print(f"\n## toklm tokenize --engine, {size / MB:.0f} MB, {encoding}, 8 MB shards")
    print(f"{'engine':<44} {'start-up':>8} {'job s':>8} {'MB/s':>7} {'vs local':>8}")
    out = Path(tempfile.mkdtemp(prefix="toklm-bench-corpus-"))
    engines = ("local", "dask", "ray")
    label = {"local": "local (threads)", "dask": "dask LocalCluster(2 x 1 thread)",
             "ray": "ray local (num_cpus=2)"}  # fmt: skip
    ratios: dict[str, list[float]] = {e: [] for e in engines}
    same = True
    # Rounds of local, Dask, Ray back to back; each engine is compared with the local run of
    # its own round (the VM's speed drifts between rounds), and the median ratio reported.
    for _ in range(rounds):
        times = {}
        for engine in engines:
            shutil.rmtree(out / engine, ignore_errors=True)
            res, _, _ = run_child([sys.executable, __file__, "--worker", "engine", str(path),
                                   engine, encoding, str(out / engine)])  # fmt: skip
            times[engine] = json.loads(res)["seconds"]
            startup = json.loads(res)["startup"]
            ratio = times["local"] / times[engine]
            ratios[engine].append(ratio)
            print(f"{label[engine]:<44} {startup:>8.1f} {times[engine]:>8.1f} "
                  f"{size / times[engine] / MB:>7.1f} {ratio:>7.2f}x", flush=True)  # fmt: skip
        local = (out / "local" / "manifest.json").read_bytes()
        same = same and all((out / e / "manifest.json").read_bytes() == local for e in engines)
    for engine in engines[1:]:
        each, median = (
            " ".join(f"{x:.2f}x" for x in sorted(ratios[engine])),
            statistics.median(ratios[engine]),
        )
        print(f"{engine} / local, each round: {each}; median {median:.2f}x")
    print(f"(job seconds exclude the cluster's start-up; manifests identical: {same})")
    shutil.rmtree(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("batch", "tokenize", "hf", "engines"), action="append")
    ap.add_argument("--size-mb", type=int, default=1024, help="tokenize: generated file size")
    ap.add_argument("--hf-mb", type=int, default=20, help="hf: input size")
    ap.add_argument("--engines-mb", type=int, default=100, help="engines: input size")
    ap.add_argument("-e", "--encoding", default="cl100k_base")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sample-s", type=float, default=0.25,
                    help="batch: seconds of calls per timed sample")  # fmt: skip
    ap.add_argument("--pairs", type=int, default=3,
                    help="tokenize: one-core/all-core pairs; engines: rounds")  # fmt: skip
    ap.add_argument("--skip-tiktoken", action="store_true", help="tokenize: no tiktoken loop")
    ap.add_argument("--tiktoken-mb", type=int, default=0,
                    help="tokenize: run the tiktoken loop on the file's first MB only")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    seed_tiktoken_cache()
    if args.worker:
        kind, *rest = args.worker
        fn = {"tiktoken": tiktoken_loop, "hf": hf_worker, "engine": engine_worker}[kind]
        print(json.dumps(fn(*rest)))
        return
    only = set(args.only or ("batch", "tokenize", "hf", "engines"))
    print(f"# bench_corpus: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    if "batch" in only:
        bench_batch(args.encoding, args.repeats, args.sample_s)
    made = []
    for section, mb in (("tokenize", args.size_mb), ("hf", args.hf_mb),
                        ("engines", args.engines_mb)):  # fmt: skip
        if section not in only:
            continue
        path = Path(tempfile.gettempdir()) / f"toklm-bench-corpus-{mb}MB.txt"
        if not path.exists():
            make_file(path, mb * 1_000_000)
            made.append(path)
        if section == "tokenize":
            bench_tokenize(path, args.encoding, args.skip_tiktoken, args.tiktoken_mb, args.pairs)
        elif section == "hf":
            bench_hf(path)
        else:
            bench_engines(path, args.encoding, args.pairs)
    if not args.keep:
        for path in made:
            path.unlink()
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
