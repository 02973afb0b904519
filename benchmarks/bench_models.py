"""toklm's model engine vs transformers, side by side in one process, on random-weight models.

    python benchmarks/bench_models.py                          # GPT-2 124M, Pythia-160M/410M, tiny
    python benchmarks/bench_models.py --models gpt2-124m --quick

For each model (built from its real config with random weights, saved once as safetensors under
--workdir): machine read bandwidth (summing a 1 GiB array on all threads), load time, prefill of a
512-token prompt, decode tokens/s at batch 1 and 8 for 128 new tokens (greedy), the issue's
sampling settings (top_k=50, repetition_penalty=1.5, temperature=0.5) and peak memory (separate
processes). toklm runs in fp32, bf16 and int8 weight-only; ratios are against transformers fp32.
Achieved bandwidth = weight bytes read per token x tokens/s. Timings are best of --repeats, with
toklm and transformers runs interleaved so that background load hits both alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "gpt2-124m": ("gpt2", dict(vocab_size=50257, n_embd=768, n_layer=12, n_head=12)),
    "pythia-160m": (
        "gpt_neox",
        dict(
            vocab_size=50304,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            rotary_pct=0.25,
            bos_token_id=0,
            eos_token_id=0,
        ),
    ),
    "pythia-410m": (
        "gpt_neox",
        dict(
            vocab_size=50304,
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
            rotary_pct=0.25,
            bos_token_id=0,
            eos_token_id=0,
        ),
    ),
    # Per-step overhead dominates here (the issue's "tiny model" target).
    "tiny": ("gpt2", dict(vocab_size=1000, n_embd=64, n_layer=2, n_head=2, n_positions=1024)),
}
# fp32; bf16w = bf16 weights with fp32 activations (quantize="bf16"); int8 = int8 weight-only;
# bf16 = the whole model in bf16 (dtype="bfloat16"; slow on CPUs without AVX512-BF16, so opt-in).
MODES = ("fp32", "bf16w", "int8")
SAMPLING = dict(do_sample=True, top_k=50, repetition_penalty=1.5, temperature=0.5)


def quiet_transformers() -> Any:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def build_checkpoint(name: str, workdir: Path) -> Path:
    """Random weights from the real config, saved once (reused on later runs)."""
    path = workdir / name
    if (path / "model.safetensors").is_file():
        return path
    transformers = quiet_transformers()
    kind, cfg = CONFIGS[name]
    config = (transformers.GPT2Config if kind == "gpt2" else transformers.GPTNeoXConfig)(**cfg)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    del model
    gc.collect()
    return path


def read_bandwidth(gib: float = 1.0, repeats: int = 5) -> float:
    """GB/s reading memory: sum of a large fp32 array on all torch threads, best of `repeats`."""
    a = torch.ones(int(gib * 2**30) // 4)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.numel() * 4 / best / 1e9


def best_of(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best wall time per function; the functions run interleaved, one round per repeat."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for key, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t)
    return best


class StepClock:
    """A generate() streamer that only records when each put() happens: the prompt, then one
    put per generated token (transformers and toklm call it the same way)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, ids: Any) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass

    def decode_seconds(self) -> float:
        return self.times[-1] - self.times[1]  # from the first new token to the last


def load_hf(path: Path) -> Any:
    transformers = quiet_transformers()
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    # No eos: every run generates exactly the number of tokens asked for.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def load_toklm(path: Path, mode: str) -> Any:
    from toklm.models import AutoModelForCausalLM

    dtype = "bfloat16" if mode == "bf16" else "float32"
    quantize = {"int8": "int8", "bf16w": "bf16"}.get(mode)
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, quantize=quantize)


def weight_bytes_per_token(model: Any) -> int:
    """Bytes a decode step reads from weights: every linear layer (a tied LM head reads the whole
    embedding table) and norm; embedding lookups read one row and are left out."""
    from toklm.models.layers import LayerNorm

    total = 0
    for module in model.modules():
        if hasattr(module, "weight_bytes"):
            total += module.weight_bytes()
            bias = getattr(module, "bias", None)
            total += bias.numel() * bias.element_size() if bias is not None else 0
        elif isinstance(module, LayerNorm):
            total += sum(p.numel() * p.element_size() for p in module.parameters())
    return total


