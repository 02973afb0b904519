"""Old import path of `toklm.encoding` (the `Encoding` class), kept so existing imports work.

>>> from toklm.core import Encoding
>>> Encoding is __import__("toklm.encoding", fromlist=["Encoding"]).Encoding
True
"""

from toklm.encoding import (  # noqa: F401
    DEFAULT_THREADS,
    AllowedSpecial,
    DisallowedSpecial,
    Encoding,
    flat_arrays,
    raise_disallowed_special_token,
)
