"""A small document model that every lensbench report is built from.

A :class:`Document` holds :class:`Section` s; a section holds blocks: :class:`Paragraph`,
:class:`Notice`, :class:`Table`, :class:`Figure`, :class:`KeyValues` and :class:`Code`. All are
frozen dataclasses holding plain text, so one document renders the same to Markdown
(:func:`lensbench.report.markdown.render_markdown`) and to a self-contained HTML page
(:func:`lensbench.report.html.render_html`). Text is plain text, never markup: renderers escape it.

Numbers in tables keep their physical units in the column names (arcsec, Msun, kpc, muas/yr, s);
:func:`format_cell` only decides how many digits to show.
"""

from __future__ import annotations

import io
import math
import numbers
import pickle
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence, Union

import numpy as np

if TYPE_CHECKING:
    import matplotlib.figure

#: A table cell or key-value value: text, a number (Python or numpy scalar) or missing.
Cell = Union[str, int, float, None]

#: Largest PNG a :class:`Figure` may hold, in bytes.
MAX_FIGURE_BYTES = 200_000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIRST_DPI = 100
LOWEST_DPI = 30
DPI_MARGIN = 0.95  # aim a little under the limit so the next attempt usually fits
SIGNIFICANT_DIGITS = 4


def is_numeric_cell(value: Cell) -> bool:
    """True when a cell holds a number (not a bool, not text, not missing)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def format_cell(value: Cell) -> str:
    """Format one table cell as text.

    Parameters
    ----------
    value : str, int, float, bool or None
        The cell; numpy scalars are accepted like Python numbers.

    Returns
    -------
    str
        ``"—"`` for None; integers in full; floats with 4 significant digits, trailing zeros
        kept so a column shows its precision (all integer digits are kept below 1e6), scientific
        notation below 1e-3 and from 1e6; ``nan``/``inf`` as such.
    """
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _format_float(float(value))
    raise TypeError(f"a table cell must be str, int, float or None, got {type(value).__name__}")


def _format_float(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == 0.0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e6:
        integer_digits = math.floor(math.log10(magnitude)) + 1
        digits = max(SIGNIFICANT_DIGITS, integer_digits)
        return f"{value:#.{digits}g}".rstrip(".")
    return f"{value:#.{SIGNIFICANT_DIGITS}g}"


def _check_cell(value, where: str) -> None:
    if value is None or isinstance(value, (str, numbers.Real, np.bool_)):
        return
    raise TypeError(f"{where}: a cell must be str, int, float or None, got {type(value).__name__}")


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text (whitespace, line breaks included, is collapsed when rendered).

    Parameters
    ----------
    text : str
        The text; never interpreted as Markdown or HTML.
    """

    text: str


@dataclass(frozen=True)
class Notice:
    """A paragraph the reader must not miss (shown as a framed banner), e.g. that a run is reduced.

    Parameters
    ----------
    text : str
        The text; plain text like a :class:`Paragraph`.
    """

    text: str


