"""Old import path of `toklm.openai_models` (OpenAI model name -> encoding), kept so existing
imports work.

>>> from toklm.model import encoding_name_for_model
>>> encoding_name_for_model("gpt-4o")
'o200k_base'
"""

from toklm.openai_models import (  # noqa: F401
    MODEL_PREFIX_TO_ENCODING,
    MODEL_TO_ENCODING,
    encoding_for_model,
    encoding_name_for_model,
)
