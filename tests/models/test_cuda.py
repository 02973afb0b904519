"""toklm on a CUDA GPU: weights loaded onto the device, captured decode against transformers and
against the eager loop, no host sync between tokens, bf16 within transformers' own error.

Every test needs a CUDA GPU and skips without one, with the reason, also under CI=true (the
machines that run the suite usually have none; `benchmarks/bench_gpu.py` is the prepared GPU run).
"""

from __future__ import annotations

import copy

import pytest
from toklm.cli import main
from toklm.models import AutoModelForCausalLM
from toklm.models import cuda_graphs as cg
from toklm.models.generation import _Run, generate_static

from .conftest import VOCAB, gpt2_config, neox_config, save_hf, torch, transformers

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA GPU (torch.cuda.is_available() is False)",
)


@pytest.fixture(autouse=True)
def _pinned_transformers() -> None:
    """Replaces conftest's exact version pin: these tests compare logits and greedy tokens, which
    every transformers 5.x gives alike, and a GPU machine's image brings its own 5.x."""
    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip(f"needs transformers 5.x, found {transformers.__version__}")


@pytest.fixture(autouse=True)
def _no_tf32():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # fp32 parity needs full fp32 products
    yield
    torch.set_float32_matmul_precision(before)


@pytest.fixture(params=["gpt2", "neox"])
def pair(request, tmp_path):
    config = gpt2_config() if request.param == "gpt2" else neox_config()
    hf = save_hf(config, tmp_path, seed=7).to("cuda")
    return hf, AutoModelForCausalLM.from_pretrained(tmp_path, device="cuda")


def runners(model):
    return list(model.__dict__.get("_decode_runners", {}).values())


def hf_greedy(hf, ids, **kw):
    with torch.no_grad():
        return hf.generate(ids, do_sample=False, eos_token_id=None, **kw)


def test_weights_load_straight_onto_the_gpu(pair, tmp_path):
    hf, ours = pair
    assert {t.device.type for t in ours.parameters()} == {"cuda"}
    for spelling in ("cuda:0", torch.device("cuda")):
        again = AutoModelForCausalLM.from_pretrained(tmp_path, device=spelling)
        assert again.device.type == "cuda"
    ids = torch.randint(0, VOCAB, (2, 11), device="cuda")
    with torch.no_grad():
        ref = hf(ids).logits
    torch.testing.assert_close(ours(ids).logits, ref, rtol=0, atol=1e-5)


def test_captured_greedy_equals_transformers(pair):
    hf, ours = pair
    gen = torch.Generator().manual_seed(0)
    for T in (1, 5, 13):
        ids = torch.randint(1, VOCAB - 1, (1, T), generator=gen).cuda()
        ref = hf_greedy(hf, ids, max_new_tokens=48 - T)
        assert torch.equal(ours.generate(ids, max_new_tokens=48 - T, eos_token_id=[]), ref), T
    assert any(r.graphs for r in runners(ours)), "the decode steps were not captured"
    rows = torch.randint(1, VOCAB - 1, (3, 7), generator=gen).cuda()  # batch 3: bucket 4
    assert torch.equal(
        ours.generate(rows, max_new_tokens=30, eos_token_id=[]),
        hf_greedy(hf, rows, max_new_tokens=30),
    )


SETTINGS = [
    dict(max_new_tokens=30, eos_token_id=[]),
    dict(
        max_new_tokens=30,
        do_sample=True,
        temperature=0.8,
        top_k=20,
        top_p=0.9,
        repetition_penalty=1.3,
        num_return_sequences=2,
        seed=4,
        eos_token_id=[],
    ),
]


@pytest.mark.parametrize("kw", SETTINGS, ids=["greedy", "sampling"])
def test_captured_equals_eager_on_the_gpu(pair, kw):
    _, ours = pair
    ragged = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    eager = ours.generate(ragged, use_cuda_graphs=False, **kw)
    assert torch.equal(ours.generate(ragged, **kw), eager)


def test_eos_cut_matches_eager(pair):
    _, ours = pair
    ids = torch.randint(1, VOCAB - 1, (2, 6), generator=torch.Generator().manual_seed(2)).cuda()
    free = ours.generate(ids, max_new_tokens=40, eos_token_id=[], use_cuda_graphs=False)
    for eos in ([int(free[0, 9])], [int(free[0, 9]), int(free[1, 30])]):
        kw = dict(max_new_tokens=40, eos_token_id=eos, pad_token_id=VOCAB - 2)
        eager = ours.generate(ids, use_cuda_graphs=False, **kw)
        assert torch.equal(ours.generate(ids, **kw), eager), eos


