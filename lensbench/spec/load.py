"""Read a spec: TOML files joined by ``extends``, a preset, and ``--set`` overrides.

Every key keeps where it came from (file and line), so the schema can report each problem as
``specs/x.toml:12: training.epochs: must be >= 1``. Precedence, last wins:
defaults (schema) < base files (``extends``) < the spec file < ``[presets.NAME]`` < ``--set``.

Specs are data: they are parsed with :mod:`tomllib` and never executed.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensbench.errors import SpecError, SpecIssue

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

COMMAND_LINE = "<command line>"

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""")
_PART = re.compile(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""")


@dataclass(frozen=True)
class Origin:
    """Where a value came from: a file (or the command line) and a 1-based line."""

    file: str
    line: int | None


@dataclass
class RawSpec:
    """A spec merged from its files, before validation.

    Attributes
    ----------
    path : Path
        The spec file the user named.
    data : dict
        The merged TOML tables (``extends`` and ``presets`` already applied and removed).
    origins : dict[str, Origin]
        Dotted key -> where its value was set.
    preset : str or None
        The preset applied, if any.
    presets : list[str]
        Every preset the spec defines.
    """

    path: Path
    data: dict
    origins: dict[str, Origin] = field(default_factory=dict)
    preset: str | None = None
    presets: list[str] = field(default_factory=list)

    def origin(self, key: str) -> Origin:
        """Where ``key`` (dotted) was set; falls back to its closest enclosing table, then the file."""
        parts = key.split(".")
        while parts:
            found = self.origins.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return Origin(display_path(self.path), None)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _split_key(text: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in _PART.findall(text)]


def index_lines(text: str) -> dict[str, int]:
    """Map every dotted key written in TOML ``text`` to its 1-based line number.

    Table headers and ``key = value`` lines are indexed; keys inside inline tables and
    multi-line values fall back to the key that holds them (see :meth:`RawSpec.origin`).
    """
    index: dict[str, int] = {}
    table: list[str] = []
    depth = 0  # open brackets of a multi-line array or inline table
    in_multiline_string = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_multiline_string:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline_string = False
            continue
        if depth == 0:
            header = _HEADER.match(line)
            if header and "=" not in header.group(1):
                table = _split_key(header.group(1))
                index.setdefault(".".join(table), lineno)
                continue
            key = _KEY.match(line)
            if key:
                dotted = ".".join(table + _split_key(key.group(1)))
                index[dotted] = lineno
                line = line[key.end():]
        if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
            in_multiline_string = True
        stripped = re.sub(r'"(?:\\.|[^"\\])*"|\'[^\']*\'', "", line).split("#", 1)[0]
        depth = max(0, depth + stripped.count("[") + stripped.count("{") - stripped.count("]") - stripped.count("}"))
    return index


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of every leaf in ``data``, as overrides are applied (presets, grid variants).

    A prior table (``{ dist = ... }``) and an empty table are leaves: an override replaces a
    prior whole, so changing ``uniform`` to ``normal`` leaves no stale ``low``/``high`` behind.
    """
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and "dist" not in value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _deep_merge(base: dict, top: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``dotted = "a.b.c"``, creating tables on the way."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _read_file(path: Path, chain: tuple[Path, ...], issues: list[SpecIssue]) -> tuple[dict, dict[str, Origin]]:
    """Read one TOML file and, first, the files it ``extends`` (recursively)."""
    shown = display_path(path)
    if path in chain:
        cycle = " -> ".join(display_path(p) for p in chain + (path,))
        issues.append(SpecIssue(display_path(chain[-1]), None, "extends", f"circular extends: {cycle}"))
        return {}, {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = display_path(chain[-1]) if chain else shown
        issues.append(SpecIssue(where, None, "extends" if chain else "", f"file not found: {shown}"))
        return {}, {}
    except (OSError, UnicodeDecodeError) as err:
        issues.append(SpecIssue(shown, None, "", f"cannot read file: {err}"))
        return {}, {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        issues.append(SpecIssue(shown, int(match.group(1)) if match else None, "", f"TOML syntax error: {message}"))
        return {}, {}
    lines = index_lines(text)
    origins = {key: Origin(shown, line) for key, line in lines.items()}
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, origins
    if not isinstance(base_name, str):
        issues.append(SpecIssue(shown, lines.get("extends"), "extends", "must be a path (string) to a base spec"))
        return data, origins
    base_data, base_origins = _read_file((path.parent / base_name).resolve(), chain + (path,), issues)
    return _deep_merge(base_data, data), {**base_origins, **origins}


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``--set a.b=value``; the value is read as TOML (``3``, ``1e-3``, ``"x"``, ``[1, 2]``,
    ``true``) and taken as a plain string when it is not valid TOML."""
    if "=" not in text:
        raise ValueError(f"--set expects KEY=VALUE, got {text!r}")
    key, value = (s.strip() for s in text.split("=", 1))
    if not key or not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", key):
        raise ValueError(f"--set: bad key {key!r} (expected dotted words such as training.epochs)")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def load_raw(path, preset: str | None = None, overrides=()) -> RawSpec:
    """Read the spec at ``path`` with its bases, apply ``preset`` and ``overrides``.

    Raises
    ------
    SpecError
        With every problem found: missing files, TOML syntax, circular ``extends``, an unknown
        preset, malformed ``--set``.
    """
    path = Path(path).resolve()
    issues: list[SpecIssue] = []
    data, origins = _read_file(path, (), issues)
    if issues:
        raise SpecError(issues)
    presets = data.pop("presets", {})
    if not isinstance(presets, dict):
        raise SpecError([SpecIssue(display_path(path), origins.get("presets", Origin("", None)).line, "presets",
                                   "must be a table of named presets, e.g. [presets.quick]")])
    raw = RawSpec(path=path, data=data, origins=origins, preset=preset, presets=sorted(presets))
    if preset is not None:
        if preset not in presets:
            known = ", ".join(sorted(presets)) or "none defined"
            raise SpecError([SpecIssue(display_path(path), None, "presets", f"unknown preset '{preset}'; one of: {known}")])
        for dotted, value in flatten(presets[preset]).items():
            set_dotted(raw.data, dotted, copy.deepcopy(value))
            raw.origins[dotted] = raw.origin(f"presets.{preset}.{dotted}")
    for text in overrides:
        try:
            dotted, value = parse_override(text)
        except ValueError as err:
            issues.append(SpecIssue(COMMAND_LINE, None, "", str(err)))
            continue
        set_dotted(raw.data, dotted, value)
        raw.origins[dotted] = Origin(COMMAND_LINE, None)
        for key in [k for k in raw.origins if k.startswith(dotted + ".")]:
            raw.origins[key] = Origin(COMMAND_LINE, None)
    if issues:
        raise SpecError(issues)
    return raw
