"""Continuous batching (`toklm.models.batching`): output equals generate(), neighbours or not."""

from __future__ import annotations

import threading

import pytest

from .conftest import gpt2_config, neox_config, save_hf, torch

PROMPTS = [[1, 2, 3], [5, 6, 7, 8, 9, 10], [11], [4, 4, 4, 4], [7, 8], [9, 9, 9, 9, 9, 9, 9, 9]]


@pytest.fixture(params=["gpt2", "neox"])
def pair(request, tmp_path):
    from toklm.models import AutoModelForCausalLM

    config = gpt2_config() if request.param == "gpt2" else neox_config()
    hf = save_hf(config, tmp_path)
    return hf, AutoModelForCausalLM.from_pretrained(tmp_path)


def test_greedy_equals_generate_with_rows_joining_and_leaving(pair):
    from toklm.models.batching import BatchEngine, SamplingParams

    hf, model = pair
    engine = BatchEngine(model, max_batch=4)  # 6 prompts: two wait, then take freed rows
    lengths = [12, 5, 9, 14, 3, 7]
    reqs = []
    for prompt, n in zip(PROMPTS, lengths, strict=True):
        params = SamplingParams(max_new_tokens=n, temperature=0, ignore_eos=True)
        reqs.append(engine.submit(engine.make_request(prompt, params, lambda r, e: None)))
    while engine.active or engine.waiting:
        engine.step()
    for req, prompt, n in zip(reqs, PROMPTS, lengths, strict=True):
        ours = model.generate([prompt], max_new_tokens=n, do_sample=False, eos_token_id=[])
        theirs = hf.generate(
            torch.tensor([prompt]),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
        assert req.generated == ours[0, len(prompt) :].tolist() == theirs[0, len(prompt) :].tolist()


def test_requests_arriving_during_a_step_join_between_blocks(pair):
    """A request submitted while a decode step runs is prefilled after the current block (its
    first token comes with this step, not the next); a row freed by the step takes the last,
    just-admitted row; every output still equals generate()."""
    from toklm.models.batching import BatchEngine, SamplingParams

    _, model = pair
    engine = BatchEngine(model, max_batch=4)

    def params(n: int) -> SamplingParams:
        return SamplingParams(max_new_tokens=n, temperature=0, ignore_eos=True)

    first = engine.submit(engine.make_request(PROMPTS[1], params(2), lambda r, e: None))
    engine.step()  # prefill (token 1) and one decode step (token 2): first is done
    assert first.generated and not engine.active
    running = engine.submit(engine.make_request(PROMPTS[0], params(6), lambda r, e: None))
    ending = engine.submit(engine.make_request(PROMPTS[4], params(3), lambda r, e: None))
    engine.step()  # both admitted (rows 0, 1) and decoded once: 2 tokens each
    late: list = []

    def arrive(module, args, output):
        if not late:  # first block of the next decode step: two requests arrive
            late.extend(
                engine.submit(engine.make_request(p, params(n), lambda r, e: None))
                for p, n in ((PROMPTS[3], 5), (PROMPTS[5], 1))
            )

    handle = model.blocks()[0].register_forward_hook(arrive)
    try:
        engine.step()
    finally:
        handle.remove()
    assert len(running.generated) == 3 and ending.finished  # this step's tokens
    assert len(late[0].generated) == 1 and late[1].generated and late[1].finished
    assert engine.active == [running, late[0]]  # late[0] (row 2) moved into ending's row 1
    while engine.active or engine.waiting:
        engine.step()
    for req in (first, running, ending, *late):
        n = req.params.max_new_tokens
        ref = model.generate([req.prompt], max_new_tokens=n, do_sample=False, eos_token_id=[])
        assert req.generated == ref[0, len(req.prompt) :].tolist()


def test_prefills_per_step_bounds_the_prompts_prefilled_in_one_step(pair):
    from toklm.models.batching import BatchEngine, SamplingParams

    _, model = pair
    with pytest.raises(ValueError, match="prefills_per_step"):
        BatchEngine(model, prefills_per_step=0)
    engine = BatchEngine(model, max_batch=8, prefills_per_step=2)
    params = SamplingParams(max_new_tokens=4, temperature=0, ignore_eos=True)
    reqs = [engine.submit(engine.make_request(p, params, lambda r, e: None)) for p in PROMPTS[:5]]
    engine.step()
    assert engine.active == reqs[:2] and list(engine.waiting) == reqs[2:]
    engine.step()
    assert engine.active == reqs[:4] and [len(r.generated) for r in reqs] == [3, 3, 2, 2, 0]
    while engine.active or engine.waiting:
        engine.step()
    assert [len(r.generated) for r in reqs] == [4] * 5


def test_run_in_the_calling_thread_until_stop(pair):
    """`run()` drives the loop in its caller (the server's main thread); `start()` is then a
    no-op, `stop()` from another thread ends it and cancels what still runs."""
    from toklm.models.batching import BatchEngine, Finish, SamplingParams

    _, model = pair
    engine = BatchEngine(model, max_batch=2)
    greedy = SamplingParams(max_new_tokens=5, temperature=0, ignore_eos=True)
    expected = engine.complete([PROMPTS[1]], greedy)[0]  # inline, before run()
    running = threading.Event()
    loop = threading.Thread(target=engine.run, kwargs={"started": running.set}, daemon=True)
    loop.start()
    assert running.wait(30)
    engine.start()  # no-op: the loop already runs
    with pytest.raises(RuntimeError, match="already runs"):
        engine.run()
    assert engine.complete([PROMPTS[1]], greedy)[0] == expected
    events: list = []

    def stop_after_first_token(req, event):
        events.append(event)
        if len(events) == 1:
            engine.stop()  # from the loop's own thread: ends it after this step

    long = SamplingParams(max_new_tokens=40, temperature=0, ignore_eos=True)
    engine.submit(engine.make_request(PROMPTS[0], long, stop_after_first_token))
    loop.join(30)
    assert not loop.is_alive() and not engine.active
    assert events[-1] == Finish("cancelled", "the server is shutting down")


def test_seeded_sampling_alone_equals_generate_and_shared(pair):
    from toklm.models.batching import BatchEngine, SamplingParams

    _, model = pair
    kw = dict(temperature=0.8, top_k=20, top_p=0.9, repetition_penalty=1.2)
    params = SamplingParams(max_new_tokens=12, seed=5, ignore_eos=True, **kw)
    engine = BatchEngine(model, max_batch=8)
    alone = engine.complete([PROMPTS[1]], params)[0]
    ref = model.generate(
        [PROMPTS[1]], max_new_tokens=12, do_sample=True, seed=5, eos_token_id=[], **kw
    )
    assert alone == ref[0, 6:].tolist()

    engine.start()
    try:
        results: dict[int, list[int]] = {}

        def run(i: int) -> None:
            p = SamplingParams(
                max_new_tokens=12 + i, seed=5 if i == 0 else i, ignore_eos=True, **kw
            )
            results[i] = engine.complete([PROMPTS[1] if i == 0 else PROMPTS[i % 6]], p)[0]

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        engine.stop()
    assert results[0] == alone


def test_stop_token_logprobs_cancel_and_queue_limit(pair):
    from toklm.models.batching import BatchEngine, Finish, QueueFull, SamplingParams

    _, model = pair
    engine = BatchEngine(model, max_batch=1, max_queue=0)
    greedy = engine.complete(
        [PROMPTS[0]], SamplingParams(max_new_tokens=8, temperature=0, ignore_eos=True)
    )[0]
    stop = greedy[3]
    events: list = []
    params = SamplingParams(
        max_new_tokens=8, temperature=0, stop_token_ids=[stop], logprobs=2, prompt_logprobs=True
    )
    req = engine.submit(engine.make_request(PROMPTS[0], params, lambda r, e: events.append(e)))
    with pytest.raises(QueueFull):
        engine.submit(engine.make_request(PROMPTS[1], params, lambda r, e: None))
    while engine.active or engine.waiting:
        engine.step()
    assert req.generated == greedy[: greedy.index(stop) + 1]
    assert events[-1] == Finish("stop")
    first = events[0]
    assert first.top_logprobs[0][0] == first.token and first.logprob == first.top_logprobs[0][1]
    assert req.prompt_logprobs[0] is None and len(req.prompt_logprobs) == len(PROMPTS[0])
    ll = model.log_likelihood(PROMPTS[0])
    assert sum(req.prompt_logprobs[1:]) == pytest.approx(ll.log_likelihood, abs=1e-4)

    seen: list = []
    req = engine.submit(
        engine.make_request(
            PROMPTS[2],
            SamplingParams(max_new_tokens=20, temperature=0),
            lambda r, e: seen.append(e),
        )
    )
    engine.step()
    req.cancel()
    engine.step()
    assert seen[-1] == Finish("cancelled") and not engine.active

    with pytest.raises(ValueError, match="context"):
        engine.make_request(PROMPTS[0], SamplingParams(max_new_tokens=100), lambda r, e: None)
