"""`toklm generate` and `toklm embed`: run a GPT-2 / Pythia checkpoint with toklm's engine."""

from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `sub`."""
    gen = sub.add_parser(
        "generate",
        help="generate text from a prompt, streamed to stdout",
        description="Generate text with a GPT-2 or GPT-NeoX/Pythia checkpoint (transformers' "
        "semantics). Sampling is on when any of --temperature/--top-k/--top-p/--min-p is given.",
    )
    _model_args(gen)
    gen.add_argument("prompt", help="the prompt text")
    gen.add_argument("--max-new-tokens", type=int, default=50, metavar="N")
    gen.add_argument("--do-sample", action="store_true", help="sample (default: greedy)")
    gen.add_argument("--temperature", type=float, metavar="T")
    gen.add_argument("--top-k", type=int, metavar="K")
    gen.add_argument("--top-p", type=float, metavar="P")
    gen.add_argument("--min-p", type=float, metavar="P")
    gen.add_argument("--repetition-penalty", type=float, metavar="R")
    gen.add_argument("--seed", type=int, metavar="S", help="make sampling reproducible")
    gen.add_argument("--no-prompt", action="store_true", help="print only the generated text")
    gen.add_argument(
        "--stats", action="store_true", help="print tokens/s and peak memory to stderr at the end"
    )
    gen.set_defaults(func=run_generate)

    emb = sub.add_parser(
        "embed",
        help="print each token of a text with its embedding",
        description="Tokenize TEXT with the checkpoint's tokenizer and print each token with its "
        "token embedding (the wte / embed_in row), or its last hidden state with --hidden.",
    )
    _model_args(emb)
    emb.add_argument("text")
    emb.add_argument(
        "--dims", type=int, default=8, metavar="N", help="print the first N dimensions (default 8)"
    )
    emb.add_argument("--full", action="store_true", help="print every dimension")
    emb.add_argument(
        "--hidden",
        action="store_true",
        help="print the final hidden state instead of the input embedding",
    )
    emb.set_defaults(func=run_embed)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-m",
        "--model",
        required=True,
        metavar="PATH_OR_REPO",
        help="a checkpoint directory or a Hugging Face repo id in the local hub cache",
    )
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument(
        "--quantize",
        choices=("int8", "bf16"),
        help="weight-only: int8 per channel, or bf16 weights with fp32 activations",
    )
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    p.add_argument(
        "--device", default="cpu", help="where the model runs: cpu (default), cuda or cuda:N"
    )
    p.add_argument("--revision", default="main", help="hub revision (default main)")


def _load(args: argparse.Namespace) -> Any:
    from toklm.cli import CliError

    try:
        import torch

        from toklm.models import AutoModelForCausalLM
        from toklm.models.device import DeviceError, resolve_device
    except ImportError as e:
        raise CliError(f"{e} (toklm generate/embed need: pip install 'toklm[models]')") from e
    try:
        device = resolve_device(args.device)
    except DeviceError as e:
        raise CliError(f"--device {args.device}: {e}") from e
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return AutoModelForCausalLM.from_pretrained(
            args.model,
            dtype=args.dtype,
            device=device,
            quantize=args.quantize,
            revision=args.revision,
        )
    except FileNotFoundError as e:
        # The hub resolver lists every place it looked on separate lines: make it one line.
        raise CliError(" ".join(str(e).split())) from e


def _tokenizer(model: Any) -> Any:
    from toklm.cli import CliError

    try:
        return model.tokenizer
    except (OSError, ValueError) as e:
        raise CliError(f"cannot load the tokenizer from {model.checkpoint_dir}: {e}") from e


def run_generate(args: argparse.Namespace) -> int:
    model = _load(args)
    tok = _tokenizer(model)
    ids = list(tok.encode(args.prompt))
    sampling = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "min_p": args.min_p,
    }
    do_sample = args.do_sample or any(v is not None for v in sampling.values())
    kwargs: dict[str, Any] = dict(
        max_new_tokens=args.max_new_tokens,
        repetition_penalty=args.repetition_penalty,
        do_sample=do_sample,
        seed=args.seed,
    )
    if do_sample:
        kwargs.update(sampling)
    out = sys.stdout
    if not args.no_prompt:
        out.write(args.prompt)
        out.flush()
    start = time.perf_counter()
    first = None
    stream = model.stream(ids, tokenizer=tok, **kwargs)
    for piece in stream:
        if first is None:
            first = time.perf_counter()
        out.write(piece)
        out.flush()
    end = time.perf_counter()
    out.write("\n")
    if args.stats:
        _print_stats(len(ids), len(stream.generated), model, start, first or end, end)
    return 0


def _print_stats(
    prompt_len: int, new: int, model: Any, start: float, first: float, end: float
) -> None:
    decode_s = end - first
    rate = (new - 1) / decode_s if new > 1 and decode_s > 0 else float("nan")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    try:  # VmHWM: unlike ru_maxrss, not inherited from a parent process across fork + exec
        status = open("/proc/self/status").read().split("VmHWM:")[1]
        peak_mib = int(status.split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    print(
        f"prompt {prompt_len} tokens, generated {new} tokens; first token after "
        f"{(first - start) * 1e3:.1f} ms, then {rate:.1f} tokens/s; "
        f"peak memory {peak_mib:.0f} MiB ({model.dtype}, {model.config.num_layers} layers)",
        file=sys.stderr,
    )


def run_embed(args: argparse.Namespace) -> int:
    import torch

    model = _load(args)
    tok = _tokenizer(model)
    ids = list(tok.encode(args.text))
    if not ids:
        return 0
    t = torch.tensor([ids], device=model.device)
    with torch.inference_mode():
        vectors = model(t).last_hidden_state[0] if args.hidden else model.token_embeddings(t)[0]
    dims = vectors.shape[1] if args.full else min(args.dims, vectors.shape[1])
    what = "final hidden state" if args.hidden else "token embedding"
    print(f"# {len(ids)} tokens; {what}, {dims} of {vectors.shape[1]} dims")
    for i, (tid, vec) in enumerate(zip(ids, vectors.float(), strict=True)):
        shown = ", ".join(f"{v:.4f}" for v in vec[:dims].tolist())
        more = "" if dims == vec.shape[0] else ", ..."
        print(f"{i}\t{tid}\t{tok.decode([tid])!r}\t[{shown}{more}]")
    return 0
