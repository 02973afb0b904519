"""One huge rank or id must not allocate by its size: memory follows the number of tokens, and a
rank or id beyond what the vocabulary can hold is a clear error naming where it came from.

Each case runs in a child process whose address space is capped 1 GB above what its imports
took, so a regression fails (MemoryError or abort) instead of eating the machine's memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, shared_path

CAP = """
import resource
vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), vm + (1 << 30)))
"""


def run_capped(body: str) -> str:
    code = "import toklm, toklm.hf\n" + CAP + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.parametrize("rank", [2**32 - 2, 10**7])
def test_tiktoken_file_with_a_huge_rank_names_file_and_line(tmp_path, rank):
    path = tmp_path / "huge.tiktoken"
    path.write_bytes(b"YQ== 0\nYg== 1\ncXE= " + str(rank).encode() + b"\nYw== 2\n")
    out = run_capped(f"""
        try:
            toklm.load.load_tiktoken_bpe({str(path)!r})
        except ValueError as e:
            print(e)
    """)
    assert f"{path}, line 3: rank {rank} is beyond what a vocabulary of 4 tokens can hold" in out


@pytest.mark.parametrize("rank", [2**32 - 2, 10**7])
def test_mergeable_ranks_with_a_huge_rank(rank):
    out = run_capped(f"""
        ranks = {{bytes([b]): b for b in range(256)}}
        ranks[b"qq"] = {rank}
        try:
            toklm.Encoding("huge", pat_str=r"\\S+|\\s+", mergeable_ranks=ranks, special_tokens={{}})
        except ValueError as e:
            print(e)
    """)
    assert f"rank {rank}" in out and "beyond what a vocabulary of 257 tokens can hold" in out


def test_holes_within_the_limit_still_work():
    ranks = {bytes([b]): b for b in range(256)} | {b"qq": 256 + 60_000}
    import toklm

    enc = toklm.Encoding("holes", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    assert enc.encode("qq q") == [60_256, 32, 113]
    assert enc.decode([60_256]) == "qq"


def _small_tokenizer_json(tmp_path, change):
    data = json.loads(shared_path("tokenizers/gpt-neox-20b/tokenizer.json").read_text("utf-8"))
    data["model"]["vocab"] = {k: v for k, v in data["model"]["vocab"].items() if v < 300}
    data["model"]["merges"] = []
    change(data)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_tokenizer_json_vocab_id_near_2_32(tmp_path):
    path = _small_tokenizer_json(tmp_path, lambda d: d["model"]["vocab"].update(zzz=2**32 - 2))
    out = run_capped(f"""
        try:
            toklm.hf.Tokenizer.from_file({str(path)!r})
        except ValueError as e:
            print(type(e).__name__, e)
    """)
    assert out.startswith(f"SpecError {path}: ")
    assert 'id 4294967294 of token "zzz" is beyond what a vocabulary of' in out


def test_tokenizer_json_added_token_id_near_2_32_is_renumbered_as_tokenizers_does(tmp_path):
    def add(d):
        flags = dict(single_word=False, lstrip=False, rstrip=False, normalized=False)
        d["added_tokens"].append({"id": 2**32 - 2, "content": "<big>", "special": True, **flags})

    path = _small_tokenizer_json(tmp_path, add)
    out = run_capped(f"""
        tok = toklm.hf.Tokenizer.from_file({str(path)!r})
        print(tok("x<big>")["input_ids"], len(tok))
    """)
    tokenizers = pytest.importorskip("tokenizers")
    ref = tokenizers.Tokenizer.from_file(str(path))
    assert out.strip() == f"{ref.encode('x<big>').ids} {ref.get_vocab_size()}"


def test_compact_ranks_refuse_a_huge_rank():
    out = run_capped("""
        try:
            toklm.load.CompactRanks.from_ranks({b"a": 0, b"qq": 2**32 - 2})
        except ValueError as e:
            print(e)
    """)
    assert "rank 4294967294 of token b'qq' is beyond what a vocabulary of 2 tokens" in out
