"""Forward-pass parity with transformers: logits, hidden states, embeddings (fp32, within 1e-4)."""

from __future__ import annotations

import pytest
from toklm.models import (
    AutoModelForCausalLM,
    GPT2LMHeadModel,
    GPT2Model,
    GPTNeoXForCausalLM,
    GPTNeoXModel,
    layers,
)

from .conftest import VOCAB, gpt2_config, neox_config, save_hf, torch

TOL = 1e-4


def assert_forward_matches(hf, ours, ids, mask=None):
    with torch.no_grad():
        ref = hf(ids, attention_mask=mask, output_hidden_states=True)
    got = ours(ids, attention_mask=mask, output_hidden_states=True)
    real = mask.bool() if mask is not None else torch.ones_like(ids, dtype=torch.bool)
    # Logits at padded query positions are meaningless; compare real tokens only.
    assert (got.logits - ref.logits)[real].abs().max() <= TOL
    assert len(got.hidden_states) == len(ref.hidden_states) == hf.config.num_hidden_layers + 1
    for a, b in zip(got.hidden_states, ref.hidden_states, strict=True):
        assert (a - b)[real].abs().max() <= TOL
    assert torch.equal(got.last_hidden_state, got.hidden_states[-1])


# transformers honours the scaling flags on every attention backend in 5.x; eager is the reference.
@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"scale_attn_weights": False},
        {"scale_attn_by_inverse_layer_idx": True},
        {"reorder_and_upcast_attn": True},
        {
            "scale_attn_weights": False,
            "scale_attn_by_inverse_layer_idx": True,
            "reorder_and_upcast_attn": True,
        },
    ],
)
def test_gpt2_attention_flags(tmp_path, flags):
    config = gpt2_config(initializer_range=0.1, **flags)
    hf = save_hf(config, tmp_path, attn="eager")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert isinstance(ours, GPT2LMHeadModel)
    ids = torch.randint(0, VOCAB, (2, 17), generator=torch.Generator().manual_seed(1))
    assert_forward_matches(hf, ours, ids)


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("rotary_pct", [0.25, 1.0])
def test_neox_residual_and_rotary(tmp_path, parallel, rotary_pct):
    config = neox_config(
        initializer_range=0.1, use_parallel_residual=parallel, rotary_pct=rotary_pct
    )
    hf = save_hf(config, tmp_path)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert isinstance(ours, GPTNeoXForCausalLM)
    assert ours.config.rotary_dims == int(8 * rotary_pct)
    ids = torch.randint(0, VOCAB, (2, 19), generator=torch.Generator().manual_seed(2))
    assert_forward_matches(hf, ours, ids)


@pytest.mark.parametrize("heads", [1, 3, 5])
def test_odd_head_counts(tmp_path, heads):
    E = 8 * heads  # head size 8: rotary dims 2 at 0.25
    for i, config in enumerate(
        [
            gpt2_config(n_embd=E, n_head=heads, n_layer=3, initializer_range=0.1),
            neox_config(
                hidden_size=E,
                num_attention_heads=heads,
                num_hidden_layers=3,
                intermediate_size=3 * E,
                initializer_range=0.1,
            ),
        ]
    ):
        hf = save_hf(config, tmp_path / str(i))
        ours = AutoModelForCausalLM.from_pretrained(tmp_path / str(i))
        ids = torch.randint(0, VOCAB, (1, 11), generator=torch.Generator().manual_seed(heads))
        assert_forward_matches(hf, ours, ids)


@pytest.mark.parametrize("make", [gpt2_config, neox_config])
def test_every_prompt_length_up_to_the_context(tmp_path, make):
    config = make(n_positions=24) if make is gpt2_config else make(max_position_embeddings=24)
    hf = save_hf(config, tmp_path, seed=3)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(0, VOCAB, (1, 24), generator=torch.Generator().manual_seed(3))
    for T in range(1, 25):
        with torch.no_grad():
            ref = hf(ids[:, :T]).logits
        assert (ours(ids[:, :T]).logits - ref).abs().max() <= TOL, T


@pytest.mark.parametrize("make", [gpt2_config, neox_config])
def test_padding_mask_in_a_bare_forward(tmp_path, make):
    # A bare forward keeps positions 0..T-1 (transformers does not derive them from the mask).
    hf = save_hf(make(initializer_range=0.1), tmp_path)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(0, VOCAB, (3, 9), generator=torch.Generator().manual_seed(4))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    mask[2, :1] = 0
    assert_forward_matches(hf, ours, ids, mask)


