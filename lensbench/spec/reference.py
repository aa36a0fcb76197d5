"""The spec reference: every key of every section, read from the dataclasses that validate it.

``lensbench explain [SECTION[.KEY]]`` prints it and ``docs/spec-reference.md`` is its Markdown
form, regenerated with::

    python3 -m lensbench.spec.reference > docs/spec-reference.md

(a test fails while the checked-in file is stale). The sections are those
:func:`lensbench.spec.schema.validate` uses: the engine's own (:data:`~lensbench.spec.schema.SECTIONS`),
``[simulation]`` and ``[survey]`` of each registered simulation kind with its named survey
scenarios, and the sections each task owns (:func:`lensbench.tasks.task_sections`). Nested
dataclasses are listed under dotted keys (``paper.citation``, ``classes.<name>.kind``). What
each key says (meaning, unit, allowed values) is read by :mod:`lensbench.spec.fielddoc`; the text
and Markdown renderings are in :mod:`lensbench.spec.reference_render`.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from lensbench.errors import UsageError
from lensbench.registry import unknown_message
from lensbench.spec.fielddoc import KeyDoc, key_docs, summary_of, toml_text


GRID_KEYS = (
    ("<section>.<key>", "array", 'One branch per value of that key (`"survey.scenario" = ["A", "B"]`); '
                                 "several axes are crossed, first axis slowest."),
    ("variants.<name>", "table", 'A named alternative: a table of dotted overrides (`"model.architecture" = '
                                 '"alexnet"`), one branch each, crossed with the other axes.'),
)
"""``[grid]`` is not a dataclass: its two forms, as :func:`lensbench.spec.schema._grid` reads them."""


@dataclass(frozen=True)
class SectionDoc:
    """One section (or one simulation kind's version of it).

    Attributes
    ----------
    name : str
        The section as a spec writes it (``survey``).
    kind : str
        The simulation kind this version belongs to, or empty.
    summary : str
        The first paragraph of its dataclass's docstring.
    keys : tuple of KeyDoc
    scenarios : dict
        Named surveys of the kind (``[survey] scenario``): name -> key -> TOML value.
    notes : tuple of (str, str)
        Further lines, each with the key it is about: prior names, each architecture's options.
    """

    name: str
    kind: str = ""
    summary: str = ""
    keys: tuple[KeyDoc, ...] = ()
    scenarios: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    notes: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------------------- sections
def _kinds():
    from lensbench.spec.schema import simulation_kinds

    return simulation_kinds()


def _kind_sections(name: str, kind_name: str) -> SectionDoc:
    kind = _kinds().get(kind_name)
    if name == "simulation":
        module = sys.modules.get(kind.config.__module__)
        priors = getattr(module, "PRIOR_NAMES", ())
        notes = (("priors", f"Prior names (`[simulation.priors]`): {', '.join(priors)}."),) if priors else ()
        kind_key = KeyDoc("kind", "string", "required", f"one of: {', '.join(_kinds().names())}",
                          meaning="The simulation kind; it decides the other keys of [simulation] and [survey].")
        return SectionDoc("simulation", kind_name, summary_of(kind.config),
                          (kind_key, *key_docs(kind.config)), notes=notes)
    scenario = KeyDoc("scenario", "string", "unset", "one of: " + (", ".join(kind.scenarios) or "none"),
                      meaning="A named survey: its values (below) are the defaults of the other keys, "
                              "which override them where written.")
    values = {name: {f.name: toml_text(getattr(survey, f.name)) for f in dataclasses.fields(survey)}
              for name, survey in kind.scenarios.items()}
    return SectionDoc("survey", kind_name, summary_of(kind.survey), (scenario, *key_docs(kind.survey)), values)


def _engine_section(name: str) -> SectionDoc:
    from lensbench.spec.schema import SECTIONS

    cls = SECTIONS[name]
    notes = ()
    if name == "model":
        from lensbench.models import ARCHITECTURES, model_options

        notes = tuple(("options", f"`options` of `{arch}`: " + (", ".join(f"{k} = {toml_text(v)}" for k, v in
                                                             model_options(arch).items()) or "none"))
                      for arch in ARCHITECTURES)
    return SectionDoc(name, "", summary_of(cls), tuple(key_docs(cls)), notes=notes)


def section_names() -> tuple[str, ...]:
    """Every section a spec may have, in the order of :data:`lensbench.spec.schema.BASE_SECTIONS`,
    then those the tasks own."""
    from lensbench.spec.schema import top_level

    return top_level()


def section_docs(name: str, kind: str | None = None) -> list[SectionDoc]:
    """The reference of section ``name`` (one per simulation kind for ``simulation``/``survey``,
    only ``kind``'s when given).

    Raises
    ------
    UsageError
        For an unknown section or kind (exit 2), listing the known ones.
    """
    from lensbench.spec.schema import SECTIONS

    names = section_names()
    if name not in names:
        raise UsageError(unknown_message("section", name, names))
    if kind is not None and kind not in _kinds():
        raise UsageError(_kinds().unknown_message(kind))
    if name in ("simulation", "survey"):
        return [_kind_sections(name, k) for k in _kinds().in_registration_order() if kind in (None, k)]
    if name == "grid":
        return [SectionDoc("grid", "", "Branches: one per value of each axis, axes crossed.",
                           tuple(KeyDoc(k, t, "unset", meaning=m) for k, t, m in GRID_KEYS))]
    if name in SECTIONS:
        return [_engine_section(name)]
    from lensbench.tasks import task_sections

    owner, cls = task_sections()[name]
    return [SectionDoc(name, "", f"(task `{owner}`) " + summary_of(cls), tuple(key_docs(cls)))]


def all_docs(kind: str | None = None) -> list[SectionDoc]:
    """The reference of every section."""
    return [doc for name in section_names() for doc in section_docs(name, kind)]


def select(target: str | None, kind: str | None = None) -> tuple[list[SectionDoc], str]:
    """The sections (with only the matching keys) that ``target`` (``SECTION`` or ``SECTION.KEY``)
    names, and the dotted key asked for (empty for a whole section).

    ``KEY`` matches a key and the keys below it; ``<name>`` in a key matches any name
    (``simulation.classes.cdm.kind``).

    Raises
    ------
    UsageError
        For an unknown section, kind or key, listing what exists (exit 2).
    """
    if not target:
        return all_docs(kind), ""
    section, _, key = target.partition(".")
    docs = section_docs(section, kind)
    if not key:
        return docs, ""
    matched = []
    for doc in docs:
        keys = tuple(k for k in doc.keys if _matches(key, k.key))
        notes = tuple(n for n in doc.notes if n[0] in {k.key for k in keys})
        matched.append(dataclasses.replace(doc, keys=keys, notes=notes))
    matched = [d for d in matched if d.keys]
    if not matched:
        known = sorted({k.key.split(".")[0] for d in docs for k in d.keys})
        about = sorted({k.key for d in docs for k in d.keys if key.lower() in (k.key + " " + k.meaning).lower()})
        related = f"; keys about '{key}': {', '.join(about)}" if about else ""
        raise UsageError(unknown_message(f"key of [{section}]", key, known) + related)
    return matched, key


def _matches(asked: str, key: str) -> bool:
    asked_parts, key_parts = asked.split("."), key.split(".")
    if len(key_parts) < len(asked_parts):
        return False
    return all(a == k or k == "<name>" for a, k in zip(asked_parts, key_parts))


if __name__ == "__main__":
    from lensbench.spec.reference_render import markdown

    sys.stdout.write(markdown(all_docs()))
