"""Identity and policy settings that a user's own configuration cannot change.

Public names: :data:`DISABLE_ENV`, :func:`user_config_disabled`, :func:`trusted_values`.

On a JupyterHub, ``c.Spawner.disable_user_config = True`` starts each single-user server
with ``JUPYTERHUB_DISABLE_USER_CONFIG=1``, and ``jupyterhub-singleuser`` then reads no
configuration from the user's home. A user who could still write
``c.RealtimeApp.token_user = "teacher"`` in ``~/.jupyter/jupyter_server_config.py`` would
publish (and be counted, and be allowed) under another name, so the realtime extension
honours the same switch itself, whatever starts the server (``jupyter server``, a
container, a spawner of another kind): when it is set, the settings of
:data:`~jupyter_realtime.app.LOCKED_SETTINGS` take their values from configuration files
outside the user's reach and from the command line only, else their defaults.

Outside the user's reach: every directory of Jupyter's config path but the user's config
dir (``JUPYTER_CONFIG_DIR``, default ``~/.jupyter``) and anything under ``$HOME``, as
JupyterHub's own rule. ``docs/security.md`` says where an administrator puts them. The
administrator's ``.py`` files are read a second time for this (traitlets' public loaders),
so they should have no side effects beyond setting configuration, as usual.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import (
    ConfigFileNotFound,
    JSONFileConfigLoader,
    PyFileConfigLoader,
)

__all__ = ["DISABLE_ENV", "trusted_values", "user_config_disabled"]

DISABLE_ENV = "JUPYTERHUB_DISABLE_USER_CONFIG"
TRUE = {"1", "true", "yes", "on"}


def user_config_disabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the administrator forbids configuration from the user's own files."""
    env = os.environ if env is None else env
    return env.get(DISABLE_ENV, "").strip().lower() in TRUE


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True


def trusted_paths(paths: Iterable[str], config_dir: str, home: str | None) -> list[str]:
    """``paths`` (Jupyter's config path, highest priority first) without the user's."""
    user = Path(config_dir).expanduser().resolve()
    home_dir = Path(home).resolve() if home else None
    kept = []
    for entry in paths:
        path = Path(entry).expanduser().resolve()
        if path == user or _inside(path, user):
            continue
        if home_dir is not None and home_dir != Path("/") and _inside(path, home_dir):
            continue
        kept.append(entry)
    return kept


def _load(loader: Any) -> Config:
    try:
        config: Config = loader.load_config()
    except ConfigFileNotFound:
        return Config()
    return config


def trusted_values(
    section: str,
    names: Iterable[str],
    *,
    paths: Iterable[str],
    config_dir: str,
    file_names: Iterable[str],
    command_line: Iterable[Config] = (),
    home: str | None = None,
) -> dict[str, Any]:
    """The values of ``section``'s settings ``names`` that files named ``file_names``
    (``.py`` and ``.json``) in the trusted part of ``paths`` and the ``command_line``
    configs set, with Jupyter's precedence: the command line, then earlier paths."""
    home = os.path.expanduser("~") if home is None else home
    merged = Config()
    for directory in reversed(trusted_paths(paths, config_dir, home)):
        for base in file_names:
            merged.merge(_load(PyFileConfigLoader(base + ".py", path=directory)))
            merged.merge(_load(JSONFileConfigLoader(base + ".json", path=directory)))
    for config in command_line:
        merged.merge(config)
    values = merged[section] if section in merged else Config()
    return {name: values[name] for name in names if name in values}