def hf_weight_bytes(model: Any) -> int:
    base = model.base_model
    emb = base.get_input_embeddings().weight
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    total -= emb.numel() * emb.element_size()
    if hasattr(base, "wpe"):
        total -= base.wpe.weight.numel() * base.wpe.weight.element_size()
    head = model.get_output_embeddings().weight
    if head.data_ptr() == emb.data_ptr():
        total += head.numel() * head.element_size()
    return total


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux: VmHWM, which (unlike ru_maxrss) does not
    inherit the parent's peak across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_memory(path: Path, engine: str, mode: str, prompt: int, new: int) -> None:
    """(Runs in a subprocess) load + prefill + decode; print peak RSS growth in MiB as JSON."""
    if engine == "hf":
        quiet_transformers()
    else:
        import toklm.models  # noqa: F401
    base = peak_rss_mib()
    model = load_hf(path) if engine == "hf" else load_toklm(path, mode)
    ids = torch.randint(0, 1000, (1, prompt))
    with torch.inference_mode():
        if engine == "hf":
            model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False
            )
        else:
            model.generate(ids, max_new_tokens=new, eos_token_id=[])
    print(json.dumps({"peak_mib": peak_rss_mib() - base}))


def peak_memory(path: Path, engine: str, mode: str, threads: int, prompt: int, new: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child-memory",
            str(path),
            engine,
            mode,
            "--threads",
            str(threads),
            "--prompt",
            str(prompt),
            "--new-tokens",
            str(new),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"])


def bench_model(name: str, args: argparse.Namespace, bandwidth: float) -> dict[str, Any]:
    from toklm.models.layers import make_step

    path = build_checkpoint(name, Path(args.workdir))
    new, reps = args.new_tokens, args.repeats
    prompt_len = min(args.prompt, 512)
    print(f"\n## {name}  ({path})", flush=True)

    # Load time (fp32 for both; the toklm modes too).
    loads = best_of(
        {
            "hf": lambda: load_hf(path),
            **{f"toklm-{m}": (lambda m=m: load_toklm(path, m)) for m in args.modes},
        },
        reps,
    )
    progress({"load_s": loads}, "load_s")
    # transformers maps the file and reads weights on first use; toklm copies what it re-lays
    # out at load. Load + the first generated token compares the two fairly.
    first_ids = torch.randint(0, 1000, (1, 16))

    def hf_first() -> None:
        model = load_hf(path)
        with torch.inference_mode():
            model.generate(first_ids, attention_mask=torch.ones_like(first_ids), max_new_tokens=1)

    def our_first(m: str) -> None:
        load_toklm(path, m).generate(first_ids, max_new_tokens=1, eos_token_id=[])

    load_first = best_of(
        {"hf": hf_first, **{f"toklm-{m}": (lambda m=m: our_first(m)) for m in args.modes}}, reps
    )
    progress({"load_first_token_s": load_first}, "load_first_token_s")
    if args.load_only:
        return load_report(path, loads, load_first, args)
    hf = load_hf(path)
    ours = {m: load_toklm(path, m) for m in args.modes}
    live = [hf, ours]  # dropped before the memory runs
    V = hf.config.vocab_size
    g = torch.Generator().manual_seed(0)
    long_prompt = torch.randint(0, V, (1, prompt_len), generator=g)
    short = torch.randint(0, V, (8, 16), generator=g)

    def hf_gen(ids: torch.Tensor, n: int, clock: StepClock, **kw: Any) -> None:
        with torch.inference_mode():
            out = hf.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=n,
                streamer=clock,
                **{"do_sample": False, **kw},
            )
        assert out.shape[1] == ids.shape[1] + n

    def our_gen(m: str, ids: torch.Tensor, n: int, clock: StepClock, **kw: Any) -> None:
        out = ours[m].generate(ids, max_new_tokens=n, eos_token_id=[], streamer=clock, **kw)
        assert out.shape[1] == ids.shape[1] + n

    def hf_prefill() -> None:
        with torch.inference_mode():
            hf(long_prompt, use_cache=True, logits_to_keep=1)

    def our_prefill(m: str) -> None:
        model = ours[m]
        with torch.inference_mode():
            cache = model.new_cache(1, prompt_len)
            step = make_step(cache, prompt_len, None, long_prompt.device)
            pos = torch.arange(prompt_len)[None]
            model.run(long_prompt, pos, step, keep=1)

    results: dict[str, Any] = {
        "model": name,
        "bandwidth_gbs": bandwidth,
        "load_s": loads,
        "load_first_token_s": load_first,
    }
    results["weight_bytes"] = {
        "hf": hf_weight_bytes(hf),
        **{f"toklm-{m}": weight_bytes_per_token(ours[m]) for m in ours},
    }
    results["prefill_s"] = best_of(
        {"hf": hf_prefill, **{f"toklm-{m}": (lambda m=m: our_prefill(m)) for m in args.modes}}, reps
    )

    def decode_rate(ids: torch.Tensor, **kw: Any) -> dict[str, float]:
        """tokens/s over `new` decode steps, timed between the first and the last new token."""
        runs: dict[str, Callable[[StepClock], None]] = {
            "hf": lambda c: hf_gen(ids, new + 1, c, **kw),
            **{f"toklm-{m}": (lambda c, m=m: our_gen(m, ids, new + 1, c, **kw)) for m in ours},
        }
        best = dict.fromkeys(runs, 0.0)
        for _ in range(reps):
            for key, run in runs.items():
                clock = StepClock()
                run(clock)
                best[key] = max(best[key], ids.shape[0] * new / clock.decode_seconds())
        return best

    progress(results, "prefill_s")
    results["decode_b1_tps"] = decode_rate(short[:1])
    progress(results, "decode_b1_tps")
    results["decode_b8_tps"] = decode_rate(short)
    progress(results, "decode_b8_tps")
    results["sampling_b1_tps"] = decode_rate(short[:1], **SAMPLING)
    progress(results, "sampling_b1_tps")
    results["weight_bytes"] = {
        "hf": hf_weight_bytes(hf),
        **{f"toklm-{m}": weight_bytes_per_token(ours[m]) for m in ours},
    }
    live.clear()
    ours.clear()
    hf = None
    gc.collect()
    if not args.skip_memory:
        results["peak_mib"] = {
            "hf": peak_memory(path, "hf", "fp32", args.threads, 16, 32),
            **{
                f"toklm-{m}": peak_memory(path, "toklm", m, args.threads, 16, 32)
                for m in args.modes
            },
        }
    report(results)
    return results


