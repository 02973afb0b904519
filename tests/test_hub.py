"""Resolving model files: local paths and the Hugging Face hub cache layout (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from toklm.hub import hub_cache_dir, resolve_model_files

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HF_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def make_cache(root: Path, repo_id: str, files: dict[str, str], commit=COMMIT, ref="main") -> Path:
    """Build the layout huggingface_hub writes: blobs/, refs/<ref>, snapshots/<commit>/ links."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for name, text in files.items():
        blob = repo / "blobs" / f"blob-{commit[:6]}-{name}"
        blob.write_text(text)
        (snapshot / name).symlink_to(blob)
    return snapshot


def test_cache_dir_precedence(monkeypatch, tmp_path):
    assert hub_cache_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    assert hub_cache_dir() == tmp_path / "hfhome" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert hub_cache_dir() == tmp_path / "direct"


def test_local_directory_and_file(tmp_path):
    d = tmp_path / "tok"
    d.mkdir()
    (d / "vocab.json").write_text("{}")
    (d / "merges.txt").write_text("")
    assert resolve_model_files(d, ["vocab.json", "merges.txt"]) == d
    assert resolve_model_files(str(d / "vocab.json"), ["vocab.json"]) == d
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        resolve_model_files(d, ["tokenizer.json"])


def test_repo_in_hf_hub_cache(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    files = {"tokenizer.json": "{}", "config.json": "{}"}
    snap = make_cache(cache, "EleutherAI/pythia-410m", files)
    got = resolve_model_files("EleutherAI/pythia-410m", ["tokenizer.json"], optional=["x.json"])
    assert got == snap
    assert (got / "tokenizer.json").read_text() == "{}"
    # A commit hash as revision goes straight to its snapshot.
    assert resolve_model_files("EleutherAI/pythia-410m", ["config.json"], revision=COMMIT) == snap


def test_revision_picks_its_snapshot(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cache = tmp_path / "hf" / "hub"
    make_cache(cache, "gpt2", {"vocab.json": "{}"})
    snap_v2 = make_cache(cache, "gpt2", {"vocab.json": "{}"}, commit=OTHER, ref="v2")
    assert resolve_model_files("gpt2", ["vocab.json"], revision="v2") == snap_v2


def test_default_cache_under_home(tmp_path):
    cache = tmp_path / "home" / ".cache" / "huggingface" / "hub"
    snap = make_cache(cache, "org/model", {"tokenizer.json": "{}"})
    assert resolve_model_files("org/model", ["tokenizer.json"]) == snap


def test_missing_everywhere_names_places_and_remedy(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(FileNotFoundError) as e:
        resolve_model_files("nobody/nothing", ["tokenizer.json"])
    msg = str(e.value)
    assert str(cache / "models--nobody--nothing") in msg
    assert "HF_HUB_OFFLINE" in msg
    assert "hf download nobody/nothing tokenizer.json" in msg


def test_broken_snapshot_and_missing_ref(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = make_cache(cache, "org/m", {"vocab.json": "{}"})
    with pytest.raises(FileNotFoundError, match="lacks merges.txt"):
        resolve_model_files("org/m", ["vocab.json", "merges.txt"])
    with pytest.raises(FileNotFoundError, match=r"refs.v9"):
        resolve_model_files("org/m", ["vocab.json"], revision="v9")
    # A snapshot link whose blob was deleted counts as missing.
    (snap / "vocab.json").resolve().unlink()
    with pytest.raises(FileNotFoundError, match="lacks vocab.json"):
        resolve_model_files("org/m", ["vocab.json"])


def test_not_a_repo_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        resolve_model_files(str(tmp_path / "nope" / "tokenizer.json"), ["tokenizer.json"])


def test_unreachable_hub_fails_fast_and_says_so(monkeypatch, tmp_path):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(FileNotFoundError, match=r"download skipped: cannot reach 127\.0\.0\.1:9"):
        resolve_model_files("org/model", ["tokenizer.json"])


# --- hostile revisions and refs -------------------------------------------------------------


@pytest.mark.parametrize("revision", ["../../../x", "/etc", "a/../../b", "..", "main\n", ""])
def test_revision_that_could_leave_the_cache_is_refused(monkeypatch, tmp_path, revision):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    make_cache(cache, "org/m", {"vocab.json": "{}"})
    # A file the escaping revision would reach: repo/refs/../../../x -> tmp_path/x.
    (tmp_path / "x").write_text(COMMIT)
    with pytest.raises(ValueError, match="is not a branch, tag or commit hash"):
        resolve_model_files("org/m", ["vocab.json"], revision=revision)


def test_pr_refs_and_tags_are_valid_revisions(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = make_cache(cache, "org/m", {"vocab.json": "{}"}, ref="refs/pr/1")
    (cache / "models--org--m" / "refs" / "v1.0-rc_2").write_text(COMMIT)
    assert resolve_model_files("org/m", ["vocab.json"], revision="refs/pr/1") == snap
    assert resolve_model_files("org/m", ["vocab.json"], revision="v1.0-rc_2") == snap


def test_ref_file_pointing_outside_the_cache_is_refused(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    make_cache(cache, "org/m", {"vocab.json": "{}"}, commit=COMMIT)
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "vocab.json").write_text('{"evil": 0}')
    repo = cache / "models--org--m"
    (repo / "refs" / "main").write_text("../../../evil")
    assert (repo / "snapshots" / "../../../evil" / "vocab.json").is_file()  # the attack works
    with pytest.raises(FileNotFoundError, match="not a 40-hex commit hash: refused"):
        resolve_model_files("org/m", ["vocab.json"])


def test_snapshot_links_leaving_the_cache_are_refused(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = make_cache(cache, "org/m", {"vocab.json": "{}"})
    outside = tmp_path / "secret.json"
    outside.write_text("{}")
    (snap / "vocab.json").unlink()
    (snap / "vocab.json").symlink_to(outside)
    with pytest.raises(FileNotFoundError, match="outside the hub cache"):
        resolve_model_files("org/m", ["vocab.json"])
