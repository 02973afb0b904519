"""Whole corpora to token shards: `tokenize_corpus` (the `toklm tokenize` job) and `TokenShards`.

Output directory layout (all integers little-endian; numpy reads every file with `np.memmap`):

* ``manifest.json``: ``format`` ("toklm-token-shards"), ``version`` (1), ``job`` (tokenizer name
  and vocabulary size, input format and split, ``eot``, ``dtype``, shard size, and a fingerprint of
  each input: path, size, sha256 of sampled windows), ``complete``, and when complete the totals
  ``documents`` / ``tokens`` and ``shards``: one entry per shard in input order with its
  ``name``, ``documents``, ``tokens``, ``input`` pieces (``[path, start, end]``: byte range, or row
  groups for Parquet) and the ``sha256`` of its two files.
* ``shard-NNNNN.bin``: the tokens of the shard's documents back to back, ``uint16`` when every id
  (end-of-text included) is below 65536, else ``uint32`` (the manifest's ``dtype``). With an
  end-of-text token (``eot``), each document is followed by it.
* ``shard-NNNNN.idx``: ``int64``, one more than the shard's documents: document ``i`` is
  ``bin[idx[i]:idx[i+1]]`` (its end-of-text token included), ``idx[0] == 0`` and ``idx[-1]`` is the
  number of tokens in the ``.bin``.

>>> import numpy as np, os, tempfile, toklm
>>> d = tempfile.mkdtemp(); src = os.path.join(d, "in.txt")
>>> _ = open(src, "w").write("hello world\\nhi\\n")
>>> out = os.path.join(d, "out")
>>> manifest = toklm.corpus.tokenize_corpus([src], out, "gpt2", eot=True)
>>> np.memmap(os.path.join(out, "shard-00000.bin"), dtype="<u2", mode="r").tolist()
[31373, 995, 50256, 5303, 50256]
>>> np.memmap(os.path.join(out, "shard-00000.idx"), dtype="<i8", mode="r").tolist()
[0, 3, 5]
"""

from toklm.corpus.inputs import InputError
from toklm.corpus.job import JobConflict, tokenize_corpus
from toklm.corpus.reader import TokenShards
from toklm.corpus.recipes import datasets_map_fn

__all__ = ["InputError", "JobConflict", "TokenShards", "datasets_map_fn", "tokenize_corpus"]
