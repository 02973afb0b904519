"""toklm's captured decode on a CUDA GPU against transformers, side by side in one process.

    python benchmarks/bench_gpu.py                          # the GPU run: <= 6 minutes on an H200
    python benchmarks/bench_gpu.py --device cpu --small     # a smoke test of this script on a CPU

Builds random-weight GPT-2-124M, Pythia-410M and Pythia-1.4B from transformers configs (no
network) directly on the device, saves each once as safetensors (under /dev/shm when it has room)
and loads it with toklm straight onto the device. For fp32 (TF32 off) and bf16 it prints, per
batch size (1, 8, 32), decode tokens/s for a 16-token prompt and 128 new tokens (greedy, no eos):

- transformers eager (its default dynamic cache) and with its static cache;
- toklm's eager loop (`use_cuda_graphs=False`) and toklm's captured decode (the default);
- toklm captured over the best transformers figure, and the weight bytes toklm reads per second
  as a share of the device's measured copy bandwidth.

Then the correctness check: fp32 greedy sequences identical to transformers' at batch 1 and 8
(taken from the timed runs), fp32 prompt logits' largest difference, and the bf16 logit error
against transformers fp32 (prompt logits and the captured decode's logits while the sequences
agree) next to transformers' own bf16 error.

Last, while time is left, transformers with its static cache + torch.compile (what
`cache_implementation="static"` does by itself on CUDA) at batch 1, largest model first: each
compilation takes tens of seconds, so it comes after everything else.

Everything is bounded by --budget seconds (default 330): a cell that no longer fits prints
"skip". Rows are printed as they are measured, so a cut-off run still shows what it did.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_models import CONFIGS, quiet_transformers, weight_bytes_per_token  # noqa: E402

_, PYTHIA_410M = CONFIGS["pythia-410m"]
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "gpt2-124m": CONFIGS["gpt2-124m"],
    "pythia-410m": CONFIGS["pythia-410m"],
    "pythia-1.4b": ("gpt_neox", dict(PYTHIA_410M, hidden_size=2048, intermediate_size=8192)),
}
SMALL: dict[str, tuple[str, dict[str, Any]]] = {
    "gpt2-tiny": ("gpt2", dict(vocab_size=1000, n_embd=64, n_layer=2, n_head=2, n_positions=256)),
    "neox-tiny": (
        "gpt_neox",
        dict(
            PYTHIA_410M,
            vocab_size=1000,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=256,
            max_position_embeddings=256,
        ),
    ),
}
# Peaked logits (std ~0.1 * sqrt(hidden)): greedy parity is then decided by real differences,
# not by near-ties that any rounding flips.
INIT_RANGE = 0.1
ENGINES = ("hf", "hf-static", "toklm-eager", "toklm")


class Budget:
    """Wall-clock budget for the whole run; cells ask before they start."""

    def __init__(self, seconds: float) -> None:
        self.start, self.seconds = time.perf_counter(), seconds

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def allows(self, seconds: float) -> bool:
        return self.left() > seconds


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn: Callable[[], Any], dev: torch.device) -> tuple[float, Any]:
    sync(dev)
    t = time.perf_counter()
    out = fn()
    sync(dev)
    return time.perf_counter() - t, out


def copy_bandwidth(dev: torch.device, mib: int) -> float:
    """GB/s of a device-to-device copy (bytes read + bytes written), best of 5."""
    a = torch.ones(mib * 2**18, device=dev)
    b = torch.empty_like(a)
    b.copy_(a)
    best = min(timed(lambda: b.copy_(a), dev)[0] for _ in range(5))
    return 2 * a.numel() * 4 / best / 1e9


def workdir(requested: str | None, need_bytes: int) -> Path:
    if requested:
        return Path(requested)
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 2 * need_bytes:
        return Path(tempfile.mkdtemp(prefix="toklm-bench-gpu-", dir=shm))
    return Path(tempfile.mkdtemp(prefix="toklm-bench-gpu-"))


def build_hf(kind: str, cfg: dict[str, Any], dev: torch.device) -> Any:
    transformers = quiet_transformers()
    config_cls = transformers.GPT2Config if kind == "gpt2" else transformers.GPTNeoXConfig
    config = config_cls(**cfg, initializer_range=INIT_RANGE)
    torch.manual_seed(0)
    with torch.device(dev):  # random init on the device itself: seconds, not minutes
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    model.generation_config.eos_token_id = None  # every run makes exactly --new-tokens tokens
    model.generation_config.pad_token_id = 0
    return model


class Cell:
    """One measurement: tok/s and the sequences it produced (for the parity check)."""

    def __init__(self, note: str = "", rate: float | None = None, out: Any = None) -> None:
        self.note, self.rate, self.out = note, rate, out

    def text(self) -> str:
        return f"{self.rate:,.0f}" if self.rate is not None else self.note


def measure(
    make: Callable[[], Any], warm: Callable[[], Any] | None, tokens: int, dev: torch.device
) -> Cell:
    """Warm up, then time `make` (twice when one run is short); errors become the cell text."""
    try:
        if warm is not None:
            warm()
        seconds, out = timed(make, dev)
        if seconds < 1.0:
            again, out = timed(make, dev)
            seconds = min(seconds, again)
        return Cell(rate=tokens / seconds, out=out)
    except Exception as e:  # noqa: BLE001 - a failing engine is a result, not a crash
        return Cell(f"failed: {type(e).__name__}: {str(e).splitlines()[0][:60] if str(e) else ''}")


def hf_generate(hf: Any, ids: torch.Tensor, new: int, engine: str, **kw: Any) -> Any:
    if engine != "hf":
        kw["cache_implementation"] = "static"
        kw["disable_compile"] = engine == "hf-static"
    with torch.inference_mode():
        return hf.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False, **kw
        )


def bench_dtype(
    name: str,
    hf: Any,
    path: Path,
    dtype: torch.dtype,
    args: argparse.Namespace,
    budget: Budget,
    bandwidth: float,
    ref: dict[str, Any],
) -> list[dict[str, Any]]:
    """All cells for one model in one dtype; fills `ref` (fp32) or checks against it (bf16)."""
    from toklm.models import AutoModelForCausalLM

    dev = torch.device(args.device)
    load_s, ours = timed(
        lambda: AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device=dev), dev
    )
    step_bytes = weight_bytes_per_token(ours)
    gen = torch.Generator().manual_seed(1)
    V = ours.config.vocab_size
    prompts = {
        b: torch.randint(0, V, (b, args.prompt), generator=gen).to(dev) for b in args.batches
    }
    new = args.new_tokens
    dname = "fp32" if dtype == torch.float32 else "bf16"
    rows = []
    for b in args.batches:
        ids = prompts[b]
        cells: dict[str, Cell] = {}
        for engine in ENGINES:
            if not budget.allows(args.reserve_s):
                cells[engine] = Cell("skip")
                continue
            if engine.startswith("hf"):
                cells[engine] = measure(
                    lambda e=engine: hf_generate(hf, ids, new, e),
                    lambda e=engine: hf_generate(hf, ids, 4, e),
                    b * new,
                    dev,
                )
            else:
                graphs = engine == "toklm"
                if dev.type == "cuda" or not graphs:

                    def run(n: int = new, graphs: bool = graphs) -> Any:
                        return ours.generate(
                            ids, max_new_tokens=n, eos_token_id=[], use_cuda_graphs=graphs
                        )
                else:  # a CPU has no graphs: run the runner's static step eagerly instead
                    from toklm.models.generation import generate_static

                    def run(n: int = new, graphs: bool = graphs) -> Any:
                        return generate_static(
                            ours, ids, capture=False, max_new_tokens=n, eos_token_id=[]
                        )

                # The warm-up runs the full length once: it captures every attention window.
                cells[engine] = measure(run, run if graphs else lambda: run(4), b * new, dev)
        best_hf = max(
            (c.rate for k, c in cells.items() if k.startswith("hf") and c.rate), default=0
        )
        ours_rate = cells["toklm"].rate
        ratio = f"{ours_rate / best_hf:.2f}x" if ours_rate and best_hf else "-"
        reads = f"{step_bytes * ours_rate / b / 1e9 / bandwidth:.0%}" if ours_rate else "-"
        row = {
            "model": name,
            "dtype": dname,
            "batch": b,
            **{k: c.rate if c.rate is not None else c.note for k, c in cells.items()},
            "toklm_vs_best_hf": ratio,
            "weight_reads_of_copy_bw": reads,
        }
        rows.append(row)
        cols = " | ".join(cells[k].text() for k in ENGINES)
        print(f"| {name} | {dname} | {b} | {cols} | {ratio} | {reads} |", flush=True)
        if dname == "fp32":  # the parity check reuses the timed runs' sequences
            ref[f"hf{b}"], ref[f"toklm{b}"] = cells["hf"].out, cells["toklm"].out
    row_info = {"load_s": load_s, "weight_gb_per_step": step_bytes / 1e9}
    if budget.allows(args.reserve_s / 2):
        try:
            row_info.update(check(hf, ours, prompts[args.batches[0]], dname, ref))
        except Exception as e:  # noqa: BLE001 - report it with the other results
            row_info["check_failed"] = f"{type(e).__name__}: {e}"
    rows[0].update(row_info)
    return rows  # the caller releases the device memory once `ours` is gone


def check(hf: Any, ours: Any, ids: torch.Tensor, dname: str, ref: dict[str, Any]) -> dict[str, Any]:
    """fp32: parity with transformers; bf16: logit error next to transformers' own."""
    ids = ids[:1]
    steps = 32
    with torch.inference_mode():
        hf_prompt = hf(ids).logits[0].float()
        our_prompt = ours(ids).logits[0].float()
        hf_out = hf.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=steps,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
    our_out = ours.generate(
        ids, max_new_tokens=steps, eos_token_id=[], output_logits=True, return_dict_in_generate=True
    )
    if dname == "fp32":
        ref["prompt"], ref["seq"] = hf_prompt, hf_out.sequences
        ref["logits"] = [x.float() for x in hf_out.logits]
        result: dict[str, Any] = {"fp32_prompt_logit_max_diff": _maxdiff(our_prompt, hf_prompt)}
        for key in sorted(k for k in ref if k.startswith("hf") and ref[k] is not None):
            b = key[2:]
            a, r = ref.get(f"toklm{b}"), ref[key]
            same = a is not None and a.shape == r.shape and bool((a == r).all())
            result[f"greedy_b{b}_identical"] = same
        return result

    # bf16: errors against transformers fp32, prompt and decode (while sequences agree)
    def decode_err(out: Any) -> float:
        worst = 0.0
        for i, (x, r) in enumerate(zip(out.logits, ref["logits"], strict=False)):
            T = ids.shape[1] + i
            if not torch.equal(out.sequences[:, :T], ref["seq"][:, :T]):
                break
            worst = max(worst, _maxdiff(x.float(), r))
        return worst

    return {
        "bf16_prompt_err_toklm": _maxdiff(our_prompt, ref["prompt"]),
        "bf16_prompt_err_hf": _maxdiff(hf_prompt, ref["prompt"]),
        "bf16_decode_err_toklm": decode_err(our_out),
        "bf16_decode_err_hf": decode_err(hf_out),
    }


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke test)")
    p.add_argument("--small", action="store_true", help="tiny models, 16 new tokens, batch 1, 4")
    p.add_argument("--models", help="comma-separated subset of " + ", ".join(MODELS))
    p.add_argument("--batches", default=None, help="default 1,8,32 (--small: 1,4)")
    p.add_argument("--new-tokens", type=int, default=None, help="default 128 (--small: 16)")
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--budget", type=float, default=330.0, help="seconds for the whole run")
    p.add_argument(
        "--compile-s", type=float, default=75.0, help="budget needed to try one compile cell"
    )
    p.add_argument("--reserve-s", type=float, default=20.0, help="budget kept back per cell")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--workdir", help="where the checkpoints go (default: /dev/shm or tmp)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "bench_gpu.py needs a CUDA GPU and torch.cuda.is_available() is False here. For a smoke"
            " test of the script on a CPU: python benchmarks/bench_gpu.py --device cpu --small",
            file=sys.stderr,
        )
        return 2
    budget = Budget(args.budget)
    table = SMALL if args.small else MODELS
    names = args.models.split(",") if args.models else list(table)
    for n in names:
        if n not in table:
            p.error(f"--models: unknown model {n!r} (known: {', '.join(table)})")
    args.batches = [
        int(b) for b in (args.batches or ("1,4" if args.small else "1,8,32")).split(",")
    ]
    args.new_tokens = args.new_tokens or (16 if args.small else 128)
    dev = torch.device(args.device)
    torch.set_float32_matmul_precision("highest")  # TF32 off: fp32 means fp32
    transformers = quiet_transformers()
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    bandwidth = copy_bandwidth(dev, 64 if args.small else 2048)
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"# {now}, {where}, torch {torch.__version__},"
        f" transformers {transformers.__version__}; device copy bandwidth {bandwidth:,.0f} GB/s;"
        f" prompt {args.prompt} tokens, {args.new_tokens} new, greedy; tok/s = batch x new / time",
        flush=True,
    )
    heads = " | ".join(ENGINES)
    print(f"\n| model | dtype | batch | {heads} | toklm / best hf | toklm weight reads |")
    print("|" + "---|" * (len(ENGINES) + 5), flush=True)
    results: list[dict[str, Any]] = []
    for name in names:
        if not budget.allows(args.reserve_s * 2):
            print(f"| {name} | skip (time budget) |", flush=True)
            continue
        kind, cfg = table[name]
        hf = build_hf(kind, cfg, dev)
        need = sum(t.numel() * 4 for t in hf.state_dict().values())
        path = workdir(args.workdir, need) / name
        hf.save_pretrained(path)
        ref: dict[str, Any] = {}
        try:
            results += bench_dtype(name, hf, path, torch.float32, args, budget, bandwidth, ref)
            release(dev)
            hf.to(torch.bfloat16)
            results += bench_dtype(name, hf, path, torch.bfloat16, args, budget, bandwidth, ref)
        finally:
            del hf
            shutil.rmtree(path, ignore_errors=True)
            release(dev)
    print_checks(results)
    save(args.json, results)  # written now too: the compile phase may be cut off from outside
    if dev.type == "cuda" and not args.no_compile and 1 in args.batches:
        compile_phase(names, table, results, args, budget, dev)
        save(args.json, results)
    print(f"\n# done in {args.budget - budget.left():.0f} s", flush=True)
    return 0


