"""generate() against transformers: greedy, sampling with a seed, lengths, eos, padding, scores."""

from __future__ import annotations

import math

import pytest
from toklm.models import AutoModelForCausalLM

from .conftest import VOCAB, gpt2_config, neox_config, save_hf, torch


def hf_generate(hf, ids, seed=None, **kw):
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        return hf.generate(ids, **kw)


@pytest.fixture(params=["gpt2", "neox"])
def pair(request, tmp_path):
    config = gpt2_config() if request.param == "gpt2" else neox_config()
    hf = save_hf(config, tmp_path, seed=7)
    return hf, AutoModelForCausalLM.from_pretrained(tmp_path)


def test_greedy_is_identical_token_for_token(pair):
    hf, ours = pair
    gen = torch.Generator().manual_seed(0)
    for T in (1, 2, 5, 13):
        ids = torch.randint(1, VOCAB - 1, (1, T), generator=gen)
        ref = hf_generate(hf, ids, max_new_tokens=48 - T, eos_token_id=None, do_sample=False)
        got = ours.generate(ids, max_new_tokens=48 - T)
        assert torch.equal(got, ref), T


def test_default_lengths(pair):
    hf, ours = pair
    ids = torch.tensor([[3, 4, 5, 6]])
    # No length given: 20 new tokens (when no eos is hit: eos is made unreachable here).
    assert ours.generate(ids, eos_token_id=[]).shape == (1, 24)
    long_prompt = torch.randint(1, VOCAB - 1, (1, 40), generator=torch.Generator().manual_seed(1))
    # ... capped at the context size (48).
    assert ours.generate(long_prompt, eos_token_id=[]).shape == (1, 48)
    assert ours.generate(ids, max_length=10, eos_token_id=[]).shape == (1, 10)
    with pytest.warns(UserWarning, match="max_new_tokens takes precedence"):
        out = ours.generate(ids, max_length=10, max_new_tokens=3, eos_token_id=[])
    assert out.shape == (1, 7)


def test_eos_mid_sequence_pads_finished_rows(pair):
    hf, ours = pair
    ids = torch.randint(1, VOCAB - 1, (2, 6), generator=torch.Generator().manual_seed(2))
    free = ours.generate(ids, max_new_tokens=12, eos_token_id=[])
    eos = int(free[0, 9])  # a token row 0 emits mid-way
    other = int(free[1, 8])
    for eos_ids in ([eos], [eos, other]):
        ref = hf_generate(hf, ids, max_new_tokens=12, eos_token_id=eos_ids, pad_token_id=VOCAB - 2)
        got = ours.generate(ids, max_new_tokens=12, eos_token_id=eos_ids, pad_token_id=VOCAB - 2)
        assert torch.equal(got, ref)
        row0 = got[0, 6:].tolist()
        stop = row0.index(eos) + 1
        assert all(t == VOCAB - 2 for t in row0[stop:])
    # All rows finished: generation stops before max_length.
    single = ours.generate(ids[:1], max_new_tokens=12, eos_token_id=eos)
    assert single.shape[1] == 6 + free[0, 6:].tolist().index(eos) + 1


def test_left_padded_batch_equals_single_rows(pair):
    hf, ours = pair
    gen = torch.Generator().manual_seed(3)
    rows = [torch.randint(1, VOCAB - 1, (n,), generator=gen).tolist() for n in (7, 2, 5, 1)]
    batch = ours.generate(rows, max_new_tokens=9, eos_token_id=[], pad_token_id=0)  # ragged
    T = max(map(len, rows))
    assert batch.shape == (4, T + 9)
    for i, r in enumerate(rows):
        alone = ours.generate([r], max_new_tokens=9, eos_token_id=[])
        assert batch[i, T - len(r) :].tolist() == alone[0].tolist()
    ids = torch.tensor([[0] * (T - len(r)) + r for r in rows])
    mask = (torch.arange(T)[None, :] >= torch.tensor([T - len(r) for r in rows])[:, None]).long()
    ref = hf_generate(
        hf,
        ids,
        attention_mask=mask,
        max_new_tokens=9,
        eos_token_id=None,
        pad_token_id=0,
        do_sample=False,
    )
    assert torch.equal(
        ours.generate(ids, attention_mask=mask, max_new_tokens=9, eos_token_id=[], pad_token_id=0),
        ref,
    )


SAMPLING = [
    {},  # transformers' defaults: top_k=50
    {"top_k": 10, "repetition_penalty": 1.5, "temperature": 0.5},  # the example settings
    {"top_p": 0.8, "temperature": 1.3},
    {"min_p": 0.1, "top_k": 0},
    {"top_k": 20, "top_p": 0.9, "min_p": 0.05, "temperature": 0.7, "repetition_penalty": 1.2},
]


