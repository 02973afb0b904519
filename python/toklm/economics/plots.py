"""Figures of a `report`: token premium, tokens per character, tokens per line (matplotlib).

matplotlib is imported only here and only when a figure is made; figures are built with
`matplotlib.figure.Figure` (no pyplot, no global backend switch) and saved as PNG or SVG. In SVG
the text stays text (``svg.fonttype: none``) and every bar and box carries an id
``<panel>-<tokenizer>-<language>``, so a figure can be checked or restyled after the fact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["PANELS", "default_size", "report_figure", "save_figure"]

PANELS = ("premium", "tokens_per_char", "tokens_per_line")
_DPI = 100
_FORMATS = (".png", ".svg")


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def _panels(records: Sequence[dict[str, Any]]) -> list[str]:
    has_premium = any(r.get("premium") is not None for r in records)
    return [p for p in PANELS if p != "premium" or has_premium]


def default_size(records: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(width, height) in pixels: 14 px per bar, 420 px per panel.

    >>> default_size([{"language": "en", "tokenizer": "gpt2", "premium": 1.0}])
    (1000, 1260)
    """
    languages = len({r["language"] for r in records})
    tokenizers = len({r["tokenizer"] for r in records})
    width = max(1000, 200 + languages * (14 * tokenizers + 12))
    return width, 420 * len(_panels(records))


def report_figure(records: Sequence[dict[str, Any]], size: tuple[int, int] | None = None) -> Any:
    """A matplotlib `Figure` with one panel per metric of `report` records.

    Panels: token premium per language per tokenizer (grouped bars; only for a parallel corpus
    with a reference), tokens per character (grouped bars), and the distribution of tokens per
    line (box: 25-75th percentile, whiskers 5-95th, line at the median). Languages are ordered
    by the first tokenizer's premium (or tokens per character), highest first.

    >>> from toklm.economics import report
    >>> # skipped: draws the whole udhr report (slow; tests/economics draw one)
    >>> fig = report_figure(report(["../shared/corpora/parallel/udhr"]))  # doctest: +SKIP
    >>> [ax.get_title()[:13] for ax in fig.axes]  # doctest: +SKIP
    ['Token premium', 'Tokens per ch', 'Tokens per li']
    """
    from matplotlib.figure import Figure

    if not records:
        raise ValueError("nothing to plot: no records")
    width, height = size or default_size(records)
    if width < 200 or height < 200:
        raise ValueError(f"plot size {width}x{height} is too small (at least 200x200 pixels)")
    panels = _panels(records)
    tokenizers = list(dict.fromkeys(r["tokenizer"] for r in records))
    by = {(r["language"], r["tokenizer"]): r for r in records}
    order_key = "premium" if "premium" in panels else "tokens_per_char"
    languages = sorted(
        dict.fromkeys(r["language"] for r in records),
        key=lambda lang: -(by[lang, tokenizers[0]][order_key] or 0),
    )
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    colors = [f"C{i % 10}" for i in range(len(tokenizers))]
    step = 1.0 / (len(tokenizers) + 1)
    xs = range(len(languages))
    for ax, panel in zip(axes, panels, strict=True):
        for j, tok in enumerate(tokenizers):
            offsets = [x + (j - (len(tokenizers) - 1) / 2) * step for x in xs]
            rows = [by[lang, tok] for lang in languages]
            if panel == "tokens_per_line":
                stats = [
                    {
                        "med": r["tokens_per_line_p50"],
                        "q1": r["tokens_per_line_p25"],
                        "q3": r["tokens_per_line_p75"],
                        "whislo": r["tokens_per_line_p5"],
                        "whishi": r["tokens_per_line_p95"],
                        "label": r["language"],
                    }
                    for r in rows
                ]
                art = ax.bxp(
                    stats, positions=offsets, widths=step * 0.85, showfliers=False,
                    patch_artist=True, manage_ticks=False,
                    boxprops={"facecolor": colors[j], "alpha": 0.8},
                    medianprops={"color": "black"},
                )  # fmt: skip
                for box, lang in zip(art["boxes"], languages, strict=True):
                    box.set_gid(f"{panel}-{_ident(tok)}-{_ident(lang)}")
                ax.plot([], [], color=colors[j], linewidth=8, label=tok)  # legend entry
            else:
                heights = [r[panel] or 0.0 for r in rows]
                bars = ax.bar(offsets, heights, width=step * 0.9, color=colors[j], label=tok)
                for bar, lang in zip(bars, languages, strict=True):
                    bar.set_gid(f"{panel}-{_ident(tok)}-{_ident(lang)}")
        ax.set_xticks(list(xs), languages, rotation=60 if len(languages) > 12 else 0)
        ax.set_xlim(-0.6, len(languages) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
        if panel == "premium":
            ref = next(r for r in records if r.get("premium") is not None)["reference"]
            ref_name = next((r["language_name"] for r in records if r["language"] == ref), ref)
            ax.axhline(1.0, color="gray", linewidth=1, linestyle="--")
            ax.set_ylabel(f"tokens / {ref_name} tokens")
            ax.set_title(f"Token premium: tokens for the same content relative to {ref_name}")
        elif panel == "tokens_per_char":
            ax.set_ylabel("tokens per character")
            ax.set_title("Tokens per character")
        else:
            ax.set_ylabel("tokens per line")
            ax.set_title("Tokens per line (box 25-75%, whiskers 5-95%, median)")
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Write `fig` as PNG or SVG, chosen by the file's suffix, at the figure's own pixel size.

    >>> save_figure(object(), "plot.jpg")
    Traceback (most recent call last):
    ValueError: plot file 'plot.jpg': the name must end in .png or .svg
    """
    import matplotlib

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(f"plot file {os.fspath(path)!r}: the name must end in .png or .svg")
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "toklm"}):
        try:
            fig.savefig(path, format=suffix[1:], dpi=_DPI)
        except OSError as e:
            msg = f"plot file {os.fspath(path)!r}: cannot write: {e.strerror or e}"
            raise ValueError(msg) from None
