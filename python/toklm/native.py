"""What the native core (`toklm._core`) accepts and how it runs batches.

Token ids and ranks are unsigned 32-bit integers in Rust, so every id is below `ID_LIMIT`; batch
calls run on `DEFAULT_THREADS` cores unless told otherwise.

>>> ID_LIMIT == 2**32 and DEFAULT_THREADS >= 1
True
"""

from __future__ import annotations

import os

# Ids (and ranks) are u32 in the core.
ID_LIMIT = 2**32

# Batch calls run on every core in one native call; tiktoken's default was 8 Python threads.
DEFAULT_THREADS = os.cpu_count() or 1
