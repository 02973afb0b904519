"""The captured-decode machinery on the CPU: shape buckets, the sync-free sampler, device choice,
and the runner's static-buffer step run eagerly (capture=False) against generate()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.cli import main
from toklm.models import AutoModelForCausalLM, DeviceError
from toklm.models import cuda_graphs as cg
from toklm.models.device import resolve_device
from toklm.models.generation import generate_static

from .conftest import VOCAB, gpt2_config, neox_config, save_hf, torch

# ---- buckets -------------------------------------------------------------------------------------


@given(st.integers(1, 5000))
def test_batch_bucket_is_the_smallest_power_of_two_that_fits(b):
    bucket = cg.batch_bucket(b)
    assert bucket >= b and bucket & (bucket - 1) == 0
    assert bucket == 1 or bucket // 2 < b


@given(st.integers(1, 4096), st.integers(1, 4096), st.integers(1, 512))
def test_capacity_and_window_buckets_fit_and_are_capped(n, context, block):
    if n > context:
        with pytest.raises(ValueError, match="max_length"):
            cg.capacity_bucket(n, context, block)
        return
    cap = cg.capacity_bucket(n, context, block)
    assert n <= cap <= context
    assert cap == context or (cap % block == 0 and cap - n < block)
    w = cg.window_bucket(n, cap, block)
    assert n <= w <= cap
    assert w == cap or (w % block == 0 and w - n < block)


def test_buckets_reject_nonsense():
    with pytest.raises(ValueError, match="batch"):
        cg.batch_bucket(0)
    with pytest.raises(ValueError, match="used"):
        cg.window_bucket(0, 64)
    with pytest.raises(ValueError, match="used"):
        cg.window_bucket(65, 64)


# ---- the sampler ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 6), st.integers(2, 300), st.sampled_from([0, 1, 2]))
def test_sample_no_sync_draws_exactly_what_multinomial_draws(seed, B, V, masking):
    logits = torch.randn(B, V, generator=torch.Generator().manual_seed(seed)) * 4
    if masking == 1:  # top-k style: most entries -inf, probability exactly 0
        logits[:, : V // 2] = -float("inf")
    elif masking == 2:  # one certain token per row
        logits[:] = -float("inf")
        logits[torch.arange(B), torch.arange(B) % V] = 0.0
    probs = torch.softmax(logits, dim=-1)
    ref_gen, gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    for _ in range(3):  # successive draws stay in step: the same amount of randomness is used
        ref = torch.multinomial(probs, 1, generator=ref_gen)[:, 0]
        assert torch.equal(cg.sample_no_sync(probs, gen), ref)


def test_sample_no_sync_at_gpt2_vocab_after_processors():
    from toklm.models.generation import repetition_penalty, temperature, top_k, top_p

    g = torch.Generator().manual_seed(5)
    scores = torch.randn(8, 50257, generator=g) * 3
    ids = torch.randint(0, 50257, (8, 20), generator=g)
    scores = top_p(top_k(temperature(repetition_penalty(ids, scores, 1.3), 0.7), 50), 0.9)
    probs = torch.softmax(scores, dim=-1)
    for seed in range(20):
        ref = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed))[:, 0]
        got = cg.sample_no_sync(probs, torch.Generator().manual_seed(seed))
        assert torch.equal(got, ref), seed


def test_sample_no_sync_uses_the_global_rng_like_multinomial():
    probs = torch.softmax(torch.randn(3, 40, generator=torch.Generator().manual_seed(1)), -1)
    torch.manual_seed(11)
    ref = torch.multinomial(probs, 1)[:, 0]
    torch.manual_seed(11)
    assert torch.equal(cg.sample_no_sync(probs), ref)


# ---- device choice -------------------------------------------------------------------------------


def test_resolve_device_accepts_the_cpu_in_every_spelling():
    for d in ("cpu", " CPU ", torch.device("cpu"), None):
        assert resolve_device(d) == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu0", "not a device name"),
        ("mps", "not supported"),
        (3, "must be a string or torch.device"),
    ],
)
def test_resolve_device_rejects_bad_devices(device, message):
    with pytest.raises(DeviceError, match=message):
        resolve_device(device)


needs_no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the error given when CUDA is missing"
)


@needs_no_cuda
def test_cuda_without_a_gpu_is_refused_before_any_reading(tmp_path):
    with pytest.raises(DeviceError, match=r"device 'cuda' was requested but .*CUDA"):
        resolve_device("cuda")
    # The checkpoint directory does not even exist: the device is checked first.
    with pytest.raises(DeviceError, match="cuda:1"):
        AutoModelForCausalLM.from_pretrained(tmp_path / "missing", device="cuda:1")


def test_from_pretrained_places_everything_on_the_device(tmp_path):
    save_hf(neox_config(), tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, device=torch.device("cpu"))
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.rope_cos is not None and model.rope_cos.device.type == "cpu"


def test_cli_device_cpu_runs_and_embed_follows_the_device(cli_model_dir, capsys):
    args = ["generate", "-m", str(cli_model_dir), "Hello", "--max-new-tokens", "5"]
    assert main([*args, "--device", "cpu"]) == 0
    with_device = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == with_device
    assert main([*args, "--device", "cpu", "--stats"]) == 0
    assert "float32" in capsys.readouterr().err  # the CPU's natural dtype
    assert main(["embed", "-m", str(cli_model_dir), "Hello", "--device", "cpu"]) == 0
    assert "token embedding" in capsys.readouterr().out


@needs_no_cuda
@pytest.mark.parametrize(
    ("command", "device"),
    [
        ("generate", "cuda"),
        ("generate", "cuda:0"),
        ("generate", "tpu"),
        ("embed", "cuda"),
        ("serve", "cuda"),
    ],
)
def test_cli_unavailable_device_is_one_line_without_output(cli_model_dir, capsys, command, device):
    text = [] if command == "serve" else ["Hello"]
    status = main([command, "-m", str(cli_model_dir), *text, "--device", device])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""  # refused before the prompt is echoed
    assert err.count("\n") == 1 and err.startswith(f"toklm: error: --device {device}: ")
    assert "Traceback" not in err


# ---- the runner, its static-buffer step run eagerly ----------------------------------------------


@pytest.fixture(params=["gpt2", "neox"])
def model(request, tmp_path):
    config = gpt2_config() if request.param == "gpt2" else neox_config()
    save_hf(config, tmp_path, seed=7)
    return AutoModelForCausalLM.from_pretrained(tmp_path)


def run_static(model, ids, *, window_block=8, scores=False, **kw):
    """generate() through the runner with capture off (what the CUDA path runs, eagerly)."""
    return generate_static(
        model,
        ids,
        capture=False,
        window_block=window_block,
        output_scores=scores,
        output_logits=scores,
        return_dict_in_generate=scores,
        **kw,
    )


RAGGED = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]  # 3 rows: bucket 4, left padding


@pytest.mark.parametrize("prompt", [[[3]], [[4, 5, 6, 7, 8, 9, 10, 11, 12]], RAGGED])
def test_static_greedy_equals_generate(model, prompt):
    ref = model.generate(prompt, max_new_tokens=30, eos_token_id=[])
    assert torch.equal(run_static(model, prompt, max_new_tokens=30, eos_token_id=[]), ref)


def test_static_sampling_equals_generate_draw_for_draw(model):
    kw = dict(
        max_new_tokens=25,
        do_sample=True,
        temperature=0.8,
        top_k=20,
        top_p=0.9,
        min_p=0.02,
        repetition_penalty=1.3,
        num_return_sequences=2,
        eos_token_id=[],
    )
    for seed in (0, 1, 2):
        ref = model.generate(RAGGED, seed=seed, **kw)
        assert torch.equal(run_static(model, RAGGED, seed=seed, **kw), ref), seed


@pytest.mark.parametrize("sync_every", [1, 3, 16, 1000])
def test_static_eos_stops_where_generate_stops(model, sync_every):
    ids = torch.randint(1, VOCAB - 1, (2, 6), generator=torch.Generator().manual_seed(2))
    free = model.generate(ids, max_new_tokens=20, eos_token_id=[])
    # eos ids met by one row, then both rows (the output is cut where generate() stops),
    # then by the first generated token, and not at all.
    for eos in ([int(free[0, 9])], [int(free[0, 9]), int(free[1, 12])], [int(free[0, 6])], []):
        kw = dict(max_new_tokens=20, eos_token_id=eos, pad_token_id=VOCAB - 2)
        ref = model.generate(ids, **kw)
        got = run_static(model, ids, sync_every=sync_every, **kw)
        assert torch.equal(got, ref), (eos, sync_every)


def test_static_scores_and_logits_match_generate(model):
    ids = torch.tensor([[3, 4, 5]])
    free = model.generate(ids, max_new_tokens=12, eos_token_id=[])
    kw = dict(max_new_tokens=12, eos_token_id=[int(free[0, 8])], repetition_penalty=1.2)
    ref = model.generate(
        ids, output_scores=True, output_logits=True, return_dict_in_generate=True, **kw
    )
    got = run_static(model, ids, sync_every=4, scores=True, **kw)
    assert torch.equal(got.sequences, ref.sequences)
    assert len(got.scores) == len(ref.scores) == len(got.logits) == ref.sequences.shape[1] - 3
    for a, b in zip(got.logits + got.scores, ref.logits + ref.scores, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-5)


def test_runners_are_reused_across_calls_and_reset_between_them(model):
    # A padded call, then unpadded ones with other lengths: the same runner (bucket 4, capacity
    # 48) serves all of them, and stale padding from the first call must not leak.
    first = run_static(model, RAGGED, max_new_tokens=20, eos_token_id=[])
    runners = model.__dict__["_decode_runners"]
    assert len(runners) == 1
    runner = next(iter(runners.values()))
    assert (runner.batch, runner.capacity) == (4, 48)
    for prompt in ([[20, 21, 22, 23]] * 4, [[30]] * 3, RAGGED):
        ref = model.generate(prompt, max_new_tokens=20, eos_token_id=[])
        assert torch.equal(run_static(model, prompt, max_new_tokens=20, eos_token_id=[]), ref)
    assert next(iter(runners.values())) is runner
    assert torch.equal(first, model.generate(RAGGED, max_new_tokens=20, eos_token_id=[]))
    cg.release_decode_runners(model)
    assert "_decode_runners" not in model.__dict__


def test_interleaved_decodes_do_not_share_a_runner(model):
    # Two decodes read in turn (two streams, say): the second must not reuse the busy runner.
    from toklm.models.generation import _Run

    prompts = ([[3, 4, 5]], [[6, 7]])
    kw = dict(max_new_tokens=15, eos_token_id=[])
    runs = [_Run(model, p, None, None, False, False, dict(kw)) for p in prompts]
    steps = [cg.graph_steps(r, capture=False) for r in runs]
    for _ in range(15):
        for s in steps:
            next(s)
    for s in steps:
        assert next(s, None) is None  # max_new_tokens reached: the decodes end
    for run, prompt in zip(runs, prompts, strict=True):
        assert torch.equal(run.output(False), model.generate(prompt, **kw))
    assert len(model.__dict__["_decode_runners"]) == 1  # the second one was not kept
    assert not next(iter(model.__dict__["_decode_runners"].values())).busy


def test_runner_cache_keeps_the_most_recent(model):
    for batch in (1, 2, 4):
        run_static(model, [[3, 4]] * batch, max_new_tokens=3, eos_token_id=[])
    keys = list(model.__dict__["_decode_runners"])
    assert len(keys) == cg.MAX_RUNNERS and [k[0] for k in keys] == [2, 4]


def test_runner_refuses_capture_off_cuda_and_overflow(model):
    with pytest.raises(ValueError, match="CUDA device"):
        cg.DecodeRunner(model, 1, 48, capture=True)
    runner = cg.DecodeRunner(model, 1, 8, capture=False)
    prompt = model.new_cache(1, 4)
    model.run(
        torch.tensor([[1, 2, 3, 4]]),
        torch.arange(4)[None],
        cg.make_step(prompt, 4, None, model.device),
    )
    runner.start(prompt, torch.tensor([[4]]))
    for t in range(4):
        runner.step(torch.tensor([t]))
    with pytest.raises(ValueError, match="full"):
        runner.step(torch.tensor([0]))
    with pytest.raises(ValueError, match="does not fit"):
        cg.DecodeRunner(model, 1, 4, capture=False).start(prompt, torch.tensor([[4]]))


def test_the_cpu_path_makes_no_runner(model):
    model.generate([[3, 4]], max_new_tokens=3, use_cuda_graphs=True)
    assert "_decode_runners" not in model.__dict__


def test_upcast_attention_over_a_bf16_cache(tmp_path):
    # reorder_and_upcast_attn: fp32 attention, bf16 keys/values in the cache (both loops).
    save_hf(gpt2_config(reorder_and_upcast_attn=True), tmp_path, seed=7)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, dtype="bf16")
    ref = model.generate([[1, 2, 3]], max_new_tokens=10, eos_token_id=[])
    assert ref.shape == (1, 13)
    assert torch.equal(run_static(model, [[1, 2, 3]], max_new_tokens=10, eos_token_id=[]), ref)
