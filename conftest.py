"""Doctests of the package (`pytest` runs them: `--doctest-modules` on python/toklm).

Modules that import an optional extra at import time are not collected when that extra is
missing (`import toklm` and the tokenizers must work without them); under CI=true every extra is
installed and nothing is left out. Examples that read ../shared get the `shared` helper, which
skips them when the data is absent (and fails under CI=true).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
SHARED = REPO.parent / "shared"
CI = os.environ.get("CI") == "true"

# Extra module -> package files that import it at module level.
_OPTIONAL = {
    "torch": ["python/toklm/models/*.py", "python/toklm/serve/*.py"],
    "fastapi": ["python/toklm/serve/*.py"],
    "starlette": ["python/toklm/playground/*.py"],
    "pydantic": ["python/toklm/serve/*.py"],
}

collect_ignore_glob = [
    pattern
    for module, patterns in _OPTIONAL.items()
    if not CI and importlib.util.find_spec(module) is None
    for pattern in patterns
]


def shared(relative: str) -> Path:
    """A path under ../shared for an example; skips it when absent (fails under CI=true)."""
    path = SHARED / relative
    if not path.exists():
        message = f"shared data not found: {path}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _doctest_helpers(doctest_namespace: dict, request: pytest.FixtureRequest) -> None:
    doctest_namespace["shared"] = shared
    if request.node.name.startswith("toklm.hf.tokenizer."):
        # The methods' examples call `tok`: GPT-2's tokenizer, from ../shared.
        from toklm.hf import Tokenizer

        doctest_namespace["tok"] = Tokenizer.from_pretrained(shared("tokenizers/gpt2"))
