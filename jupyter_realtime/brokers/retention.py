"""How much history each channel keeps: by bytes, age and count, per channel pattern.

Public names: :class:`Rule`, :class:`Retention`, :func:`parse_bytes`, :func:`parse_age`.
Pure logic, no I/O: every broker asks :meth:`Retention.rule` which bounds apply to a
channel and trims its history by them (``docs/storage.md``).

A rule bounds a channel's history by ``bytes`` (payload, sender and the broker's
bookkeeping per publication), ``age`` (seconds since a publication's timestamp) and
``count`` (publications); the oldest publications go first, whichever bound is hit. The
configuration (``c.RealtimeApp.retention``) maps channel patterns to rules::

    {"train:*": {"bytes": "256MiB", "age": "30d"}, "chat:*": {"count": 10000}}

Patterns are those of the channel permissions
(:func:`~jupyter_realtime.patterns.compile_pattern`: a glob, or a regular expression after
``re:``, matching the whole name); the first pattern that
matches decides, in the order given. A bound a rule leaves out is the default rule's
(``history_max_bytes``, ``history_ttl``, ``history_size``); ``None`` (or ``0`` for bytes
and age) lifts it; ``count: 0`` keeps no history at all (live delivery only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..patterns import compile_pattern

__all__ = ["Retention", "Rule", "parse_age", "parse_bytes"]

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1000, "kib": 1024,
    "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1024**4, "tb": 1000**4, "tib": 1024**4,
}  # fmt: skip
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_KEYS = ("bytes", "age", "count")
_CACHE = 4096  # channels whose rule is remembered (rules are looked up per publish)


def _number(value: Any, units: Mapping[str, float], what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number or a string, not {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str) and (m := _NUMBER.fullmatch(value)):
        number, unit = float(m.group(1)), m.group(2).lower()
    else:
        raise ValueError(f"{what}: cannot read {value!r}")
    if unit not in units:
        raise ValueError(f"{what}: unknown unit {unit!r} in {value!r} (one of {sorted(units)})")
    if number < 0:
        raise ValueError(f"{what}: must not be negative: {value!r}")
    return number * units[unit]


def parse_bytes(value: Any, what: str = "bytes") -> int | None:
    """``1048576``, ``"256MiB"``, ``"1.5GB"``, ``"64k"`` (k, M, G, T alone are binary) as
    bytes; ``None`` or ``0``: no bound."""
    if value is None:
        return None
    size = int(_number(value, _UNITS, what))
    return size or None


def parse_age(value: Any, what: str = "age") -> float | None:
    """Seconds, or ``"45s"``, ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"``; ``None`` or
    ``0``: forever."""
    if value is None:
        return None
    return _number(value, _SECONDS, what) or None


@dataclass(frozen=True)
class Rule:
    """The bounds of one channel's history: ``bytes``, ``age`` (seconds) and ``count``
    (publications); ``None`` is no bound. ``count == 0`` keeps nothing."""

    bytes: int | None = None
    age: float | None = None
    count: int | None = None

    @property
    def keeps(self) -> bool:
        return self.count != 0

    def over(self, count: int, size: int) -> bool:
        """Whether a history of ``count`` publications and ``size`` bytes is too big."""
        return (self.count is not None and count > self.count) or (
            self.bytes is not None and size > self.bytes
        )

    def cutoff(self, now: float) -> float | None:
        """Publications stamped before this have expired (None: none expire)."""
        return None if self.age is None else now - self.age

    def merged(self, spec: Mapping[str, Any], where: str) -> Rule:
        """This rule with the bounds ``spec`` names replaced (``where`` names it in errors)."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected a dict of bytes/age/count, not {spec!r}")
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown} (expected {list(_KEYS)})")
        changes: dict[str, Any] = {}
        if "bytes" in spec:
            changes["bytes"] = parse_bytes(spec["bytes"], f"{where}['bytes']")
        if "age" in spec:
            changes["age"] = parse_age(spec["age"], f"{where}['age']")
        if "count" in spec:
            count = spec["count"]
            if count is not None and (
                isinstance(count, bool) or not isinstance(count, int) or count < 0
            ):
                raise ValueError(f"{where}['count']: expected a whole number >= 0 or None")
            changes["count"] = count
        return replace(self, **changes)


class Retention:
    """The rule of every channel: the first of ``rules`` (pattern, rule) whose pattern
    matches the whole channel name, else ``default``."""

    def __init__(self, default: Rule, rules: Iterable[tuple[str, Rule]] = ()) -> None:
        self.default = default
        self.rules = [(pattern, compile_pattern(pattern), rule) for pattern, rule in rules]
        self._cache: dict[str, Rule] = {}

    @classmethod
    def from_config(
        cls, spec: Mapping[str, Any], default: Rule, setting: str = "retention"
    ) -> Retention:
        """``{pattern: {"bytes": ..., "age": ..., "count": ...}}``; a bound left out is the
        default's. Raises ``ValueError`` naming ``setting`` and the pattern."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"{setting}: expected a dict of channel pattern to rule")
        rules = []
        for pattern, rule in spec.items():
            where = f"{setting}[{pattern!r}]"
            try:
                compile_pattern(pattern)
            except (ValueError, re.error) as exc:
                raise ValueError(f"{where}: bad channel pattern: {exc}") from exc
            rules.append((pattern, default.merged(rule, where)))
        return cls(default, rules)

    def rule(self, channel: str) -> Rule:
        """The rule of ``channel`` (remembered for the most recent channels)."""
        found = self._cache.get(channel)
        if found is None:
            found = next(
                (rule for _, regex, rule in self.rules if regex.fullmatch(channel)), self.default
            )
            if len(self._cache) >= _CACHE:
                self._cache.clear()
            self._cache[channel] = found
        return found

    def all_rules(self) -> list[Rule]:
        return [self.default, *(rule for _, _, rule in self.rules)]

    @property
    def shortest_age(self) -> float | None:
        """The shortest age any rule keeps (None: no rule expires history)."""
        return min((r.age for r in self.all_rules() if r.age is not None), default=None)

    @property
    def longest_age(self) -> float | None:
        """The longest age a rule keeps; None when some rule keeps history forever."""
        ages = [r.age for r in self.all_rules()]
        return None if None in ages else max(a for a in ages if a is not None)
