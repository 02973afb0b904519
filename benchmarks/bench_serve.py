"""`toklm serve` under load: what `vllm bench serve` reports, at 1, 4 and 16 concurrent clients.

GPT-2-124M with random weights (fp32, the real config, built with transformers in a work
directory, GPT-2 tokenizer from ../shared), served by `toklm serve` in a subprocess on a free
loopback port. Each client sends its requests one after another (closed loop, streaming, greedy,
`ignore_eos`; request k generates --max-tokens x (1 + R u_k) tokens, u_k uniform in [-1, 1],
R = `--length-spread`, 0.5 by default: with equal lengths, clients whose requests were
admitted in one step finish together and come back together, in waves). Per request: TTFT
(send to first text), ITL (between streamed chunks), TPOT ((e2e - TTFT) / (tokens - 1)) and
end-to-end latency; per level: request and output-token throughput. Clients start spread over
`--ramp-up` seconds (by default one lone request's end-to-end time: arrivals as in a steady
stream rather than one burst, whose prefills a compute-bound CPU can only run one after
another). One client is one-at-a-time (sequential) serving. For the overhead check, `toklm
generate --stats` on the same prompt and one request alone on the server are alternated
`--rounds` times (median of the pairs' ratios).

    python benchmarks/bench_serve.py                   # about 3 minutes on a 2-core VM
    python benchmarks/bench_serve.py --levels 1,4 --requests 1 --max-tokens 16 --rounds 1  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GPT2_124M = dict(
    vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, bos_token_id=50256,
    eos_token_id=50256,
)  # fmt: skip


def build_checkpoint(workdir: Path) -> Path:
    """GPT-2-124M, random weights, saved once per work directory, with the GPT-2 tokenizer."""
    path = workdir / "gpt2-124m-random"
    if not (path / "model.safetensors").is_file():
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(transformers.GPT2Config(**GPT2_124M))
        model.save_pretrained(path)
        del model
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(SHARED / "tokenizers" / "gpt2" / name, path / name)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sample:
    ttft: float
    e2e: float
    tokens: int
    itl: list[float] = field(default_factory=list)

    @property
    def tpot(self) -> float:
        return (self.e2e - self.ttft) / (self.tokens - 1) if self.tokens > 1 else float("nan")


async def one_request(client: Any, prompt: list[int], max_tokens: int) -> Sample:
    body = {
        "model": "bench",
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = last = None
    itl: list[float] = []
    tokens = 0
    async with client.stream("POST", "/v1/completions", json=body) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {await r.aread()!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            now = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk["choices"] and chunk["choices"][0]["text"]:
                if first is None:
                    first = now
                else:
                    itl.append(now - last)  # type: ignore[operator]
                last = now
    end = time.perf_counter()
    return Sample((first or end) - start, end - start, tokens, itl)


async def run_level(
    url: str,
    clients: int,
    per_client: int,
    prompts: list[list[int]],
    lengths: list[int],
    ramp_up: float,
) -> tuple[list[Sample], float]:
    import httpx

    limits = httpx.Limits(max_connections=clients + 1)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await one_request(client, prompts[0], 4)  # warm-up

        async def worker(k: int) -> list[Sample]:
            await asyncio.sleep(ramp_up * k / clients)  # arrivals spread over the ramp-up
            picks = [(k * per_client + j) % len(prompts) for j in range(per_client)]
            return [await one_request(client, prompts[i], lengths[i]) for i in picks]

        start = time.perf_counter()
        done = await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.perf_counter() - start
    return [s for w in done for s in w], wall


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def summarize(samples: list[Sample], wall: float) -> dict[str, float]:
    itl = [x for s in samples for x in s.itl]
    out = {
        "requests": len(samples),
        "wall_s": wall,
        "req_per_s": len(samples) / wall,
        "tok_per_s": sum(s.tokens for s in samples) / wall,
    }
    for name, values in (
        ("ttft", [s.ttft for s in samples]),
        ("tpot", [s.tpot for s in samples]),
        ("itl", itl),
        ("e2e", [s.e2e for s in samples]),
    ):
        out[f"{name}_p50_ms"] = pct(values, 50) * 1e3
        out[f"{name}_p99_ms"] = pct(values, 99) * 1e3
    return out


def generate_rate(model_dir: Path, prompt_text: str, max_tokens: int, threads: int | None) -> float:
    """`toklm generate --stats`'s decode tokens/s (one run, in its own process)."""
    cmd = [sys.executable, "-m", "toklm.cli", "generate", "-m", str(model_dir), prompt_text,
           "--max-new-tokens", str(max_tokens), "--no-prompt", "--stats"]  # fmt: skip
    if threads:
        cmd += ["--threads", str(threads)]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    match = re.search(r"then ([0-9.]+) tokens/s", err)
    if match is None:
        raise RuntimeError(f"no tokens/s in: {err}")
    return float(match.group(1))


