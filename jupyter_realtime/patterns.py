"""Channel patterns, as the permissions and the retention rules write them.

Public name: :func:`compile_pattern`. Imports nothing of the project, so that the policy
(:mod:`.policy`) and the brokers (:mod:`.brokers.retention`) match channels one way.

A pattern is a glob (``fnmatch``: ``*``, ``?``, ``[...]``) or, prefixed with ``re:``, a
regular expression; either must match the whole channel name.
"""

from __future__ import annotations

import fnmatch
import re

__all__ = ["compile_pattern"]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A glob, or a regular expression after ``re:``, as a compiled whole-name pattern
    (use ``fullmatch``). Raises ``ValueError`` (or ``re.error``) for a bad one."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"a channel pattern must be a non-empty string, not {pattern!r}")
    if pattern.startswith("re:"):
        return re.compile(pattern[3:])
    return re.compile(fnmatch.translate(pattern))