@dataclass(frozen=True)
class Table:
    """A table of text and numbers.

    Parameters
    ----------
    columns : sequence of str
        Column names; give units in them, e.g. ``"wall time (s)"``.
    rows : sequence of sequences of cells
        Each row has one cell per column: str, int, float or None (shown as a dash).
    caption : str
        One sentence saying what the table shows.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""

    def __post_init__(self):
        columns = tuple(str(name) for name in self.columns)
        rows = tuple(tuple(row) for row in self.rows)
        for index, row in enumerate(rows):
            if len(row) != len(columns):
                raise ValueError(
                    f"table {self.caption!r}: row {index} has {len(row)} cells, "
                    f"expected {len(columns)} (one per column)"
                )
            for column, cell in zip(columns, row):
                _check_cell(cell, f"table {self.caption!r}, row {index}, column {column!r}")
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "rows", rows)

    def numeric_columns(self) -> tuple[bool, ...]:
        """For each column, whether every present cell is a number (such columns align right)."""
        if not self.rows:
            return tuple(False for _ in self.columns)
        return tuple(_holds_only_numbers(column) for column in zip(*self.rows))


def _holds_only_numbers(cells: Sequence[Cell]) -> bool:
    present = [cell for cell in cells if cell is not None]
    return bool(present) and all(is_numeric_cell(cell) for cell in present)


@dataclass(frozen=True)
class Figure:
    """A figure as PNG bytes.

    Parameters
    ----------
    name : str
        File stem, unique within a document: letters, digits, ``_``, ``.`` and ``-``;
        the Markdown renderer writes it to ``figures/<name>.png``.
    png_bytes : bytes
        The PNG image, at most :data:`MAX_FIGURE_BYTES` bytes.
    caption : str
        What the figure shows, with units.
    """

    name: str
    png_bytes: bytes = field(repr=False)
    caption: str = ""

    def __post_init__(self):
        if not FIGURE_NAME_PATTERN.match(self.name):
            raise ValueError(
                f"figure name {self.name!r} must start with a letter or digit and hold only "
                "letters, digits, '_', '.' and '-'"
            )
        if not bytes(self.png_bytes[:8]) == PNG_SIGNATURE:
            raise ValueError(f"figure {self.name!r}: png_bytes is not a PNG image")
        if len(self.png_bytes) > MAX_FIGURE_BYTES:
            raise ValueError(
                f"figure {self.name!r}: PNG of {len(self.png_bytes)} bytes exceeds "
                f"{MAX_FIGURE_BYTES} bytes"
            )

    @classmethod
    def from_matplotlib(
        cls, name: str, fig: "matplotlib.figure.Figure", caption: str = "",
        max_bytes: int = MAX_FIGURE_BYTES,
    ) -> "Figure":
        """Render a matplotlib figure to PNG at the highest dpi that stays under ``max_bytes``.

        Starts at 100 dpi and lowers the resolution (never below 30 dpi) until the PNG fits,
        assuming size ~ dpi**k: k = 2 (size grows with the pixel count) at first, then k measured
        from the last two attempts (it falls towards 0 for images drawn pixel for pixel above
        their own resolution). Every attempt draws a fresh copy of ``fig`` (pickled once):
        matplotlib's constrained layout starts each draw from the previous one, so drawing ``fig``
        itself would make the bytes depend on how often it was drawn before.

        Parameters
        ----------
        name : str
            File stem of the figure (see :class:`Figure`).
        fig : matplotlib.figure.Figure
            The figure; it is neither drawn nor modified.
        caption : str
            What the figure shows, with units.
        max_bytes : int
            Size limit of the PNG in bytes.

        Raises
        ------
        ValueError
            When even 30 dpi gives a PNG over ``max_bytes``.
        """
        snapshot = pickle.dumps(fig)
        dpi, previous = FIRST_DPI, None
        while True:
            png = render_png(pickle.loads(snapshot), dpi)
            if len(png) <= max_bytes:
                return cls(name=name, png_bytes=png, caption=caption)
            if dpi == LOWEST_DPI:
                raise ValueError(
                    f"figure {name!r}: {len(png)} bytes at {dpi} dpi, over {max_bytes} bytes; "
                    "make the figure smaller"
                )
            exponent = _size_exponent(previous, (dpi, len(png)))
            previous = (dpi, len(png))
            wanted = int(dpi * DPI_MARGIN * (max_bytes / len(png)) ** (1.0 / exponent))
            dpi = max(LOWEST_DPI, min(wanted, dpi - 1))


def _size_exponent(previous: tuple[int, int] | None, current: tuple[int, int]) -> float:
    """k in PNG size ~ dpi**k from two (dpi, bytes) attempts, kept in [0.5, 2]; 2 without a
    previous attempt."""
    if previous is None:
        return 2.0
    (previous_dpi, previous_size), (dpi, size) = previous, current
    measured = math.log(previous_size / size) / math.log(previous_dpi / dpi)
    return min(2.0, max(0.5, measured))


def render_png(fig: "matplotlib.figure.Figure", dpi: int) -> bytes:
    """PNG bytes of a matplotlib figure at ``dpi`` dots per inch, with a 256-colour palette.

    Matplotlib's RGBA output is reduced to its 256 most representative colours (median cut, no
    dithering, which would add noise): colour maps have 256 entries anyway, and the palette PNG is
    about a third of the size, so figures keep a higher resolution under the size limit.
    No software tag is written.
    """
    from PIL import Image

    rgba = io.BytesIO()
    fig.savefig(rgba, format="png", dpi=dpi, facecolor="white")
    palette = Image.open(rgba).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@dataclass(frozen=True)
class KeyValues:
    """Named values shown as a list, e.g. provenance.

    Parameters
    ----------
    entries : mapping of str to cell
        Names and values in display order; values are formatted like table cells.
    """

    entries: tuple[tuple[str, Cell], ...]

    def __post_init__(self):
        items = self.entries.items() if isinstance(self.entries, Mapping) else self.entries
        entries = tuple((str(key), value) for key, value in items)
        for key, value in entries:
            _check_cell(value, f"key-value {key!r}")
        object.__setattr__(self, "entries", entries)


@dataclass(frozen=True)
class Code:
    """A block of verbatim text, e.g. the resolved spec.

    Parameters
    ----------
    text : str
        The text, shown as it is.
    language : str
        Language name for syntax hints (``"toml"``, ``"python"``), or ``""``.
    """

    text: str
    language: str = ""


Block = Union[Paragraph, Notice, Table, Figure, KeyValues, Code]
BLOCK_TYPES = (Paragraph, Notice, Table, Figure, KeyValues, Code)


@dataclass(frozen=True)
class Section:
    """A titled part of a document.

    Parameters
    ----------
    title : str
        Section heading, listed in the table of contents.
    blocks : sequence of blocks
        Paragraphs, tables, figures, key-values and code, in order.
    """

    title: str
    blocks: tuple[Block, ...] = ()

    def __post_init__(self):
        blocks = tuple(self.blocks)
        for block in blocks:
            if not isinstance(block, BLOCK_TYPES):
                raise TypeError(f"section {self.title!r}: {type(block).__name__} is not a block")
        object.__setattr__(self, "blocks", blocks)


@dataclass(frozen=True)
class Document:
    """A whole report.

    Parameters
    ----------
    title : str
        Title of the report.
    sections : sequence of Section
        The sections in order; figure names must be unique across all of them.
    """

    title: str
    sections: tuple[Section, ...] = ()

    def __post_init__(self):
        sections = tuple(self.sections)
        names = [block.name for block in _blocks_of(sections) if isinstance(block, Figure)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"figure names must be unique; repeated: {', '.join(repeated)}")
        object.__setattr__(self, "sections", sections)

    def figures(self) -> tuple[Figure, ...]:
        """Every figure of the document, in order."""
        return tuple(block for block in _blocks_of(self.sections) if isinstance(block, Figure))


def _blocks_of(sections: Sequence[Section]):
    return (block for section in sections for block in section.blocks)


def section_anchors(doc: Document) -> tuple[str, ...]:
    """A unique, URL-safe anchor for each section, derived from its title (``results``, ...)."""
    anchors: list[str] = []
    for section in doc.sections:
        base = re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-") or "section"
        anchor, suffix = base, 2
        while anchor in anchors:
            anchor, suffix = f"{base}-{suffix}", suffix + 1
        anchors.append(anchor)
    return tuple(anchors)
