"""Post-processing as `tokenizers` and transformers do it: truncation and padding strategies,
padding, ByteLevel offset trimming and TemplateProcessing."""

from __future__ import annotations

from typing import Any

from toklm.hf.spec import Template


def strategies(
    padding: bool | str,
    truncation: bool | str | None,
    max_length: int | None,
    model_max_length: int,
) -> tuple[str | None, int | None, int | None]:
    """transformers' `_get_padding_truncation_strategies`: (pad kind, truncate to, pad to).

    >>> strategies(True, None, None, 1024), strategies(False, None, 8, 1024)
    (('longest', None, None), (None, 8, None))
    """
    if max_length is not None and padding is False and truncation is None:
        truncation = True
    if padding is True or padding == "longest":
        pad_kind: str | None = "longest"
    elif padding == "max_length":
        pad_kind = "max_length"
    elif padding in (False, None, "do_not_pad"):
        pad_kind = None
    else:
        raise ValueError(
            f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}"
        )
    if truncation in (True, "longest_first", "only_first"):
        truncate = True
    elif truncation in (False, None, "do_not_truncate"):
        truncate = False
    elif truncation == "only_second":
        raise ValueError(
            "truncation='only_second' needs a pair of sequences, which toklm does not take"
        )
    else:
        raise ValueError(
            "truncation must be True, False, 'longest_first' or 'do_not_truncate', "
            f"got {truncation!r}"
        )
    limit = max_length
    if limit is None and (pad_kind == "max_length" or truncate):
        if model_max_length > 10**20:
            pad_kind = None if pad_kind == "max_length" else pad_kind
            truncate = False
        else:
            limit = model_max_length
    return (
        pad_kind,
        (limit if truncate else None),
        (limit if pad_kind == "max_length" else None),
    )


def pad(
    encs: list[dict[str, list[Any]]],
    length: int | None,
    multiple: int | None,
    side: str,
    pad_id: int,
) -> None:
    """tokenizers' `pad_encodings`: pad to `length` or the longest, rounded up to `multiple`.

    >>> encs = [{"input_ids": [5], "attention_mask": [1]}, {"input_ids": [1, 2]}]
    >>> pad(encs, None, None, "left", 0); encs[0]
    {'input_ids': [0, 5], 'attention_mask': [0, 1]}
    """
    if side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {side!r}")
    target = length if length is not None else max((len(e["input_ids"]) for e in encs), default=0)
    if multiple and target % multiple:
        target += multiple - target % multiple
    fill = {
        "input_ids": pad_id,
        "attention_mask": 0,
        "special_tokens_mask": 1,
        "offset_mapping": (0, 0),
    }
    for e in encs:
        n = target - len(e["input_ids"])
        if n <= 0:
            continue
        for key, value in fill.items():
            if key in e:
                e[key] = e[key] + [value] * n if side == "right" else [value] * n + e[key]


# What ByteLevel's offset trimming strips: its space stand-in and Rust's `char::is_whitespace`.
_SPACES = (
    "Ġ\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)


def trim_offsets(tokens: list[str], offs: list[Any], add_prefix_space: bool) -> list[Any]:
    """tokenizers' ByteLevel `process_offsets`: drop leading/trailing spaces from offsets.

    >>> trim_offsets(["Hello", "Ġworld", "  "], [(0, 5), (5, 11), (11, 13)], False)
    [(0, 5), (6, 11), (13, 13)]
    """
    out = []
    for i, (token, (start, end)) in enumerate(zip(tokens, offs, strict=True)):
        lead = len(token) - len(token.lstrip(_SPACES))
        trail = len(token) - len(token.rstrip(_SPACES))
        if lead and (i == 0 or start == 0) and add_prefix_space and lead == 1:
            lead = 0
        if lead:
            start = min(start + lead, end)
        if trail and end >= trail:
            end = max(end - trail, start)
        out.append((start, end))
    return out


def apply_template(
    template: Template,
    ids: list[int],
    offs: list[Any] | None,
    special: list[int],
    tokens: list[str] | None,
    table: dict[int, str],
) -> tuple[list[int], list[Any] | None, list[int], list[str] | None]:
    """TemplateProcessing of one sequence: special tokens get offsets (0, 0) and mask 1.

    >>> bos = Template((("<s>", 0, False), ("A", 0, True)), {"<s>": (1,)})
    >>> apply_template(bos, [7, 8], [(0, 1), (1, 2)], [0, 0], None, {})[:3]
    ([1, 7, 8], [(0, 0), (0, 1), (1, 2)], [1, 0, 0])
    """
    new_ids: list[int] = []
    new_offs: list[Any] = []
    new_special: list[int] = []
    new_tokens: list[str] = []
    for name, _type_id, is_seq in template.items:
        if is_seq:
            new_ids += ids
            new_special += special
            new_offs += offs or []
            new_tokens += tokens or []
        else:
            extra = template.special_ids[name]
            new_ids += extra
            new_special += [1] * len(extra)
            new_offs += [(0, 0)] * len(extra)
            new_tokens += [table.get(i, "") for i in extra]
    return (
        new_ids,
        new_offs if offs is not None else None,
        new_special,
        new_tokens if tokens is not None else None,
    )
