"""Tokenizing inside the data tools people already use: HF `datasets`, Ray Data, Dask.

`datasets_map_fn` returns a function for ``Dataset.map(fn, batched=True)`` (and Ray Data's
``map_batches``, Dask's ``map_partitions`` over a pandas column: any mapping of a column name to a
batch of strings). The tokenizer is pickled by name when it is bundled, so workers never download.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toklm.corpus.encoder import EncoderSpec
from toklm.native import DEFAULT_THREADS

__all__ = ["datasets_map_fn"]


class _MapFn:
    """Picklable batch function (a closure would pickle the whole tokenizer every time)."""

    def __init__(
        self, spec: EncoderSpec, column: str, output: str, eot: int | None, threads: int
    ) -> None:
        self.spec, self.column, self.output, self.eot, self.threads = (
            spec,
            column,
            output,
            eot,
            threads,
        )

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[list[int]]]:
        texts = [str(t) for t in batch[self.column]]
        ids = self.spec.load().encode_ordinary_batch(texts, num_threads=self.threads)
        if self.eot is not None:
            for row in ids:
                row.append(self.eot)
        return {self.output: ids}


def datasets_map_fn(
    tokenizer: Any,
    *,
    column: str = "text",
    output: str = "input_ids",
    eot: int | None = None,
    num_threads: int = 0,
) -> Callable[[Mapping[str, Any]], dict[str, list[list[int]]]]:
    """A batched map function: ``{column: [str, ...]}`` -> ``{output: [[id, ...], ...]}``, with
    `eot` appended to each document when given; `num_threads` 0 means every core.

    >>> import toklm
    >>> fn = datasets_map_fn(toklm.get_encoding("gpt2"), eot=50256)
    >>> fn({"text": ["hello world", "hi"]})
    {'input_ids': [[31373, 995, 50256], [5303, 50256]]}
    """

    threads = num_threads if num_threads > 0 else DEFAULT_THREADS
    return _MapFn(EncoderSpec.of(tokenizer), column, output, eot, threads)
