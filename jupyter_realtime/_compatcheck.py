"""What the compatibility modules share: problems as data, and how code is inspected.

Public names: :class:`Problem`, :class:`Requirement`, :func:`run`, :func:`version`,
:func:`stores`, :func:`uses`.

Each package that relies on a framework's private internals keeps those uses in its own
``_compat`` module (``transports``: tornado and jupyter_server; ``kernel``: ipykernel and
IPython; ``client``: tqdm), whose ``check()`` returns a :class:`Problem` for every internal
that is missing or has changed shape. Many of those internals are attributes that a
constructor or a method assigns to its instance: their presence is verified on the code
of that function (:func:`stores`, :func:`uses`) rather than on an instance, which would
need a socket, an event loop or a running kernel. This module imports only the standard
library, so every layer may use it (see ``docs/compat.md``).
"""

from __future__ import annotations

import dis
import functools
import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "Requirement", "run", "stores", "uses", "version"]


@dataclass(frozen=True)
class Problem:
    """An internal of ``package`` that ``needed_by`` relies on, missing or changed."""

    package: str
    internal: str  # e.g. "IOStream._write_buffer"
    what: str  # e.g. "is missing"
    needed_by: str  # the module that uses it
    fallback: str = ""  # what happens instead, if anything
    disables: tuple[str, ...] = ()  # transports that cannot work without it

    def __str__(self) -> str:
        text = (
            f"{self.package} {version(self.package)}: {self.internal} {self.what}; "
            f"{self.needed_by} needs it"
        )
        return f"{text} ({self.fallback})" if self.fallback else text


def version(package: str) -> str:
    """The installed version of the distribution ``package`` ("not installed" if absent)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _code(func: Any) -> Any:
    for _ in range(5):  # through the wrappers below, however nested
        if isinstance(func, property):
            func = func.fget
        elif isinstance(func, (functools.partialmethod, functools.partial)):
            func = func.func  # e.g. tqdm's @envwrap on __init__
        elif isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
        elif hasattr(func, "__wrapped__"):  # functools.wraps
            func = func.__wrapped__
        else:
            break
    return getattr(func, "__code__", None)


def stores(func: Any, name: str) -> bool:
    """Whether ``func`` (a function, method or property) assigns ``<obj>.name``."""
    code = _code(func)
    if code is None:
        return False
    return any(i.opname == "STORE_ATTR" and i.argval == name for i in dis.get_instructions(code))


def uses(func: Any, name: str) -> bool:
    """Whether the code of ``func`` mentions the attribute or global ``name`` at all."""
    code = _code(func)
    return code is not None and name in code.co_names


@dataclass(frozen=True)
class Requirement:
    """One private internal: who needs it, and how its presence and shape are verified.

    ``probe`` returns what is wrong ("is missing", "is not callable", ...) or None.
    ``disables``: the transports that cannot work without it (the server turns them off).
    """

    package: str
    internal: str
    needed_by: str
    probe: Callable[[], str | None]
    fallback: str = ""
    disables: tuple[str, ...] = ()


def run(requirements: list[Requirement]) -> list[Problem]:
    """The problems of ``requirements`` on the installed versions (none when all hold)."""
    problems = []
    for req in requirements:
        try:
            what = req.probe()
        except Exception as exc:  # a probe that cannot even look is a problem too
            what = f"could not be inspected ({type(exc).__name__}: {exc})"
        if what is not None:
            problems.append(
                Problem(req.package, req.internal, what, req.needed_by, req.fallback, req.disables)
            )
    return problems


def missing_store(owner: Any, method: str, name: str) -> str | None:
    """``"is missing"`` unless ``owner.method`` (a function or property) assigns ``.name``."""
    try:
        func = inspect.getattr_static(owner, method)  # the descriptor, not what it binds
    except AttributeError:
        return f"is missing ({owner.__name__}.{method} is gone)"
    if isinstance(func, property):
        return None if stores(func.fget, name) or stores(func.fset, name) else "is missing"
    return None if stores(func, name) else "is missing"