async def lone_rate(url: str, prompt: list[int], max_tokens: int) -> float:
    """Decode tokens/s of one streamed request alone on the server (1 / TPOT)."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        return 1 / (await one_request(client, prompt, max_tokens)).tpot


def overhead_rounds(
    url: str, model_dir: Path, prompt: list[int], prompt_text: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    """`toklm generate` and one request through the server, alternated `--rounds` times (the
    VM's speed drifts by tens of percent within minutes; pairs taken close together compare
    like with like). Returns the medians of generate's rate, the server's and their ratios."""
    gens, served, ratios = [], [], []
    for k in range(args.rounds):
        if k % 2:  # which goes first alternates too
            served.append(asyncio.run(lone_rate(url, prompt, args.max_tokens)))
        gens.append(generate_rate(model_dir, prompt_text, args.max_tokens, args.threads))
        if not k % 2:
            served.append(asyncio.run(lone_rate(url, prompt, args.max_tokens)))
        ratios.append(served[-1] / gens[-1])
        print(f"  round {len(gens)}: generate {gens[-1]:.1f} tokens/s, one request through the "
              f"server {served[-1]:.1f} tokens/s ({ratios[-1]:.2f}x)", flush=True)  # fmt: skip
    return statistics.median(gens), statistics.median(served), statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, help="keep the checkpoint here (default: a temp dir)")
    ap.add_argument("--levels", default="1,4,16", help="concurrent clients per level")
    ap.add_argument("--requests", type=int, default=4, help="requests per client (default 4)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument(
        "--length-spread",
        type=float,
        default=0.5,
        metavar="R",
        help="request k asks for max_tokens x (1 + R u_k), u_k uniform in [-1, 1] (fixed seed), "
        "like `vllm bench serve --random-range-ratio` (default 0.5; 0: all ask --max-tokens)",
    )
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--prefills-per-step", type=int, default=2, metavar="N")
    ap.add_argument("--threads", type=int, help="torch threads for the server and generate")
    ap.add_argument(
        "--ramp-up",
        type=float,
        metavar="S",
        help="spread the clients' first requests over S seconds (default: one lone request's "
        "end-to-end time, i.e. steady arrivals; 0 = all at once)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="generate / lone server request pairs for the overhead check (default 5; 0 = skip)",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-serve-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    model_dir = build_checkpoint(workdir)

    from toklm.hf import Tokenizer

    tok = Tokenizer.from_pretrained(model_dir)
    words = ("the quick brown fox jumps over a lazy dog while seven wizards quietly judge "
             "boxing matches in distant cities ").split()  # fmt: skip
    prompts = []
    for k in range(64):  # distinct prompts of exactly --prompt-tokens tokens
        text = " ".join(words[(k + i) % len(words)] for i in range(args.prompt_tokens * 2))
        prompts.append(list(tok.encode(f"{k} {text}"))[: args.prompt_tokens])
    prompt_text = tok.decode(prompts[0])
    rng = random.Random(0)
    spread = min(max(args.length_spread, 0.0), 1.0)
    lengths = [max(2, round(args.max_tokens * (1 + spread * rng.uniform(-1, 1)))) for _ in prompts]

    print(f"toklm serve benchmark: GPT-2-124M random weights fp32, prompt {args.prompt_tokens} "
          f"tokens, {args.max_tokens} new tokens (spread {spread:g}; greedy, ignore_eos), "
          f"{args.requests} requests per client; --max-batch {args.max_batch}, "
          f"--prefills-per-step {args.prefills_per_step}; torch threads "
          f"{args.threads or 'default'}; {os.cpu_count()} CPUs", flush=True)  # fmt: skip

    port = free_port()
    cmd = [sys.executable, "-m", "toklm.cli", "serve", "-m", str(model_dir), "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-queue", "256",
           "--prefills-per-step", str(args.prefills_per_step),
           "--served-model-name", "bench"]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    results: dict[int, dict[str, float]] = {}
    overhead = (0.0, 0.0, 0.0)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {server.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.2)
        header = (f"{'clients':>7} {'reqs':>4} {'req/s':>6} {'tok/s':>7} {'TTFT p50':>9} "
                  f"{'p99':>7} {'TPOT p50':>9} {'p99':>7} {'ITL p50':>8} {'p99':>7} "
                  f"{'E2E p50':>8} {'p99':>7}  (ms)")  # fmt: skip
        print(header, flush=True)
        for c in levels:
            ramp = 0.0
            if c > 1:
                ramp = (
                    args.ramp_up
                    if args.ramp_up is not None
                    else results.get(1, {}).get("e2e_p50_ms", 0.0) / 1e3
                )
            samples, wall = asyncio.run(run_level(url, c, args.requests, prompts, lengths, ramp))
            r = results[c] = summarize(samples, wall)
            print(f"{c:>7} {r['requests']:>4} {r['req_per_s']:>6.2f} {r['tok_per_s']:>7.1f} "
                  f"{r['ttft_p50_ms']:>9.1f} {r['ttft_p99_ms']:>7.1f} {r['tpot_p50_ms']:>9.1f} "
                  f"{r['tpot_p99_ms']:>7.1f} {r['itl_p50_ms']:>8.1f} {r['itl_p99_ms']:>7.1f} "
                  f"{r['e2e_p50_ms']:>8.1f} {r['e2e_p99_ms']:>7.1f}", flush=True)  # fmt: skip
        if args.rounds:
            print(f"overhead: toklm generate and one request through the server, alternated "
                  f"{args.rounds} times", flush=True)  # fmt: skip
            overhead = overhead_rounds(url, model_dir, prompts[0], prompt_text, args)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if tmp is not None:
            tmp.cleanup()

    if args.rounds:
        gen_rate, served_rate, ratio = overhead
        print(f"one request through the server: {served_rate:.1f} tokens/s (1 / TPOT, median), "
              f"toklm generate {gen_rate:.1f}: median ratio {ratio:.2f}x "
              "(target >= 0.90)")  # fmt: skip
    if 1 in results:
        lone = results[1]
        for c in levels:
            if c > 1:
                r = results[c]
                speedup = r["tok_per_s"] / lone["tok_per_s"]
                ttft = r["ttft_p50_ms"] / lone["ttft_p50_ms"]
                print(f"{c} clients vs sequential (1 client): {speedup:.2f}x tokens/s (target >= 3"
                      f" at 16), TTFT p50 {ttft:.2f}x (target <= 2 at 16)")  # fmt: skip
    if args.json:
        out: dict[str, Any] = {"levels": results}
        if args.rounds:
            names = ("generate_tok_s", "served_tok_s", "served_vs_generate")
            out.update(zip(names, overhead, strict=True))
        args.json.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
