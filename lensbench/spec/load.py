"""Read a spec: TOML files joined by ``extends``, a preset, and ``--set`` overrides.

Every key keeps where it came from (file and line), so the schema can report each problem as
``specs/x.toml:12: training.epochs: must be >= 1``. Precedence, last wins:
defaults (schema) < base files (``extends``) < the spec file < ``[presets.NAME]`` < ``--set``.

Specs are data: they are parsed with :mod:`tomllib` and never executed.
"""

from __future__ import annotations

import copy
import re
import stat
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


MAX_SPEC_BYTES = 1_000_000
"""Largest spec file read (bytes): a spec is a page of settings, not data."""
MAX_NESTING = 32
"""Deepest nesting of arrays and inline tables in a spec (tomllib recurses once per level)."""

_NESTING_TOKEN = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]')


def too_deep(text: str, limit: int = MAX_NESTING) -> int | None:
    """The 1-based line where arrays and inline tables in TOML ``text`` (outside strings and
    comments) first nest deeper than ``limit``; None when they never do."""
    depth = 0
    for token in _NESTING_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > limit:
                return text.count("\n", 0, token.start()) + 1
        elif bracket in ("]", "}"):
            depth = max(0, depth - 1)
    return None


def _table_depth(data) -> int:
    """How deeply tables and arrays nest in parsed ``data`` (dotted keys included), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _read_text(path: Path, shown: str, via: Origin | None, issues: list[SpecIssue]) -> str | None:
    """The text of spec file ``path``, or None after recording why it cannot be read.

    Problems with a file named by ``extends`` are reported at that ``extends`` key (``via``).
    """
    where, line, key = (via.file, via.line, "extends") if via else (shown, None, "")
    try:
        info = path.stat()
    except FileNotFoundError:
        issues.append(SpecIssue(where, line, key, f"file not found: {shown}"))
        return None
    except OSError as err:
        issues.append(SpecIssue(where, line, key, f"cannot read {shown}: {err.strerror or err}"))
        return None
    if stat.S_ISDIR(info.st_mode):
        issues.append(SpecIssue(where, line, key, f"{shown} is a folder, not a spec file"))
        return None
    if not stat.S_ISREG(info.st_mode):
        issues.append(SpecIssue(where, line, key, f"{shown} is not a regular file (a device, pipe or socket)"))
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as err:
        issues.append(SpecIssue(where, line, key, f"cannot read {shown}: {err.strerror or err}"))
        return None
    if len(data) > MAX_SPEC_BYTES:
        issues.append(SpecIssue(where, line, key, f"{shown} is larger than {MAX_SPEC_BYTES} bytes, too large for a spec"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        issues.append(SpecIssue(where, line, key, f"{shown} is not UTF-8 text: {err.reason} at byte {err.start}"))
        return None


def _read_file(path: Path, chain: tuple[Path, ...], issues: list[SpecIssue],
               via: Origin | None = None) -> tuple[dict, dict[str, Origin]]:
    """Read one TOML file and, first, the files it ``extends`` (recursively); ``via`` is the
    ``extends`` key that named ``path``."""
    shown = display_path(path)
    if path in chain:
        cycle = " -> ".join(display_path(p) for p in chain + (path,))
        issues.append(SpecIssue(via.file, via.line, "extends", f"circular extends: {cycle}"))
        return {}, {}
    text = _read_text(path, shown, via, issues)
    if text is None:
        return {}, {}
    line = too_deep(text)
    if line is not None:
        issues.append(SpecIssue(shown, line, "", f"arrays or inline tables nested deeper than {MAX_NESTING} levels"))
        return {}, {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        issues.append(SpecIssue(shown, int(match.group(1)) if match else None, "", f"TOML syntax error: {message}"))
        return {}, {}
    lines = index_lines(text)
    if _table_depth(data) > MAX_NESTING:
        deepest = max(lines, key=lambda k: k.count("."), default="")
        issues.append(SpecIssue(shown, lines.get(deepest), "", f"tables nested deeper than {MAX_NESTING} levels"))
        return {}, {}
    origins = {key: Origin(shown, line) for key, line in lines.items()}
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, origins
    if not isinstance(base_name, str) or not base_name or "\0" in base_name:
        issues.append(SpecIssue(shown, lines.get("extends"), "extends", "must be a path (string) to a base spec"))
        return data, origins
    base_data, base_origins = _read_file((path.parent / base_name).resolve(), chain + (path,), issues,
                                         Origin(shown, lines.get("extends")))
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