def load_report(
    path: Path, loads: dict[str, float], first: dict[str, float], args: argparse.Namespace
) -> dict[str, Any]:
    """--load-only: the load columns (and peak memory of a short run) as a table."""
    peak = {}
    if not args.skip_memory:
        peak = {
            "hf": peak_memory(path, "hf", "fp32", args.threads, 16, 32),
            **{
                f"toklm-{m}": peak_memory(path, "toklm", m, args.threads, 16, 32)
                for m in args.modes
            },
        }
    print("| engine | load s | load + 1st token s | peak MiB (load, 16-token prompt, 32 new) |")
    print("|---|---|---|---|")
    for k in loads:
        ratio = "" if k == "hf" else f" ({loads['hf'] / loads[k]:.2f}x)"
        mem = f"{peak[k]:.0f}" if k in peak else "-"
        print(f"| {k} | {loads[k]:.3f}{ratio} | {first[k]:.3f} | {mem} |", flush=True)
    return {"load_s": loads, "load_first_token_s": first, "peak_mib": peak}


def accuracy(name: str, args: argparse.Namespace) -> None:
    """Logit error and perplexity change of each toklm mode against toklm fp32 (which matches
    transformers to ~1e-5), on 4 windows of 512 tokens of ../shared/corpora/en.txt."""
    from toklm.hf import Tokenizer

    path = build_checkpoint(name, Path(args.workdir))
    kind = CONFIGS[name][0]
    tok_dir = REPO.parent / "shared" / "tokenizers" / ("gpt2" if kind == "gpt2" else "gpt-neox-20b")
    text = (REPO.parent / "shared" / "corpora" / "en.txt").read_text(encoding="utf-8")
    ids = Tokenizer.from_pretrained(tok_dir).encode(text[:200_000])
    V = CONFIGS[name][1]["vocab_size"]
    windows = [torch.tensor([ids[i * 512 : (i + 1) * 512]]) for i in range(4)]
    if max(ids) >= V:
        raise SystemExit(f"{name}: the tokenizer's ids exceed the model's vocabulary")
    ref_model = load_toklm(path, "fp32")
    ref = [ref_model(w).logits for w in windows]
    ref_ll = sum(ref_model.log_likelihood(w).log_likelihood for w in windows)
    n = sum(w.shape[1] - 1 for w in windows)
    print(
        f"\n## accuracy: {name}, {n} predicted tokens of en.txt; fp32 perplexity "
        f"{torch.tensor(-ref_ll / n).exp():.2f}"
    )
    print("| mode | max abs logit error | relative to max abs logit | perplexity change |")
    print("|---|---|---|---|")
    for mode in args.modes:
        if mode == "fp32":
            continue
        model = load_toklm(path, mode)
        err = max(
            float((model(w).logits.float() - r).abs().max())
            for w, r in zip(windows, ref, strict=True)
        )
        scale = max(float(r.abs().max()) for r in ref)
        ll = sum(model.log_likelihood(w).log_likelihood for w in windows)
        change = float(torch.tensor((ref_ll - ll) / n).exp()) - 1  # ppl ratio - 1
        print(f"| {mode} | {err:.4f} | {err / scale:.2%} | {change:+.3%} |", flush=True)