def test_base_models_and_embeddings(tmp_path):
    hf = save_hf(neox_config(), tmp_path / "neox")
    base = GPTNeoXModel.from_pretrained(tmp_path / "neox")  # reads a ForCausalLM checkpoint
    ids = torch.tensor([[5, 7, 11, 13]])
    with torch.no_grad():
        ref = hf.gpt_neox(ids)
        emb = hf.gpt_neox.embed_in(ids)
    out = base(ids)
    assert out.logits is None
    assert (out.last_hidden_state - ref.last_hidden_state).abs().max() <= TOL
    assert torch.equal(base.embed_in(ids), emb)
    assert torch.equal(base.gpt_neox.embed_in.weight, hf.gpt_neox.embed_in.weight)

    hf2 = save_hf(gpt2_config(), tmp_path / "gpt2")
    lm = GPT2LMHeadModel.from_pretrained(tmp_path / "gpt2")
    with torch.no_grad():
        ref_emb = hf2.transformer.wte(ids)
        ref_last = hf2.transformer(ids).last_hidden_state
    assert torch.equal(lm.wte(ids), ref_emb)
    assert torch.equal(lm.transformer.wte(ids), ref_emb)
    assert torch.equal(lm.token_embeddings(ids), ref_emb)
    assert (
        GPT2Model.from_pretrained(tmp_path / "gpt2")(ids).last_hidden_state - ref_last
    ).abs().max() <= TOL


def test_logits_to_keep(gpt2_pair):
    hf, ours = gpt2_pair
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    full = ours(ids).logits
    last = ours(ids, logits_to_keep=1).logits
    assert last.shape == (1, 1, VOCAB)
    assert (last[:, 0] - full[:, -1]).abs().max() <= 1e-5  # GEMM shape changes rounding


def test_log_likelihood_matches_transformers_loss(neox_pair):
    hf, ours = neox_pair
    ids = torch.randint(0, VOCAB, (1, 30), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        loss = hf(ids, labels=ids).loss.item()
    ll = ours.log_likelihood(ids[0].tolist())
    assert ll.num_tokens == 29
    assert abs(-ll.log_likelihood / ll.num_tokens - loss) < 1e-5
    assert abs(ours.perplexity(ids) - torch.tensor(loss).exp().item()) < 1e-3


def test_log_likelihood_slides_past_the_context(tmp_path):
    hf = save_hf(gpt2_config(n_positions=16), tmp_path)
    ours = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(0, VOCAB, (40,), generator=torch.Generator().manual_seed(6)).tolist()
    ll = ours.log_likelihood(ids, stride=8)
    assert ll.num_tokens == 39  # every token after the first is scored exactly once
    # Reference: transformers' perplexity recipe (windows of 16, scoring the last `stride`).
    total, prev_end = 0.0, 0
    for begin in range(0, 39, 8):
        end = min(begin + 16, 40)
        window = torch.tensor([ids[begin:end]])
        with torch.no_grad():
            logp = hf(window).logits[0, :-1].log_softmax(-1)
        scored = logp.gather(1, window[0, 1:, None])[:, 0]
        total += scored[max(prev_end - begin - 1, 0) :].sum().item()
        prev_end = end
        if end == 40:
            break
    assert abs(ll.log_likelihood - total) < 1e-3


@pytest.mark.parametrize("threads", [2, 3])
def test_split_gemm_path_matches(tmp_path, threads, monkeypatch):
    """With several threads, few-row products are split over the threads (GPT-2's [in, out]
    weights along `in`, GPT-NeoX's [out, in] ones along `out`, with a leftover block for the odd
    vocabulary; several rows through the LM head, wider than 4x the hidden size, take the
    weight-on-the-left form): still within tolerance, and greedy decoding unchanged."""
    monkeypatch.setattr(layers, "SPLIT_MIN_WEIGHTS", 0)  # these test models are small
    used: dict[str, int] = {"k": 0, "n": 0, "n_left": 0}
    for kind in used:
        real = getattr(layers, f"_split_{kind}")

        def spy(*args, _real=real, _kind=kind):
            used[_kind] += 1
            return _real(*args)

        monkeypatch.setattr(layers, f"_split_{kind}", spy)
    assert VOCAB > 4 * 24
    hf = save_hf(gpt2_config(n_embd=24, n_head=4), tmp_path / "gpt2")
    hf2 = save_hf(
        neox_config(hidden_size=24, intermediate_size=48, num_attention_heads=3), tmp_path / "neox"
    )
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for ref_model, path in ((hf, tmp_path / "gpt2"), (hf2, tmp_path / "neox")):
            ours = AutoModelForCausalLM.from_pretrained(path)
            ids = torch.randint(1, VOCAB - 1, (2, 7), generator=torch.Generator().manual_seed(9))
            assert_forward_matches(ref_model, ours, ids)
            with torch.no_grad():
                ref = ref_model.generate(
                    ids[:1], max_new_tokens=20, do_sample=False, eos_token_id=None
                )
            assert torch.equal(ours.generate(ids[:1], max_new_tokens=20, eos_token_id=[]), ref)
    finally:
        torch.set_num_threads(before)
    assert all(used.values()), used
