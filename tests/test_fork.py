"""After fork, a child can use every toklm object and batch call (the thread pool is made again
in the child). Each scenario runs in its own interpreter with a timeout, so a hang fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, shared_path

TIMEOUT_S = 120

# Warm every batch path in the parent (this starts the thread pool), then the scenario's child
# runs the same calls; `work()` is importable by spawn and forkserver children.
PRELUDE = """
import os, sys
import toklm
from toklm.hf import Tokenizer

ENC = toklm.get_encoding("o200k_base")
HF = Tokenizer.from_pretrained({neox!r})
TEXTS = ["hello world, we are Gmarket. 🎉", "안녕하세요", "a" * 5000] * 8

def work(_=None):
    ids = ENC.encode_ordinary_batch(TEXTS)
    assert ENC.count_batch(TEXTS) == [len(i) for i in ids]
    assert ENC.encode_batch(TEXTS, allowed_special="all") == ids
    # Fewer threads than the pool's 4 (RAYON_NUM_THREADS): a pool of its own, also made again
    # in the child.
    assert ENC.encode_ordinary_batch(TEXTS, num_threads=2) == ids
    assert ENC.decode_bytes_batch(ids) == [t.encode() for t in TEXTS]
    assert HF(TEXTS)["input_ids"] == [HF(t)["input_ids"] for t in TEXTS]
    return sum(map(len, ids))

EXPECTED = work()
"""

SCENARIOS = {
    "os.fork": """
pid = os.fork()
if pid == 0:
    os._exit(0 if work() == EXPECTED else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
""",
    "multiprocessing fork": """
import multiprocessing as mp
with mp.get_context("fork").Pool(2) as pool:
    assert pool.map(work, range(4)) == [EXPECTED] * 4
""",
    "multiprocessing spawn": """
import multiprocessing as mp
if __name__ == "__main__":
    with mp.get_context("spawn").Pool(2) as pool:
        assert pool.map(work, range(4)) == [EXPECTED] * 4
""",
    "multiprocessing forkserver": """
import multiprocessing as mp
if __name__ == "__main__":
    with mp.get_context("forkserver").Pool(2) as pool:
        assert pool.map(work, range(4)) == [EXPECTED] * 4
""",
    "datasets.map(num_proc=2)": """
import datasets
datasets.disable_progress_bars()
ds = datasets.Dataset.from_dict({"text": TEXTS * 4})
out = ds.map(
    lambda b: {"n": [len(i) for i in ENC.encode_ordinary_batch(b["text"])]},
    batched=True, batch_size=8, num_proc=2,
)
assert sum(out["n"]) == 4 * EXPECTED
""",
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_batch_calls_work_in_child_processes(scenario, tmp_path):
    if scenario.startswith("datasets"):
        pytest.importorskip("datasets")
    neox = str(shared_path("tokenizers/gpt-neox-20b"))
    script = tmp_path / "scenario.py"  # spawn and forkserver children import the main file
    script.write_text(PRELUDE.format(neox=neox) + textwrap.dedent(SCENARIOS[scenario]))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1"}
    env["RAYON_NUM_THREADS"] = "4"  # whatever the cores, num_threads=2 asks for fewer
    # Its own process group, so that a hung grandchild is killed with it.
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{scenario}: the child hung (no result in {TIMEOUT_S} s)")
    assert proc.returncode == 0, err[-3000:]
