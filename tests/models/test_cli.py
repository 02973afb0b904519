"""`toklm generate` / `toklm embed` on a tiny random model with the Pythia tokenizer."""

from __future__ import annotations

import pytest
from toklm.cli import main

pytest.importorskip("toklm.hf")


@pytest.fixture(scope="module")
def model_dir(cli_model_dir):
    """conftest's tiny Pythia-shaped checkpoint with the GPT-NeoX tokenizer."""
    return cli_model_dir


def test_generate_streams_the_same_text_as_generate(model_dir, capsys):
    from toklm.hf import Tokenizer
    from toklm.models import AutoModelForCausalLM

    args = [
        "generate",
        "-m",
        str(model_dir),
        "Hello world, we are",
        "--max-new-tokens",
        "12",
        "--top-k",
        "50",
        "--temperature",
        "0.7",
        "--repetition-penalty",
        "1.5",
        "--seed",
        "3",
        "--stats",
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    tok = Tokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt = tok.encode("Hello world, we are")
    ids = model.generate(
        [prompt],
        max_new_tokens=12,
        do_sample=True,
        top_k=50,
        temperature=0.7,
        repetition_penalty=1.5,
        seed=3,
    )[0].tolist()
    new = ids[len(prompt) :]
    if 0 in new:  # eos (<|endoftext|>) ends the stream
        new = new[: new.index(0) + 1]
    assert out == "Hello world, we are" + tok.decode(new, skip_special_tokens=True) + "\n"
    assert "tokens/s" in err and "peak memory" in err
    assert main(args) == 0
    assert capsys.readouterr().out == out  # seeded: reproducible


def test_embed_prints_each_token(model_dir, capsys):
    assert main(["embed", "-m", str(model_dir), "Hi there", "--dims", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# 2 tokens; token embedding, 3 of 16 dims")
    idx, tid, text, vec = lines[1].split("\t")
    assert (idx, text) == ("0", "'Hi'") and vec.endswith(", ...]") and vec.count(",") == 3
    from toklm.models import AutoModelForCausalLM

    row = AutoModelForCausalLM.from_pretrained(model_dir).embed_in.weight[int(tid)]
    assert vec == "[" + ", ".join(f"{v:.4f}" for v in row[:3].tolist()) + ", ...]"
    assert main(["embed", "-m", str(model_dir), "Hi there", "--full", "--hidden"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "final hidden state, 16 of 16 dims" in lines[0]
    assert lines[1].split("\t")[3].count(",") == 15


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["generate", "-m", "EleutherAI/pythia-410m", "Hi"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("toklm: error: cannot find config.json")
    assert "models--EleutherAI--pythia-410m" in err and "hf download" in err
    import importlib.util

    if importlib.util.find_spec("huggingface_hub") is not None:  # installed: no advice to install
        assert "pip install huggingface_hub" not in err and "unset HF_HUB_OFFLINE" in err


# ---- issue 8: flags checked before any output, in the CLI's own names (run as a user runs them)


def test_bad_flags_fail_before_the_prompt_is_printed(model_dir):
    from tests.cli.runner import toklm as run

    m = str(model_dir)
    for flags, needle in [
        (["--max-new-tokens", "-1"], "--max-new-tokens"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--temperature", "-0.5"], "--temperature"),
        (["--top-p", "1.5"], "--top-p"),
        (["--top-k", "0"], "--top-k"),
        (["--threads", "0"], "--threads"),
    ]:
        proc = run("generate", "-m", m, "Hello", *flags)
        assert proc.returncode == 2 and proc.stdout == "", (flags, proc)
        assert needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    too_long = run("generate", "-m", m, "Hello", "--max-new-tokens", "1000")  # context is 64
    assert too_long.returncode == 2 and too_long.stdout == ""
    assert "lower --max-new-tokens" in too_long.stderr and "max_new_tokens" not in too_long.stderr
    bf16 = run("generate", "-m", m, "Hi", "--quantize", "bf16", "--dtype", "bfloat16")
    assert bf16.returncode == 2 and "--dtype float32" in bf16.stderr and bf16.stdout == ""


def test_temperature_zero_is_greedy(model_dir):
    from tests.cli.runner import toklm as run

    m = str(model_dir)
    greedy = run("generate", "-m", m, "Hello", "--max-new-tokens", "8")
    zero = run("generate", "-m", m, "Hello", "--max-new-tokens", "8", "--temperature", "0")
    assert zero.returncode == 0, zero.stderr
    assert zero.stdout == greedy.stdout and zero.stderr == ""


def test_embed_dims_and_empty_text_are_refused(model_dir):
    from tests.cli.runner import toklm as run

    m = str(model_dir)
    for args in (["Hi", "--dims", "-1"], ["Hi", "--dims", "0"], [""]):
        proc = run("embed", "-m", m, *args)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc)
        assert "Traceback" not in proc.stderr
    assert (
        "# 1 tokens; token embedding, 16 of 16 dims"
        in run("embed", "-m", m, "Hi", "--dims", "999").stdout
    )


def test_stats_say_how_the_weights_are_stored(model_dir):
    from tests.cli.runner import toklm as run

    proc = run("generate", "-m", str(model_dir), "Hi", "--max-new-tokens", "2", "--stats",
               "--quantize", "int8")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "int8 weights" in proc.stderr and "float32)" not in proc.stderr


def test_a_missing_local_directory_is_named_as_such(tmp_path):
    from tests.cli.runner import assert_one_line_error
    from tests.cli.runner import toklm as run

    for path in ("/nonexistent", str(tmp_path / "nope"), "./nope/"):
        proc = run("generate", "-m", path, "Hi")
        assert_one_line_error(proc, f"{path}: no such directory")
        assert "hf download" not in proc.stderr and proc.returncode == 2