def save(path: str | None, results: list[dict[str, Any]]) -> None:
    if path:
        Path(path).write_text(json.dumps(results, indent=1, default=str))


def release(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def compile_phase(
    names: list[str],
    table: dict[str, tuple[str, dict[str, Any]]],
    results: list[dict[str, Any]],
    args: argparse.Namespace,
    budget: Budget,
    dev: torch.device,
) -> None:
    """transformers with its static cache + torch.compile at batch 1, last and only while the
    budget allows (each compilation takes tens of seconds), largest model in bf16 first."""
    print("\n| model | dtype | hf static+compile b1 | toklm b1 | toklm / hf compiled |")
    print("|---|---|---|---|---|", flush=True)
    ours = {(r["model"], r["dtype"]): r.get("toklm") for r in results if r["batch"] == 1}
    for name in reversed(names):
        for dtype in (torch.bfloat16, torch.float32):
            dname = "bf16" if dtype == torch.bfloat16 else "fp32"
            if not budget.allows(args.compile_s):
                print(f"| {name} | {dname} | skip (time budget) | | |", flush=True)
                continue
            kind, cfg = table[name]
            hf = build_hf(kind, cfg, dev).to(dtype)
            ids = torch.randint(0, hf.config.vocab_size, (1, args.prompt), device=dev)
            cell = measure(
                lambda hf=hf, ids=ids: hf_generate(hf, ids, args.new_tokens, "hf-compile"),
                lambda hf=hf, ids=ids: hf_generate(hf, ids, args.new_tokens, "hf-compile"),
                args.new_tokens,
                dev,
            )
            del hf
            torch._dynamo.reset()
            release(dev)
            mine = ours.get((name, dname))
            ratio = f"{mine / cell.rate:.2f}x" if isinstance(mine, float) and cell.rate else "-"
            shown = f"{mine:,.0f}" if isinstance(mine, float) else str(mine)
            print(f"| {name} | {dname} | {cell.text()} | {shown} | {ratio} |", flush=True)
            results.append(
                {"model": name, "dtype": dname, "batch": 1, "hf-compile": cell.rate or cell.note}
            )


def print_checks(results: list[dict[str, Any]]) -> None:
    print("\n| model | dtype | load s | weight GB/step | correctness |")
    print("|---|---|---|---|---|")
    for r in results:
        if "load_s" not in r:
            continue
        facts = []
        for key in sorted(r):
            if key.startswith("greedy_"):
                facts.append(f"{key}={'yes' if r[key] else 'NO'}")
        if "fp32_prompt_logit_max_diff" in r:
            facts.append(f"fp32 prompt logits max|diff| {r['fp32_prompt_logit_max_diff']:.1e}")
        for part in ("prompt", "decode"):
            ours, theirs = r.get(f"bf16_{part}_err_toklm"), r.get(f"bf16_{part}_err_hf")
            if ours is not None:
                facts.append(f"bf16 {part} err {ours:.3f} (transformers' own {theirs:.3f})")
        if "check_failed" in r:
            facts.append(f"check FAILED: {r['check_failed'][:200]}")
        line = "; ".join(facts) or "not checked (time budget)"
        print(f"| {r['model']} | {r['dtype']} | {r['load_s']:.2f} | {r['weight_gb_per_step']:.3f} "
              f"| {line} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
