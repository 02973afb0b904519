"""Issue 8, item 2: a missing optional package is one line naming the extra, exit 2, for every
sub-command. The packages are hidden from a real `toklm` process by a meta-path blocker loaded
through sitecustomize (nothing is uninstalled)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from toklm.cli import OPTIONAL_MODULES

from tests.cli.runner import KOREAN, assert_one_line_error
from tests.cli.runner import toklm as run
from tests.conftest import shared_path

BLOCKER = '''
import os, sys

_BLOCKED = {m for m in os.environ.get("TOKLM_TEST_BLOCK", "").split(",") if m}


class _Blocker:
    """Behave as if the blocked top-level packages were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
'''


@pytest.fixture(scope="module")
def without(tmp_path_factory: pytest.TempPathFactory):
    """`without("torch", "matplotlib")` -> the env for a `toklm` that cannot import them."""
    site = tmp_path_factory.mktemp("blocker")
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")

    def env(*modules: str) -> dict[str, str]:
        return {"PYTHONPATH": str(site), "TOKLM_TEST_BLOCK": ",".join(modules)}

    return env


def test_the_blocker_blocks(without) -> None:
    env = {**os.environ, **without("torch")}
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, env=env)
    assert b"No module named 'torch'" in proc.stderr


@pytest.mark.parametrize("command", ["generate", "embed"])
def test_models_without_torch(without, command: str, tmp_path: Path) -> None:
    proc = run(command, "-m", str(tmp_path), "hello", env=without("torch"))
    assert_one_line_error(proc, f"toklm {command} needs the 'torch' package", "toklm[models]")
    assert proc.returncode == 2


def test_report_plot_without_matplotlib(without, tmp_path: Path) -> None:
    corpus = shared_path("corpora/parallel/udhr")
    proc = run("report", str(corpus), "--plot", str(tmp_path / "p.png"), env=without("matplotlib"))
    assert_one_line_error(proc, "needs the 'matplotlib' package", "toklm[economics]")
    assert proc.returncode == 2
    assert not (tmp_path / "p.png").exists()


def test_tables_without_rich_say_what_to_do(without) -> None:
    proc = run("compare", KOREAN, env=without("rich"))
    assert_one_line_error(proc, "rich", "--json")
    assert proc.returncode == 2
    assert run("compare", "--json", KOREAN, env=without("rich")).returncode == 0


def test_every_command_parses_and_the_core_runs_without_any_extra(without) -> None:
    env = without(*(m for m in OPTIONAL_MODULES if m != "rich"))  # rich: a plain dependency
    helped = run("--help", env=env)
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr  # no extra at import
    assert "tokens" in run("demo", env=env).stdout
    assert run("count", "-e", "gpt2", "--text", KOREAN, env=env).stdout == "37\n"
    assert run("encode", "-e", "gpt2", "hi", env=env).stdout == "5303\n"
    assert run("cost", "--text", KOREAN, env=env).returncode == 0
