"""Resizing a checkpoint to an extended encoding: base logits unchanged, new rows = means."""

from __future__ import annotations

import pytest

from tests.models.conftest import gpt2_config, neox_config, save_hf

torch = pytest.importorskip("torch")

TEXTS = [
    "the cat sat on the mat",
    "low lower lowest newer",
    "안녕하세요 우리는 한국어를 공부합니다",
]


@pytest.fixture(scope="module")
def encodings():
    import toklm

    base = toklm.train_bpe(TEXTS[:2] * 5, 280, pattern="cl100k_base", special_tokens=["<|e|>"])
    ext = toklm.extend_encoding(base, [TEXTS[2]] * 5, 12, scripts=["Hangul"])
    assert ext.n_vocab == base.n_vocab + 12
    return base, ext


@pytest.mark.parametrize("family", ["gpt2", "neox"])
def test_resize_keeps_base_logits(tmp_path, encodings, family) -> None:
    from toklm.models import AutoModelForCausalLM
    from toklm.models.resize import new_token_rows, resize_checkpoint

    base, ext = encodings
    config = (gpt2_config if family == "gpt2" else neox_config)(vocab_size=base.n_vocab)
    save_hf(config, tmp_path / "old")
    out = resize_checkpoint(tmp_path / "old", base, ext, tmp_path / "new")
    old = AutoModelForCausalLM.from_pretrained(tmp_path / "old")
    new = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([base.encode_ordinary(TEXTS[0])])
    with torch.no_grad():
        before, after = old(ids).logits, new(ids).logits
    assert after.shape[-1] == ext.n_vocab
    torch.testing.assert_close(after[..., : base.n_vocab], before, rtol=0, atol=0)
    emb_old = old.token_embedding_weight
    emb_new = new.token_embedding_weight
    for token, pieces in new_token_rows(base, ext).items():
        torch.testing.assert_close(emb_new[token], emb_old[pieces].mean(0))
    # The tokenizer beside the weights encodes with the extended ids.
    korean = TEXTS[2]
    assert new.tokenizer.encode(korean) == ext.encode_ordinary(korean)
    with pytest.raises(FileExistsError):
        resize_checkpoint(tmp_path / "old", base, ext, tmp_path / "new")
