"""The spec reference (:mod:`lensbench.spec.reference`) as terminal text and as Markdown.

:func:`text` is what ``lensbench explain`` prints; :func:`markdown` is
``docs/spec-reference.md``. Both show, for every key, its type, unit, default, allowed values and
meaning, and for a kind's ``[survey]`` the values of each named scenario.
"""

from __future__ import annotations

import textwrap

PREAMBLE = """\
# Spec reference

Every key of every spec section, generated from the dataclasses that validate specs. Regenerate
with `python3 -m lensbench.spec.reference > docs/spec-reference.md`; in a terminal,
`lensbench explain [SECTION[.KEY]] [--kind KIND]` shows the same.

A spec is TOML: `extends = "base.toml"` merges a base spec first, `[presets.NAME]` tables hold
dotted overrides applied with `--preset NAME`, and `--set a.b=3` overrides last. `unset` means
the key may be omitted; `required` that it must be written. `<name>` stands for a name you
choose (a class, a variant). Priors are a number (fixed) or a table
`{ dist = "uniform", low = 0, high = 1 }` with `dist` one of fixed, uniform, loguniform, normal,
lognormal (`mu`, `sigma`; normal and lognormal truncatable with `low`/`high`).
"""


def _title(doc) -> str:
    return f"[{doc.name}]" + (f' (kind = "{doc.kind}")' if doc.kind else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(docs: list) -> str:
    """The Markdown reference of ``docs`` (:class:`~lensbench.spec.reference.SectionDoc` objects):
    a table of keys per section, then its named surveys and notes."""
    out = [PREAMBLE.rstrip("\n")]
    for doc in docs:
        out += ["", f"## {_title(doc)}", ""]
        if doc.summary:
            out += [doc.summary, ""]
        out += ["| Key | Type | Unit | Default | Allowed | Meaning |", "|---|---|---|---|---|---|"]
        out += [f"| `{k.key}` | {k.type} | {k.unit} | `{_cell(k.default)}` | {_cell(k.allowed)} | {_cell(k.meaning)} |"
                for k in doc.keys]
        if doc.scenarios:
            names = list(doc.scenarios)
            out += ["", f"Named surveys (`scenario = \"NAME\"`) of kind `{doc.kind}`:", "",
                    "| Key | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
            keys = list(next(iter(doc.scenarios.values())))
            out += [f"| `{key}` | " + " | ".join(f"`{doc.scenarios[n][key]}`" for n in names) + " |" for key in keys]
        if doc.notes:
            out += [""] + [f"- {_cell(note)}" for _, note in doc.notes]
    return "\n".join(out) + "\n"


def text(docs: list, width: int = 100) -> str:
    """The terminal reference of ``docs``: per key a line ``key = default  type [unit]; allowed``
    and its meaning indented below; then each named survey's values and the notes."""
    out = []
    for doc in docs:
        out += ["", _title(doc)]
        if doc.summary:
            out += textwrap.wrap(doc.summary.replace("`", ""), width)
        for k in doc.keys:
            unit = f" [{k.unit}]" if k.unit else ""
            allowed = f"; {k.allowed}" if k.allowed else ""
            out += [""] + textwrap.wrap(f"{k.key} = {k.default}", width, initial_indent="  ",
                                        subsequent_indent="        ") + [f"      {k.type}{unit}{allowed}"]
            out += textwrap.wrap(k.meaning.replace("`", ""), width, initial_indent="      ", subsequent_indent="      ")
        if doc.scenarios:
            out += ["", f"  named surveys of kind {doc.kind} (scenario = \"NAME\"):"]
            for name, values in doc.scenarios.items():
                line = ", ".join(f"{k} = {v}" for k, v in values.items())
                out += textwrap.wrap(f"{name}: {line}", width, initial_indent="    ", subsequent_indent="        ")
        out += [""] if doc.notes else []
        for _, note in doc.notes:
            out += textwrap.wrap(note.replace("`", ""), width, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(out).lstrip("\n") + "\n"