@pytest.mark.parametrize("settings", SAMPLING)
def test_seeded_sampling_matches_transformers(pair, settings):
    hf, ours = pair
    ids = torch.randint(1, VOCAB - 1, (2, 5), generator=torch.Generator().manual_seed(4))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding also exercises the penalty's prompt_ignore_length
    kw = dict(max_new_tokens=15, do_sample=True, attention_mask=mask, **settings)
    ref = hf_generate(hf, ids, seed=11, **kw)
    got = ours.generate(ids, seed=11, **kw)
    assert torch.equal(got, ref)
    # Without `seed`, the global RNG is used exactly as transformers uses it.
    torch.manual_seed(11)
    assert torch.equal(ours.generate(ids, **kw), ref)


def test_num_return_sequences_order_and_seed(pair):
    hf, ours = pair
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    kw = dict(max_new_tokens=6, do_sample=True, num_return_sequences=3)
    got = ours.generate(ids, seed=5, **kw)
    assert got.shape == (6, 9)
    assert got[:3, :3].eq(ids[0]).all() and got[3:, :3].eq(ids[1]).all()
    assert torch.equal(got, hf_generate(hf, ids, seed=5, **kw))
    assert torch.equal(got, ours.generate(ids, seed=5, **kw))  # reproducible
    assert not torch.equal(got, ours.generate(ids, seed=6, **kw))


def test_scores_and_logits(pair):
    hf, ours = pair
    ids = torch.tensor([[5, 6, 7]])
    kw = dict(
        max_new_tokens=4,
        do_sample=True,
        top_k=7,
        repetition_penalty=1.3,
        output_scores=True,
        output_logits=True,
        return_dict_in_generate=True,
    )
    ref = hf_generate(hf, ids, seed=1, **kw)
    got = ours.generate(ids, seed=1, **kw)
    assert torch.equal(got.sequences, ref.sequences)
    assert len(got.scores) == len(got.logits) == 4
    for a, b in zip(got.scores, ref.scores, strict=True):
        assert a.dtype == torch.float32 and a.shape == (1, VOCAB)
        assert torch.equal(a.isinf(), b.isinf()) and (a.isinf().logical_not().sum(-1) == 7).all()
        finite = ~a.isinf()
        assert (a[finite] - b[finite]).abs().max() <= 1e-4
    for a, b in zip(got.logits, ref.logits, strict=True):
        assert (a - b).abs().max() <= 1e-4


def test_sampling_distribution_matches_processed_probabilities(tmp_path):
    save_hf(neox_config(initializer_range=0.05), tmp_path)  # flat-ish distribution
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    n = 4000
    kw = dict(max_new_tokens=1, do_sample=True, top_k=12, top_p=0.95, temperature=0.8)
    one = ours.generate([[3, 1, 4]], output_scores=True, return_dict_in_generate=True, seed=0, **kw)
    probs = torch.softmax(one.scores[0][0], -1)
    draws = ours.generate([[3, 1, 4]], num_return_sequences=n, seed=1, **kw)[:, -1]
    counts = torch.bincount(draws, minlength=VOCAB).double()
    support = probs > 0
    assert counts[~support].sum() == 0  # never a filtered token
    expected = probs[support].double() * n
    chi2 = float(((counts[support] - expected) ** 2 / expected).sum())
    df = int(support.sum()) - 1
    # Wilson-Hilferty approximation of the 99.9% chi-square quantile.
    z = 3.09
    crit = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    assert df >= 5 and chi2 < crit, (chi2, crit, df)


def test_invalid_generation_arguments(gpt2_pair):
    _, ours = gpt2_pair
    ids = [[1, 2, 3]]
    bad = [
        ({"do_sample": True, "temperature": 0.0}, "temperature"),
        ({"do_sample": True, "temperature": -1.0}, "temperature"),
        ({"do_sample": True, "top_k": -3}, "top_k"),
        ({"do_sample": True, "top_p": -0.5}, "top_p"),
        ({"do_sample": True, "min_p": -0.1}, "min_p"),
        ({"repetition_penalty": 0.0}, "`penalty` has to be a strictly positive float"),
        ({"num_return_sequences": 2}, "do_sample=True"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_length": 3}, "max_length"),
        ({"max_new_tokens": 46}, "context of 48 positions"),
        ({"top_q": 1}, "unsupported argument"),
    ]
    for kw, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            ours.generate(ids, **kw)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ours.generate([[1, VOCAB]], max_new_tokens=2)
    with pytest.raises(ValueError, match="n_positions in config.json"):
        ours(torch.zeros(1, 49, dtype=torch.long))
    with pytest.warns(UserWarning, match="only apply when do_sample=True"):
        ours.generate(ids, max_new_tokens=1, temperature=0.5)
