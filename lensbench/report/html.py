"""Render a :class:`~lensbench.report.document.Document` to an HTML page.

By default the page needs nothing but itself: the style sheet is inline, figures are base64
``data:`` URIs, and a Content-Security-Policy forbids the browser any other request. A report with
many figures links them instead (``figures_dir``: the PNG files beside the page), and its policy
then allows images from the page's own folder alone. All document text is escaped.
"""

from __future__ import annotations

import base64
import html
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
    section_anchors,
)

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
LINKED_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
"""The policy of a page whose figures are files beside it (``render_html(doc, figures_dir=...)``)."""

STYLE = """
:root { --ink: #1d232b; --muted: #5b6570; --rule: #d8dde3; --band: #f4f6f8; --accent: #2f5d8c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue",
  Arial, sans-serif; }
main { max-width: 80rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: 0 0 1rem; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 0.8rem; padding-bottom: 0.3rem;
  border-bottom: 1px solid var(--rule); }
a { color: var(--accent); }
p { margin: 0.7rem 0; max-width: 56rem; }
p.notice { max-width: none; background: #fff4d6; border: 1px solid #e0b94a; border-left: 5px solid #c98f00;
  border-radius: 4px; padding: 0.6rem 0.9rem; }
nav.toc { background: var(--band); border: 1px solid var(--rule); border-radius: 6px;
  padding: 0.5rem 1.2rem; margin: 0 0 1.5rem; }
nav.toc h2 { font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); border: 0; margin: 0 0 0.3rem; padding: 0; }
nav.toc ol { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 0.1rem 1.4rem; }
.table-wrap { overflow-x: auto; margin: 1rem 0 1.5rem; }
table { border-collapse: collapse; font-size: 0.92rem; }
p.caption { color: var(--muted); margin: 0 0 0.4rem; font-size: 0.9rem; }
th, td { padding: 0.35rem 0.75rem; border-bottom: 1px solid var(--rule); text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--band); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: var(--muted); }
figure { margin: 1.5rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.4rem; }
.label { font-weight: 600; color: var(--ink); }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1.2rem;
  margin: 1rem 0; font-size: 0.95rem; }
dl.kv dt { font-weight: 600; }
dl.kv dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
pre { background: var(--band); border: 1px solid var(--rule); border-radius: 6px;
  padding: 0.8rem 1rem; overflow-x: auto; font-size: 0.85rem; line-height: 1.45; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""


def escape(text) -> str:
    """Text escaped for HTML element content and attribute values."""
    return html.escape(str(text), quote=True)


def render_html(doc: Document, figures_dir: str | None = None) -> str:
    """Render a document to an HTML page.

    Parameters
    ----------
    doc : Document
        The report.
    figures_dir : str or None
        None: figures are embedded as base64 PNG ``data:`` URIs and the page makes no request
        outside itself. A folder name: figures are linked as ``<figures_dir>/<name>.png`` (the
        files :func:`lensbench.report.markdown.render_markdown` names), for reports whose
        figures would make the page too heavy to open or to keep in a repository.

    Returns
    -------
    str
        A complete HTML5 page with inline CSS and a table of contents.
    """
    counters = {"table": 0, "figure": 0}
    anchors = section_anchors(doc)
    body = [f"<h1>{escape(doc.title)}</h1>", _render_contents(doc, anchors)]
    for section, anchor in zip(doc.sections, anchors):
        body.append(f'<section id="{anchor}">\n<h2>{escape(section.title)}</h2>')
        body += [_render_block(block, counters, figures_dir) for block in section.blocks]
        body.append("</section>")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" '
        f'content="{CONTENT_SECURITY_POLICY if figures_dir is None else LINKED_CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(doc.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        *body,
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def _render_contents(doc: Document, anchors) -> str:
    if not doc.sections:
        return ""
    items = "\n".join(
        f'<li><a href="#{anchor}">{escape(section.title)}</a></li>'
        for section, anchor in zip(doc.sections, anchors)
    )
    return f'<nav class="toc">\n<h2>Contents</h2>\n<ol>\n{items}\n</ol>\n</nav>'


def _render_block(block, counters: dict, figures_dir: str | None) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(' '.join(block.text.split()))}</p>"
    if isinstance(block, Notice):
        return f'<p class="notice">{escape(" ".join(block.text.split()))}</p>'
    if isinstance(block, Table):
        counters["table"] += 1
        return _render_table(block, counters["table"])
    if isinstance(block, Figure):
        counters["figure"] += 1
        return _render_figure(block, counters["figure"], figures_dir)
    if isinstance(block, KeyValues):
        return _render_key_values(block)
    if isinstance(block, Code):
        return _render_code(block)
    raise TypeError(f"cannot render {type(block).__name__} to HTML")


def _render_table(table: Table, number: int) -> str:
    numeric = table.numeric_columns()
    caption = (
        f'<p class="caption"><span class="label">Table {number}.</span> {escape(table.caption)}</p>'
        if table.caption else ""
    )
    header = "".join(
        f'<th{_numeric_class(is_numeric)} scope="col">{escape(name)}</th>'
        for name, is_numeric in zip(table.columns, numeric)
    )
    rows = "\n".join(
        "<tr>" + "".join(_render_cell(cell, is_numeric) for cell, is_numeric in zip(row, numeric))
        + "</tr>"
        for row in table.rows
    )
    return (
        f'<div class="table-wrap">{caption}<table>\n<thead><tr>{header}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody></table></div>"
    )


def _numeric_class(is_numeric: bool) -> str:
    return ' class="num"' if is_numeric else ""


def _render_cell(cell, is_numeric: bool) -> str:
    classes = (["num"] if is_numeric else []) + (["missing"] if cell is None else [])
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attribute}>{escape(format_cell(cell))}</td>"


def _render_figure(figure: Figure, number: int, figures_dir: str | None) -> str:
    if figures_dir is None:
        source = "data:image/png;base64," + base64.b64encode(figure.png_bytes).decode("ascii")
    else:
        source = f"{figures_dir}/{figure.name}.png"
    alt = escape(figure.caption or figure.name)
    return (
        f'<figure id="figure-{escape(figure.name)}">'
        f'<img src="{escape(source)}" alt="{alt}" loading="lazy">'
        f'<figcaption><span class="label">Figure {number}.</span> {escape(figure.caption)}'
        "</figcaption></figure>"
    )


def _render_key_values(block: KeyValues) -> str:
    items = "\n".join(
        f"<dt>{escape(key)}</dt><dd>{escape(format_cell(value))}</dd>"
        for key, value in block.entries
    )
    return f'<dl class="kv">\n{items}\n</dl>'


def _render_code(block: Code) -> str:
    language = re.sub(r"[^A-Za-z0-9_+-]", "", block.language)
    attribute = f' class="language-{language}"' if language else ""
    return f"<pre><code{attribute}>{escape(block.text.rstrip())}</code></pre>"
