"""A builder's keyword options with their annotations and defaults, without importing torch.

``lensbench validate`` checks ``[model] options`` against the architecture's builder signature.
The built-in builders are registered lazily (:meth:`lensbench.registry.Registry.register_lazy`),
so their modules (and torch, ~2 s to import) are not loaded for that: their signature is read
from the module's source with :mod:`ast`, imported or not. A builder registered eagerly (a
plug-in) is read with :mod:`inspect`. Both give the same answer (tested for every built-in).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import typing
from pathlib import Path
from typing import Any, Callable

COMMON_ARGUMENTS = ("in_channels", "num_outputs", "input_size")
"""Arguments every builder takes from the data, not from ``[model] options``."""

# Names an annotation of a builder option may use (bool, int, float, str and tuples of them).
_ANNOTATION_NAMES = {"bool": bool, "int": int, "float": float, "str": str, "tuple": tuple}


def _annotation(node: ast.expr | None) -> Any:
    """The annotation object for ``node`` (``tuple[int, ...]``), or None when it is not one of
    the simple kinds :data:`_ANNOTATION_NAMES` can spell (such options pass unchecked)."""
    if node is None:
        return None
    try:
        code = compile(ast.Expression(node), "<annotation>", "eval")
        if any(name not in _ANNOTATION_NAMES for name in code.co_names):
            return None
        return eval(code, {"__builtins__": {}}, dict(_ANNOTATION_NAMES))  # names above only
    except (TypeError, SyntaxError):
        return None


@functools.lru_cache(maxsize=None)
def _from_source(module: str, function: str) -> dict[str, tuple[Any, Any]]:
    """Keyword-only options of ``module.function`` read from its source file (parsed once per
    process: a spec's branches share their architectures). Callers must not modify the result."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            args = node.args
            return {arg.arg: (_annotation(arg.annotation), ast.literal_eval(default) if default else None)
                    for arg, default in zip(args.kwonlyargs, args.kw_defaults)
                    if arg.arg not in COMMON_ARGUMENTS}
    raise LookupError(f"{module} defines no function {function!r}")


def _from_object(builder: Callable) -> dict[str, tuple[Any, Any]]:
    """Keyword options of an imported ``builder``, from :func:`inspect.signature`."""
    hints = typing.get_type_hints(builder)
    parameters = inspect.signature(builder).parameters.values()
    return {p.name: (hints.get(p.name), None if p.default is inspect.Parameter.empty else p.default)
            for p in parameters if p.name not in COMMON_ARGUMENTS}


def builder_options(registry, name: str) -> dict[str, tuple[Any, Any]]:
    """Option name -> (annotation, default) of the builder registered as ``name``.

    Parameters
    ----------
    registry : lensbench.registry.Registry
        The architecture registry.
    name : str
        A registered name (``KeyError`` with the registry's list otherwise).

    Returns
    -------
    dict
        In the builder's order; the annotation is ``int``, ``float``, ``bool``, ``str``, a
        ``tuple[...]`` of those, or None (not checked); the default is None for a required option.
    """
    location = registry.location(name)
    if location is not None:
        return _from_source(*location)
    return _from_object(registry.get(name))
