"""Every setting of jupyter-realtime, with its help, units and default, as text.

Public name: :func:`settings_help` (printed by ``jupyter realtime config`` and
``jupyter realtime --help-all``).

``jupyter server --help-all`` cannot list them: jupyter_server prints its help while parsing
the command line, before it loads any extension, and offers extensions no supported way to
add their classes to that list. So the extension's command line lists its own settings:
the server's (``RealtimeApp``, from this package's traits, including those of its
configuration mixins) and the kernel's (``RealtimeMirror``). Only the settings defined here
are listed, not those every Jupyter extension app inherits from ``ExtensionApp``.
"""

from __future__ import annotations

import textwrap
from typing import Any

__all__ = ["settings_help"]

WIDTH = 88


def _own_traits(cls: type, base: type | None) -> dict[str, Any]:
    traits: dict[str, Any] = cls.class_traits(config=True)  # type: ignore[attr-defined]
    inherited = set(base.class_traits(config=True)) if base is not None else set()  # type: ignore[attr-defined]
    return {name: trait for name, trait in sorted(traits.items()) if name not in inherited}


def _entry(cls_name: str, name: str, trait: Any) -> str:
    kind = type(trait).__name__
    help_text = " ".join((trait.help or "").split())
    if "Default:" not in help_text:
        help_text = f"{help_text} Default: {trait.default_value_repr()}.".strip()
    glued = help_text.replace("Default: ", "Default:\xa0")  # kept on one line
    body = textwrap.fill(glued, WIDTH, initial_indent="    ", subsequent_indent="    ")
    return f"--{cls_name}.{name}=<{kind}>\n{body.replace(chr(0xA0), ' ')}"


def _section(title: str, where: str, cls: type, base: type | None) -> str:
    entries = [_entry(cls.__name__, n, t) for n, t in _own_traits(cls, base).items()]
    return "\n".join([title, "=" * len(title), textwrap.fill(where, WIDTH), "", *entries, ""])


def settings_help() -> str:
    """The settings of the server extension, then those of the kernel extension."""
    from jupyter_server.extension.application import ExtensionApp

    from .app import RealtimeApp
    from .kernel._settings import RealtimeMirror

    server = _section(
        "RealtimeApp: the server extension",
        "c.RealtimeApp.NAME = VALUE in jupyter_server_config.py, or --RealtimeApp.NAME=VALUE "
        "on the command line of jupyter server / jupyter lab.",
        RealtimeApp,
        ExtensionApp,
    )
    kernel = _section(
        "RealtimeMirror: the kernel extension (%realtime mirror)",
        "c.RealtimeMirror.NAME = VALUE in ipython_kernel_config.py, or "
        "%config RealtimeMirror.NAME = VALUE in a notebook.",
        RealtimeMirror,
        None,
    )
    return f"{server}\n{kernel}"
