"""`TokenShards`: the documents of a tokenize job's output directory, memory-mapped.

>>> import os, tempfile, toklm
>>> d = tempfile.mkdtemp(); src = os.path.join(d, "in.txt")
>>> _ = open(src, "w").write("hello world\\nhi there\\n")
>>> _ = toklm.corpus.tokenize_corpus([src], os.path.join(d, "out"), "gpt2")
>>> shards = toklm.TokenShards(os.path.join(d, "out"))
>>> len(shards), shards[1].tolist(), [doc.tolist() for doc in shards]
(2, [5303, 612], [[31373, 995], [5303, 612]])
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from toklm.corpus.job import FORMAT_NAME, MANIFEST

__all__ = ["TokenShards"]


class TokenShards(Sequence[npt.NDArray[Any]]):
    """Read-only view of a finished output directory: one numpy array per document (the
    end-of-text token, when the job added one, left out), in input order.

    ``shards[i]`` is document `i`, ``shards[a:b]`` a list of documents; `tokens(k)` and
    `offsets(k)` are shard `k`'s memory-mapped token and offset arrays.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        manifest_path = os.path.join(self.path, MANIFEST)
        try:
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{manifest_path}: no such file (not a token-shard directory)"
            ) from None
        if manifest.get("format") != FORMAT_NAME:
            raise ValueError(f"{manifest_path}: not a toklm token-shard manifest")
        if not manifest.get("complete"):
            raise ValueError(f"{self.path}: the job has not finished (run it again to complete it)")
        self.manifest: dict[str, Any] = manifest
        self.dtype = np.dtype(manifest["dtype"]).newbyteorder("<")
        self.eot: int | None = manifest["eot"]
        self.shard_names: list[str] = [s["name"] for s in manifest["shards"]]
        # starts[k]: index of shard k's first document.
        self._starts = [0]
        for s in manifest["shards"]:
            self._starts.append(self._starts[-1] + int(s["documents"]))
        self._tokens: dict[int, np.memmap[Any, Any]] = {}
        self._offsets: dict[int, np.memmap[Any, Any]] = {}

    @property
    def n_tokens(self) -> int:
        """Tokens in all shards (end-of-text tokens included)."""
        return int(self.manifest["tokens"])

    def __len__(self) -> int:
        return self._starts[-1]

    def tokens(self, shard: int) -> npt.NDArray[Any]:
        """Shard `shard`'s tokens, end-of-text tokens included (a read-only memory map)."""
        if shard not in self._tokens:
            self._tokens[shard] = self._map(shard, ".bin", self.dtype)
        return self._tokens[shard]

    def offsets(self, shard: int) -> npt.NDArray[np.int64]:
        """Shard `shard`'s document offsets into `tokens(shard)` (one more than its documents)."""
        if shard not in self._offsets:
            self._offsets[shard] = self._map(shard, ".idx", np.dtype("<i8"))
        return self._offsets[shard]

    def _map(self, shard: int, suffix: str, dtype: np.dtype[Any]) -> Any:
        path = os.path.join(self.path, self.shard_names[shard] + suffix)
        if os.path.getsize(path) == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r")

    def locate(self, index: int) -> tuple[int, int]:
        """(shard, document within it) of document `index`."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {index} out of range ({n} documents)")
        shard = bisect.bisect_right(self._starts, index) - 1
        return shard, index - self._starts[shard]

    def _document(self, shard: int, doc: int) -> npt.NDArray[Any]:
        offsets = self.offsets(shard)
        start, end = int(offsets[doc]), int(offsets[doc + 1])
        if self.eot is not None:
            end -= 1
        return self.tokens(shard)[start:end]

    @overload
    def __getitem__(self, index: int) -> npt.NDArray[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[npt.NDArray[Any]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._document(*self.locate(int(index)))

    def __iter__(self) -> Iterator[npt.NDArray[Any]]:
        for shard in range(len(self.shard_names)):
            for doc in range(self._starts[shard + 1] - self._starts[shard]):
                yield self._document(shard, doc)

    def __repr__(self) -> str:
        return (
            f"TokenShards({self.path!r}: {len(self)} documents, {self.n_tokens} tokens, "
            f"{len(self.shard_names)} shards, {self.dtype.name})"
        )
