"""Find model and tokenizer files: a local directory or file, or a repo id in the Hugging Face hub.

The hub cache layout (as written by `huggingface_hub`)::

    <cache>/models--<org>--<name>/refs/<revision>        # text file holding a commit hash
    <cache>/models--<org>--<name>/snapshots/<commit>/... # the files (often symlinks into blobs/)

where <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. Files are
downloaded only when `huggingface_hub` is installed and neither toklm's offline switch
(`TOKLM_OFFLINE`, `toklm.load.set_offline`) nor $HF_HUB_OFFLINE is set.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from toklm.load import is_offline

__all__ = ["check_revision", "hub_cache_dir", "resolve_model_files"]

_REPO_ID = re.compile(r"^[\w.\-]+(/[\w.\-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REVISION = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
_TRUTHY = {"1", "true", "yes", "on"}


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache directory that this environment points at.

    >>> isinstance(hub_cache_dir(), Path)
    True
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def _offline() -> bool:
    """toklm's switch (`toklm.load.is_offline`), or the hub's own HF_HUB_OFFLINE."""
    return is_offline() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY


def download_hint() -> str:
    """What stands between this process and a hub download, e.g. " (pip install huggingface_hub)";
    empty when nothing does (the hint is only given where it applies).

    >>> download_hint() in ("", " (pip install huggingface_hub)", " (unset HF_HUB_OFFLINE)",
    ...                     " (pip install huggingface_hub; unset HF_HUB_OFFLINE)")
    True
    """
    import importlib.util

    steps = []
    if importlib.util.find_spec("huggingface_hub") is None:
        steps.append("pip install huggingface_hub")
    if _offline():
        steps.append("unset HF_HUB_OFFLINE")
    return f" ({'; '.join(steps)})" if steps else ""


def _missing(directory: Path, filenames: Sequence[str]) -> list[str]:
    # `is_file` follows symlinks, so a snapshot link to a deleted blob counts as missing.
    return [f for f in filenames if not (directory / f).is_file()]


def check_revision(revision: object) -> str:
    """`revision` if it is a branch, tag, `refs/pr/N` or commit hash; ValueError otherwise
    (a revision names a file under the cache, so `..` or an absolute path could leave it).

    >>> check_revision("refs/pr/1")
    'refs/pr/1'
    >>> check_revision("../../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: revision '../../x' is not a branch, tag or commit hash ...
    """
    if not isinstance(revision, str):
        raise TypeError(f"revision must be a str, got {type(revision).__name__}")
    parts = revision.split("/")
    if not _REVISION.fullmatch(revision) or any(p in (".", "..") for p in parts):
        raise ValueError(
            f"revision {revision!r} is not a branch, tag or commit hash (letters, digits, "
            "'_', '-', '.' in '/'-separated parts, no '.' or '..' part)"
        )
    return revision


def _inside(path: Path, root: Path) -> bool:
    """Whether `path`, symlinks resolved, lies under `root` (also resolved)."""
    return path.resolve().is_relative_to(root.resolve())


def _snapshot_dir(repo_dir: Path, revision: str, looked: list[str]) -> Path | None:
    """The snapshot directory for `revision` (a ref name or a commit hash), or None."""
    if _COMMIT.match(revision) and (repo_dir / "snapshots" / revision).is_dir():
        return repo_dir / "snapshots" / revision
    ref = repo_dir / "refs" / revision
    if not ref.is_file():
        looked.append(f"{ref} (no such ref in the hub cache)")
        return None
    if not _inside(ref, repo_dir):
        looked.append(f"{ref} (links outside the hub cache: refused)")
        return None
    commit = ref.read_text(encoding="utf-8", errors="replace").strip()
    if not _COMMIT.match(commit):
        looked.append(f"{ref} (holds {commit[:60]!r}, not a 40-hex commit hash: refused)")
        return None
    snapshot = repo_dir / "snapshots" / commit
    if not snapshot.is_dir():
        looked.append(f"{snapshot} (named by {ref}, but absent)")
        return None
    return snapshot


def _outside_cache(snapshot: Path, filenames: Sequence[str], cache: Path) -> list[str]:
    """The files of `snapshot` (and the snapshot itself) whose real path leaves the cache."""
    paths = [snapshot] + [snapshot / f for f in filenames]
    return [str(p) for p in paths if not _inside(p, cache)]


@functools.lru_cache(maxsize=4)
def _unreachable(endpoint: str) -> str | None:
    """Why the hub endpoint cannot be reached (a quick TCP connect), or None if it can."""
    url = urllib.parse.urlsplit(endpoint)
    host, port = url.hostname or "", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as e:
        return f"cannot reach {host}:{port} ({e})"
    return None


def _download(
    repo_id: str,
    filenames: Sequence[str],
    optional: Sequence[str],
    revision: str,
    looked: list[str],
) -> Path | None:
    """Fetch the files with huggingface_hub; None (with the reason in `looked`) when we cannot."""
    if _offline():
        looked.append("download skipped: offline (TOKLM_OFFLINE, set_offline or HF_HUB_OFFLINE)")
        return None
    try:
        from huggingface_hub import constants, errors, hf_hub_download
    except ImportError:
        looked.append("download skipped: huggingface_hub is not installed")
        return None
    unreachable = _unreachable(constants.ENDPOINT)
    if unreachable:
        # huggingface_hub would retry for about a minute before giving up.
        looked.append(f"download skipped: {unreachable}")
        return None
    directory: Path | None = None
    try:
        for name in filenames:
            got = hf_hub_download(repo_id, name, revision=revision)
            directory = Path(got).parent
        for name in optional:
            try:
                got = hf_hub_download(repo_id, name, revision=revision)
                directory = directory or Path(got).parent
            except errors.EntryNotFoundError:
                pass
    except Exception as e:  # network, auth, missing repo: all reported to the user below
        looked.append(f"download from the Hugging Face Hub failed: {type(e).__name__}: {e}")
        return None
    return directory


def resolve_model_files(
    path_or_repo_id: str | os.PathLike[str],
    filenames: Sequence[str],
    *,
    revision: str = "main",
    optional: Sequence[str] = (),
) -> Path:
    """Return the directory that holds all `filenames` (and whichever `optional` files exist).

    `path_or_repo_id` is a local directory, a local file (its directory is used), or a hub repo id
    such as "EleutherAI/pythia-410m". Raises FileNotFoundError naming every place looked at.

    >>> resolve_model_files(shared("tokenizers/gpt2"), ["vocab.json"]).name  # ../shared
    'gpt2'
    """
    target = str(path_or_repo_id)
    looked: list[str] = []
    local = Path(target).expanduser()
    if local.exists():
        directory = local if local.is_dir() else local.parent
        missing = _missing(directory, filenames)
        if not missing:
            return directory
        raise FileNotFoundError(
            f"{directory} does not contain {', '.join(missing)} (needed: {', '.join(filenames)})"
        )
    looked.append(f"{local.resolve()} (no such file or directory)")

    if _REPO_ID.match(target) and not target.endswith((".json", ".txt")):
        check_revision(revision)
        cache = hub_cache_dir()
        repo_dir = cache / ("models--" + target.replace("/", "--"))
        if not repo_dir.is_dir():
            looked.append(f"{repo_dir} (repo not in the hub cache)")
        else:
            snapshot = _snapshot_dir(repo_dir, revision, looked)
            if snapshot is not None:
                missing = _missing(snapshot, filenames)
                escaping = _outside_cache(snapshot, filenames, cache)
                if escaping:
                    looked.append(f"{', '.join(escaping)} (outside the hub cache {cache}: refused)")
                elif not missing:
                    return snapshot
                else:
                    looked.append(f"{snapshot} (lacks {', '.join(missing)})")
        downloaded = _download(target, filenames, optional, revision, looked)
        if downloaded is not None:
            return downloaded
        how = (
            f"download them with `hf download {target} {' '.join(filenames)}"
            f"{'' if revision == 'main' else f' --revision {revision}'}`{download_hint()}, "
            "or pass a local directory holding them"
        )
    else:
        how = "pass an existing directory or file, or a hub repo id such as 'org/name'"
    places = "\n  ".join(looked)
    raise FileNotFoundError(
        f"cannot find {', '.join(filenames)} for {target!r} (revision {revision!r}); "
        f"looked at:\n  {places}\nTo get the files: {how}."
    )
