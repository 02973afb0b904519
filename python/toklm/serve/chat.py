"""Chat templates: the checkpoint's Jinja template (tokenizer_config.json `chat_template`, or a
`chat_template.jinja` file, or `--chat-template FILE`), rendered in Jinja's sandbox."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any


class ChatTemplateError(ValueError):
    """No template, or one that fails to render; the message says which."""


def find_chat_template(directory: Path | None, override: str | None = None) -> str | None:
    """The template text: `override` (a file path) first, then the checkpoint's own; None if none.

    >>> find_chat_template(None) is None
    True
    """
    if override is not None:
        try:
            return Path(override).read_text(encoding="utf-8")
        except OSError as e:
            raise ChatTemplateError(f"cannot read the chat template {override}: {e}") from e
    if directory is None:
        return None
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = directory / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        raw = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    except (OSError, ValueError, AttributeError) as e:
        raise ChatTemplateError(f"{config}: cannot read chat_template: {e}") from e
    if isinstance(raw, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in raw if isinstance(t, dict)}
        raw = named.get("default")
    return raw if isinstance(raw, str) else None


class ChatTemplate:
    """A compiled template; `render(messages)` gives the prompt text.

    >>> t = ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    ...                  "{% if add_generation_prompt %}<assistant>{% endif %}")
    >>> t.render([{"role": "user", "content": "Hi"}])
    '<user>Hi<assistant>'
    """

    def __init__(self, source: str, special_tokens: dict[str, str] | None = None) -> None:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise ChatTemplateError(f"the chat template refused the messages: {message}")

        def strftime_now(format: str) -> str:
            return datetime.now().strftime(format)

        # The environment transformers' apply_chat_template renders in.
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = strftime_now
        env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(
            x, ensure_ascii=False, indent=indent
        )
        try:
            self.template = env.from_string(source)
        except TemplateError as e:
            raise ChatTemplateError(f"the chat template does not compile: {e}") from e
        self.special_tokens = dict(special_tokens or {})

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        from jinja2 import TemplateError

        try:
            return self.template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                **self.special_tokens,
            )
        except TemplateError as e:
            raise ChatTemplateError(f"the chat template failed: {e}") from e
