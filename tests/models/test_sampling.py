"""toklm.models.sampling: each logits processor, and the chain generate() builds
(`generation.build_processors`), bit for bit against transformers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.models import generation
from toklm.models.generation import Settings, build_processors
from toklm.models.sampling import min_p, repetition_penalty, temperature, top_k, top_p

from .conftest import torch, transformers

lp = transformers.generation.logits_process

CASE = st.tuples(
    st.integers(1, 4),  # batch
    st.integers(2, 60),  # vocab
    st.integers(1, 12),  # sequence length
    st.integers(0, 2**31 - 1),  # seed
    st.booleans(),  # coarse values: many exact ties
)


def logits_and_ids(case):
    B, V, T, seed, coarse = case
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(B, V, generator=g) * 3
    if coarse:
        scores = scores.round()
    ids = torch.randint(0, V, (B, T), generator=g)
    return ids, scores


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and torch.equal(a, b)


@settings(max_examples=60, deadline=None)
@given(CASE, st.floats(0.05, 4.0), st.booleans())
def test_repetition_penalty(case, penalty, ignore_padding):
    ids, scores = logits_and_ids(case)
    ignore = torch.randint(0, ids.shape[1], (ids.shape[0],)) if ignore_padding else None
    ref = lp.RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=ignore)(ids, scores)
    assert same(repetition_penalty(ids, scores.clone(), penalty, ignore), ref)


@settings(max_examples=40, deadline=None)
@given(CASE, st.floats(0.05, 5.0))
def test_temperature(case, t):
    ids, scores = logits_and_ids(case)
    assert same(temperature(scores, t), lp.TemperatureLogitsWarper(t)(ids, scores))


@settings(max_examples=60, deadline=None)
@given(CASE, st.integers(1, 80))
def test_top_k(case, k):
    ids, scores = logits_and_ids(case)
    assert same(top_k(scores, k), lp.TopKLogitsWarper(k)(ids, scores))


@settings(max_examples=60, deadline=None)
@given(CASE, st.floats(0.0, 1.0))
def test_top_p(case, p):
    ids, scores = logits_and_ids(case)
    assert same(top_p(scores, p), lp.TopPLogitsWarper(p)(ids, scores))


@settings(max_examples=60, deadline=None)
@given(CASE, st.floats(0.0, 1.0))
def test_min_p(case, p):
    ids, scores = logits_and_ids(case)
    assert same(min_p(scores, p), lp.MinPLogitsWarper(p)(ids, scores))


CHAINS = [
    dict(do_sample=False, repetition_penalty=1.3),
    dict(do_sample=True),
    dict(do_sample=True, temperature=0.5, top_k=50, repetition_penalty=1.5),
    dict(do_sample=True, temperature=1.7, top_k=0, top_p=0.7, min_p=0.02),
    dict(do_sample=True, temperature=0.9, top_k=5, top_p=0.9, min_p=0.1, repetition_penalty=0.8),
]


@pytest.mark.parametrize("kw", CHAINS)
def test_chain_matches_transformers_get_logits_processor(kw):
    config = transformers.GPT2Config(vocab_size=40, n_embd=8, n_layer=1, n_head=2)
    hf = transformers.GPT2LMHeadModel(config)
    gen = transformers.GenerationConfig(**{**dict(top_k=50, temperature=1.0, top_p=1.0), **kw})
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    chain = hf._get_logits_processor(
        gen, input_ids_seq_length=6, device="cpu", model_kwargs={"attention_mask": mask}
    )
    ours = build_processors(
        Settings(
            max_length=20,
            do_sample=kw.get("do_sample", False),
            temperature=kw.get("temperature", 1.0),
            top_k=kw.get("top_k", 50) or None,
            top_p=kw.get("top_p", 1.0),
            min_p=kw.get("min_p"),
            repetition_penalty=kw.get("repetition_penalty", 1.0),
            num_return_sequences=1,
            eos=[],
            pad=None,
        ),
        ignore_lengths=(mask != 0).int().argmax(dim=1),
    )
    assert len(ours) == len(chain)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        ids = torch.randint(0, 40, (2, 6), generator=g)
        scores = (torch.randn(2, 40, generator=g) * 2).round(decimals=1)
        expected = chain(ids, scores.clone())
        got = scores.clone()
        for proc in ours:
            got = proc(ids, got)
        assert same(got, expected)


def test_old_import_path_is_the_same_functions():
    assert (generation.top_k, generation.top_p, generation.min_p) == (top_k, top_p, min_p)
    assert (generation.temperature, generation.repetition_penalty) == (
        temperature,
        repetition_penalty,
    )
