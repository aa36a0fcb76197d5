"""Render a :class:`~lensbench.report.document.Document` to GitHub-flavoured Markdown.

Figures become image links into a figures folder; the PNG bytes are returned beside the text so
the caller decides where to write them. All document text is plain text: every Markdown
punctuation character in it is backslash-escaped, so it renders exactly as written.
"""

from __future__ import annotations

import re

from lensbench.report.document import (
    Code,
    Document,
    Figure,
    KeyValues,
    Notice,
    Paragraph,
    Table,
    format_cell,
)

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&!{}])")
BULLET_OR_RULE = re.compile(r"^([-+=])(?=\s|$|\1+$)")  # "- item", "+ item", "---", "==="
ORDERED_ITEM = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")  # "1. item", "2) item"
FOLDER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def escape_markdown(text: str) -> str:
    """Plain text as inline Markdown that renders to the same text.

    Whitespace (line breaks included) collapses to single spaces, Markdown punctuation is
    backslash-escaped, and a leading list or heading marker is neutralised.
    """
    collapsed = " ".join(str(text).split())
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", collapsed)
    return ORDERED_ITEM.sub(r"\1\\\2", BULLET_OR_RULE.sub(r"\\\1", escaped))


def render_markdown(doc: Document, figures_dir_name: str = "figures") -> tuple[str, dict[str, bytes]]:
    """Render a document to Markdown.

    Parameters
    ----------
    doc : Document
        The report.
    figures_dir_name : str
        Folder, relative to the Markdown file, that figures are linked from.

    Returns
    -------
    text : str
        The Markdown, ending in a newline.
    figures : dict of str to bytes
        ``{"<figures_dir_name>/<name>.png": png_bytes}`` for every figure, in document order.
    """
    if not FOLDER_NAME.match(figures_dir_name):
        raise ValueError(f"figures_dir_name {figures_dir_name!r} must be a plain folder name")
    counters = {"table": 0, "figure": 0}
    parts = [f"# {escape_markdown(doc.title)}"]
    files: dict[str, bytes] = {}
    for section in doc.sections:
        parts.append(f"## {escape_markdown(section.title)}")
        for block in section.blocks:
            parts.append(_render_block(block, figures_dir_name, counters, files))
    return "\n\n".join(parts) + "\n", files


def _render_block(block, figures_dir_name: str, counters: dict, files: dict) -> str:
    if isinstance(block, Paragraph):
        return escape_markdown(block.text)
    if isinstance(block, Notice):
        return f"> **Note.** {escape_markdown(block.text)}"
    if isinstance(block, Table):
        counters["table"] += 1
        return _render_table(block, counters["table"])
    if isinstance(block, Figure):
        counters["figure"] += 1
        path = f"{figures_dir_name}/{block.name}.png"
        files[path] = block.png_bytes
        return _render_figure(block, path, counters["figure"])
    if isinstance(block, KeyValues):
        return _render_key_values(block)
    if isinstance(block, Code):
        return _render_code(block)
    raise TypeError(f"cannot render {type(block).__name__} to Markdown")


def _render_table(table: Table, number: int) -> str:
    lines = []
    if table.caption:
        lines += [f"**Table {number}.** {escape_markdown(table.caption)}", ""]
    lines.append(_table_row(table.columns))
    lines.append("|" + "|".join("---:" if numeric else "---" for numeric in table.numeric_columns()) + "|")
    lines += [_table_row(format_cell(cell) for cell in row) for row in table.rows]
    return "\n".join(lines)


def _table_row(cells) -> str:
    return "| " + " | ".join(escape_markdown(cell) for cell in cells) + " |"


def _render_figure(figure: Figure, path: str, number: int) -> str:
    alt = escape_markdown(figure.caption or figure.name)
    caption = f"**Figure {number}.** {escape_markdown(figure.caption)}".rstrip()
    return f"![{alt}]({path})\n\n{caption}"


def _render_key_values(block: KeyValues) -> str:
    return "\n".join(
        f"- **{escape_markdown(key)}:** {escape_markdown(format_cell(value))}"
        for key, value in block.entries
    )


def _render_code(block: Code) -> str:
    longest_backtick_run = max((len(run) for run in re.findall(r"`+", block.text)), default=0)
    fence = "`" * max(3, longest_backtick_run + 1)
    language = re.sub(r"[^A-Za-z0-9_+-]", "", block.language)
    return f"{fence}{language}\n{block.text.rstrip()}\n{fence}"