def test_windows_buckets_and_replays(pair):
    _, ours = pair
    ragged = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    ref = ours.generate(ragged, max_new_tokens=40, eos_token_id=[], use_cuda_graphs=False)

    def captured():
        return generate_static(ours, ragged, window_block=8, max_new_tokens=40, eos_token_id=[])

    assert torch.equal(captured(), ref)
    (runner,) = [r for r in runners(ours) if r.window_block == 8]
    assert runner.batch == 4 and sorted(runner.graphs) == [8, 16, 24, 32, 40, 48]
    graphs = dict(runner.graphs)
    assert torch.equal(captured(), ref)  # second call: the same graphs replayed
    assert runner.graphs == graphs


def test_no_host_sync_between_tokens(pair):
    _, ours = pair
    kw = dict(max_new_tokens=40, eos_token_id=[])
    ours.generate([[3, 4, 5]], **kw)  # captures the graphs (capturing synchronises)
    run = _Run(ours, [[3, 4, 5]], None, 0, False, False, dict(kw, do_sample=True, top_k=10))
    steps = cg.graph_steps(run)
    next(steps)  # the prefill
    torch.cuda.set_sync_debug_mode("error")
    try:
        count = 1 + sum(1 for _ in steps)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert count == 40


class Digits:
    """A tokenizer stand-in for streaming: token t decodes to "<t>"."""

    def decode(self, ids, **kw):
        return "".join(f"<{t}>" for t in ids)


def test_stream_on_the_gpu_equals_generate(pair):
    _, ours = pair
    ids = [3, 4, 5]
    ref = ours.generate([ids], max_new_tokens=25)
    stream = ours.stream(ids, tokenizer=Digits(), max_new_tokens=25)
    text = "".join(stream)
    assert stream.generated == ref[0, 3:].tolist()[: len(stream.generated)]
    assert text == Digits().decode(stream.generated)


def test_two_streams_read_in_turn(pair):
    _, ours = pair
    kw = dict(tokenizer=Digits(), max_new_tokens=20, eos_token_id=[])
    a, b = ours.stream([3, 4, 5], **kw), ours.stream([6, 7], **kw)
    for _ in zip(a, b, strict=True):  # one piece per token for each: in step to the end
        pass
    for stream, prompt in ((a, [3, 4, 5]), (b, [6, 7])):
        ref = ours.generate([prompt], max_new_tokens=20, eos_token_id=[])
        assert stream.generated == ref[0, len(prompt) :].tolist()


def test_bf16_logits_within_transformers_own_bf16_error(pair, tmp_path):
    hf, _ = pair
    ours = AutoModelForCausalLM.from_pretrained(tmp_path, device="cuda", dtype="bf16")
    hf16 = copy.deepcopy(hf).to(torch.bfloat16)
    ids = torch.randint(1, VOCAB - 1, (2, 20), generator=torch.Generator().manual_seed(3)).cuda()
    with torch.no_grad():
        ref = hf(ids).logits
        hf_err = (hf16(ids).logits.float() - ref).abs().max().item()
    our_err = (ours(ids).logits.float() - ref).abs().max().item()
    assert our_err <= max(2 * hf_err, 1e-2), (our_err, hf_err)
    # Decode logits of the captured path, step by step while the sequences agree.
    out32 = hf.generate(ids, max_new_tokens=10, do_sample=False, eos_token_id=None,
                        output_logits=True, return_dict_in_generate=True)  # fmt: skip
    got = ours.generate(ids, max_new_tokens=10, eos_token_id=[], output_logits=True,
                        return_dict_in_generate=True)  # fmt: skip
    for i, (a, b) in enumerate(zip(got.logits, out32.logits, strict=True)):
        if not torch.equal(got.sequences[:, : 20 + i], out32.sequences[:, : 20 + i]):
            break
        assert (a - b.float()).abs().max().item() <= max(4 * hf_err, 2e-2), i


def test_cli_generate_on_cuda(cli_model_dir, capsys):
    args = ["generate", "-m", str(cli_model_dir), "Hello", "--max-new-tokens", "8", "--stats"]
    assert main([*args, "--device", "cpu"]) == 0
    on_cpu, err = capsys.readouterr()
    assert "float32" in err
    assert main([*args, "--device", "cuda", "--dtype", "float32"]) == 0
    assert capsys.readouterr().out == on_cpu
    assert main([*args, "--device", "cuda"]) == 0  # bf16 unless told otherwise
    assert "bfloat16" in capsys.readouterr().err