def progress(results: dict[str, Any], key: str) -> None:
    print(f"  {key}: " + ", ".join(f"{k} {v:.3g}" for k, v in results[key].items()), flush=True)


def report(r: dict[str, Any]) -> None:
    bw = r["bandwidth_gbs"]
    keys = ["hf"] + [k for k in r["load_s"] if k != "hf"]
    print(
        f"machine read bandwidth {bw:.1f} GB/s; (ratios) are toklm vs transformers fp32, "
        ">1 = toklm better"
    )
    print(
        "| engine | load s | load + 1st token s | prefill-512 ms | b1 tok/s | b8 tok/s | "
        "sampling b1 tok/s | GB/token | b1 GB/s (% of machine) | peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        gb = r["weight_bytes"][k] / 1e9
        b1 = r["decode_b1_tps"][k]

        def cell(metric: str, scale: float = 1.0, fmt: str = ".1f", lower: bool = False) -> str:
            table = r.get(metric)
            if not table or k not in table:
                return "-"
            x, ref = table[k], table["hf"]
            text = f"{x * scale:{fmt}}"
            if k != "hf" and x > 0 and ref > 0:
                text += f" ({ref / x if lower else x / ref:.2f}x)"
            return text

        print(
            f"| {k} | {cell('load_s', fmt='.2f', lower=True)} "
            f"| {cell('load_first_token_s', fmt='.2f', lower=True)} "
            f"| {cell('prefill_s', 1e3, '.0f', lower=True)} | {cell('decode_b1_tps')} "
            f"| {cell('decode_b8_tps')} | {cell('sampling_b1_tps')} "
            f"| {gb:.3f} | {gb * b1:.1f} ({100 * gb * b1 / bw:.0f}%) "
            f"| {cell('peak_mib', fmt='.0f', lower=True)} |",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="gpt2-124m,pythia-160m,pythia-410m,tiny")
    p.add_argument("--modes", default=",".join(MODES), help="toklm modes: fp32,bf16w,int8,bf16")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--quick", action="store_true", help="2 repeats, 32 new tokens")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument(
        "--load-only",
        action="store_true",
        help="only the load columns (a quantized mode's first load writes its converted-weights "
        "cache; the best of --repeats is a load from that cache)",
    )
    p.add_argument(
        "--accuracy",
        action="store_true",
        help="only measure each mode's logit error and perplexity change vs fp32",
    )
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "toklm-bench-models"))
    p.add_argument(
        "--child-memory", nargs=3, metavar=("PATH", "ENGINE", "MODE"), help=argparse.SUPPRESS
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_memory:
        path, engine, mode = args.child_memory
        child_memory(Path(path), engine, mode, args.prompt, args.new_tokens)
        return
    if args.quick:
        args.repeats, args.new_tokens = 2, 32
    args.modes = [m for m in args.modes.split(",") if m]
    os.makedirs(args.workdir, exist_ok=True)
    import transformers

    print(
        f"# toklm vs transformers {transformers.__version__}, torch {torch.__version__}, "
        f"{args.threads} threads, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    if args.accuracy:
        for name in args.models.split(","):
            accuracy(name, args)
        return
    bandwidth = read_bandwidth()
    results = [bench_model(name, args, bandwidth) for name in args.models.split(",")]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
