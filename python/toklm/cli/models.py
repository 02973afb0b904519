"""`toklm generate` and `toklm embed`: run a GPT-2 / Pythia checkpoint with toklm's engine."""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `sub`."""
    gen = sub.add_parser(
        "generate",
        help="generate text from a prompt, streamed to stdout",
        description="Generate text with a GPT-2 or GPT-NeoX/Pythia checkpoint (transformers' "
        "semantics). Sampling is on when any of --temperature/--top-k/--top-p/--min-p is given; "
        "--temperature 0 means greedy decoding.",
    )
    _model_args(gen)
    gen.add_argument("prompt", type=_nonempty_text, help="the prompt text")
    gen.add_argument(
        "--max-new-tokens", type=_positive_int, default=50, metavar="N", help="(default 50)"
    )
    gen.add_argument("--do-sample", action="store_true", help="sample (default: greedy)")
    gen.add_argument(
        "--temperature",
        type=_temperature,
        metavar="T",
        help="sampling temperature > 0; 0 means greedy decoding (as in the OpenAI API)",
    )
    gen.add_argument("--top-k", type=_positive_int, metavar="K", help="keep the K likeliest")
    gen.add_argument(
        "--top-p", type=_probability, metavar="P", help="nucleus: keep mass P (0 < P <= 1)"
    )
    gen.add_argument(
        "--min-p", type=_probability, metavar="P", help="keep tokens >= P x the top (0 < P <= 1)"
    )
    gen.add_argument(
        "--repetition-penalty", type=_positive_float, metavar="R", help="> 1 discourages repeats"
    )
    gen.add_argument(
        "--seed", type=_nonnegative_int, metavar="S", help="make sampling reproducible"
    )
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
    emb.add_argument("text", type=_nonempty_text)
    emb.add_argument(
        "--dims",
        type=_positive_int,
        default=8,
        metavar="N",
        help="print the first N dimensions (default 8)",
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
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        help="default: float32 on cpu, bfloat16 on cuda (float32 with --quantize)",
    )
    p.add_argument(
        "--quantize",
        choices=("int8", "bf16"),
        help="weight-only: int8 per channel, or bf16 weights with fp32 activations",
    )
    p.add_argument("--threads", type=_positive_int, metavar="N", help="torch CPU threads")
    p.add_argument(
        "--device", default="cpu", help="where the model runs: cpu (default), cuda or cuda:N"
    )
    p.add_argument("--revision", default="main", help="hub revision (default main)")


def _number(text: str, kind: type, ok: Callable[[Any], bool], wanted: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return int(_number(text, int, lambda v: v > 0, "a whole number >= 1"))


def _nonnegative_int(text: str) -> int:
    return int(_number(text, int, lambda v: v >= 0, "a whole number >= 0"))


def _positive_float(text: str) -> float:
    return float(_number(text, float, lambda v: 0 < v < math.inf, "a number > 0"))


def _temperature(text: str) -> float:
    return float(_number(text, float, lambda v: 0 <= v < math.inf, "a number >= 0 (0: greedy)"))


def _probability(text: str) -> float:
    return float(_number(text, float, lambda v: 0 < v <= 1, "a number in (0, 1]"))


def _nonempty_text(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("empty text: there is nothing to tokenize")
    return text


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or spec in (".", "..") or spec.endswith("/")


def _load(args: argparse.Namespace) -> Any:
    from toklm.cli import CliError, require_extra

    torch = require_extra("torch", "models")
    from toklm.models import AutoModelForCausalLM
    from toklm.models.device import DeviceError, resolve_device

    if _looks_like_path(args.model) and not os.path.isdir(os.path.expanduser(args.model)):
        what = (
            "not a directory"
            if os.path.exists(os.path.expanduser(args.model))
            else "no such directory"
        )
        raise CliError(f"{args.model}: {what} (-m takes a checkpoint directory or a hub repo id)")
    if args.quantize == "bf16" and args.dtype not in (None, "float32"):
        raise CliError("--quantize bf16 keeps activations in float32: leave --dtype float32")
    try:
        device = resolve_device(args.device)
    except DeviceError as e:
        raise CliError(f"--device {args.device}: {e}") from e
    natural = "bfloat16" if device.type == "cuda" and not args.quantize else "float32"
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return AutoModelForCausalLM.from_pretrained(
            args.model,
            dtype=args.dtype or natural,
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


_FLAG_NAMES = {
    name: "--" + name.replace("_", "-")
    for name in ("max_new_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty")
}


def _in_flag_names(message: str) -> str:
    """A generate() error in the CLI's terms: max_new_tokens -> --max-new-tokens.

    >>> _in_flag_names("max_length 70 exceeds the context; lower max_new_tokens")
    'max_length 70 exceeds the context; lower --max-new-tokens'
    """
    for name, flag in _FLAG_NAMES.items():
        message = message.replace(name, flag)
    return message


def run_generate(args: argparse.Namespace) -> int:
    from toklm.cli import CliError

    model = _load(args)
    tok = _tokenizer(model)
    ids = list(tok.encode(args.prompt))
    greedy = args.temperature == 0  # what "temperature 0" means in the OpenAI API
    sampling = {
        "temperature": None if greedy else args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "min_p": args.min_p,
    }
    do_sample = not greedy and (args.do_sample or any(v is not None for v in sampling.values()))
    kwargs: dict[str, Any] = dict(
        max_new_tokens=args.max_new_tokens,
        repetition_penalty=args.repetition_penalty,
        do_sample=do_sample,
        seed=args.seed,
    )
    if do_sample:
        kwargs.update(sampling)
    try:  # every setting is checked here, before anything is printed
        stream = model.stream(ids, tokenizer=tok, **kwargs)
    except ValueError as e:
        raise CliError(_in_flag_names(str(e))) from None
    out = sys.stdout
    if not args.no_prompt:
        out.write(args.prompt)
        out.flush()
    start = time.perf_counter()
    first = None
    for piece in stream:
        if first is None:
            first = time.perf_counter()
        out.write(piece)
        out.flush()
    end = time.perf_counter()
    out.write("\n")
    if args.stats:
        storage = _STORAGE.get(args.quantize or "", str(model.dtype).removeprefix("torch."))
        _print_stats(len(ids), len(stream.generated), model, storage, start, first or end, end)
    return 0


# What --stats says a quantized model holds: the weights' storage, not the activations' dtype.
_STORAGE = {
    "int8": "int8 weights with per-channel scales, float32 activations",
    "bf16": "bf16 weights, float32 activations",
}


def _print_stats(
    prompt_len: int, new: int, model: Any, storage: str, start: float, first: float, end: float
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
        f"peak memory {peak_mib:.0f} MiB ({storage}, {model.config.num_layers} layers)",
        file=sys.stderr,
    )


def run_embed(args: argparse.Namespace) -> int:
    from toklm.cli import CliError

    model = _load(args)
    import torch

    tok = _tokenizer(model)
    ids = list(tok.encode(args.text))
    if not ids:
        raise CliError(f"{args.text!r} has no tokens under this tokenizer: nothing to embed")
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
