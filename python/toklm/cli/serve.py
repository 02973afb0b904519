"""`toklm serve`: the OpenAI-compatible server (python/toklm/serve/)."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` to `sub`."""
    from toklm.cli.models import _model_args

    p = sub.add_parser(
        "serve",
        help="serve a checkpoint over an OpenAI-compatible HTTP API",
        description="Serve a GPT-2 or GPT-NeoX/Pythia checkpoint over the OpenAI API "
        "(/v1/completions, /v1/chat/completions, /v1/embeddings, /v1/models), plus /tokenize, "
        "/tokenize/count, /detokenize, /health and /metrics. Concurrent requests share the model "
        "through continuous batching.",
    )
    _model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key",
        default=os.environ.get("TOKLM_API_KEY"),
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' on /v1 and /tokenize (default $TOKLM_API_KEY)",
    )
    p.add_argument("--max-batch", type=int, default=16, metavar="N", help="rows decoded together")
    p.add_argument(
        "--max-queue", type=int, default=64, metavar="N", help="waiting requests before 429"
    )
    p.add_argument(
        "--prefills-per-step",
        type=int,
        default=2,
        metavar="N",
        help="prompts prefilled per decode step at most (default 2): more gives a burst of "
        "requests its first tokens sooner, at the cost of the running requests' next token",
    )
    p.add_argument("--max-tokens", type=int, metavar="N", help="cap on a request's max_tokens")
    p.add_argument(
        "--max-model-len",
        type=int,
        metavar="N",
        help="positions per sequence, prompt plus output (default: the model's context); the "
        "KV cache holds --max-batch rows of it",
    )
    p.add_argument("--chat-template", metavar="FILE", help="a Jinja chat template file")
    p.add_argument(
        "--served-model-name", metavar="NAME", help="the model name clients use (default -m)"
    )
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from toklm.cli import CliError, require_extra
    from toklm.cli.models import _load, _tokenizer

    for module in ("fastapi", "uvicorn", "jinja2"):
        require_extra(module, "web")
    for flag, value, low in (
        ("--max-batch", args.max_batch, 1),
        ("--max-queue", args.max_queue, 0),
        ("--prefills-per-step", args.prefills_per_step, 1),
        ("--max-tokens", args.max_tokens, 1),
        ("--max-model-len", args.max_model_len, 2),
        ("--port", args.port, 0),
    ):
        if value is not None and value < low:
            raise CliError(f"{flag} must be at least {low}, got {value}")
    from toklm.serve import ModelService, ServeConfig, run_server
    from toklm.serve.chat import ChatTemplateError

    model = _load(args)
    tokenizer = _tokenizer(model)
    config = ServeConfig(
        model_name=args.served_model_name or args.model,
        api_key=args.api_key,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        prefills_per_step=args.prefills_per_step,
        max_tokens=args.max_tokens,
        chat_template=args.chat_template,
        max_model_len=args.max_model_len,
    )
    try:
        svc = ModelService(model, config, tokenizer)
    except ChatTemplateError as e:
        raise CliError(str(e)) from e
    except ValueError as e:
        raise CliError(f"--max-model-len: {e}") from e
    cache = svc.engine.cache
    cache_mib = (cache.k.numel() + cache.v.numel()) * cache.k.element_size() / 2**20
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.api_key:
        print(f"toklm: warning: listening on {args.host} without --api-key", file=sys.stderr)
    print(
        f"toklm: serving {config.model_name!r} on http://{args.host}:{args.port}/v1 "
        f"(batch {args.max_batch}, queue {args.max_queue}, {svc.context} positions per "
        f"sequence, KV cache {cache_mib:.0f} MiB)",
        file=sys.stderr,
    )
    try:
        run_server(svc, args.host, args.port)
    except RuntimeError as e:  # uvicorn has logged the cause (e.g. the port is in use)
        raise CliError(str(e)) from e
    return 0
