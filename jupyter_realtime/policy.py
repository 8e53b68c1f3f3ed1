"""Channel permissions: who may subscribe, publish, read history and see presence, where.

Public names: :class:`Policy`, :class:`Rule`, :class:`Principal`, :data:`ACTIONS`.

A policy answers one question, :meth:`Policy.authorize` ``(identity, action, channel)``,
and raises ``RealtimeError(forbidden)`` naming the action and the channel when the answer
is no. Sessions call it before every subscribe (first or resumed), publish, history and
presence, on every transport; the REST handlers call it the same way. It is pure logic:
no Tornado, no I/O, so it is tested without a server (``tests/test_policy.py``).

The decision, in order (``docs/security.md`` has the configuration):

1. ``publish`` needs Jupyter's own authorizer to allow ``write`` on ``realtime``
   (``Principal.may_publish``).
2. *Private channels*: a channel matching a pattern of ``private`` is open only to the
   principals listed for it (for every action).
3. *Personal namespace* (``personal_prefix``, e.g. ``user``): ``user:NAME`` and
   ``user:NAME:...`` belong to ``NAME``. The owner may do everything; nobody else may
   publish; reading falls through to the rules.
4. *Rules*, in order: the first rule whose pattern matches the channel and which names the
   action decides.
5. Otherwise ``default`` decides (``["*"]``: any authenticated user, the single-user
   behaviour).

A principal is ``"*"`` (any authenticated user), a user name, ``"group:NAME"``, or
``"scope:NAME"``: an identity holding the scope NAME, such as a JupyterHub custom scope
(``scope:custom:realtime:teach``) that the realtime hub service reads from the hub's user
model (``docs/jupyterhub.md``); a scope the hub filtered to other users (``!user=bob``)
does not count. A
pattern is a glob (``fnmatch``: ``*``, ``?``, ``[...]``) or, prefixed with ``re:``, a
regular expression; either must match the whole channel name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ErrorCode, RealtimeError
from .patterns import compile_pattern

__all__ = ["ACTIONS", "Policy", "Principal", "Rule"]

ACTIONS = ("subscribe", "publish", "history", "presence")
READ = ("subscribe", "history", "presence")  # the ``read`` shorthand of a rule


class Principal(Protocol):
    """Who asks (a :class:`~jupyter_realtime.session.Identity`)."""

    @property
    def username(self) -> str: ...

    @property
    def groups(self) -> frozenset[str]: ...

    @property
    def may_publish(self) -> bool: ...


def holds_scope(who: Principal, scope: str) -> bool:
    """Whether ``who`` holds ``scope`` unfiltered, or filtered to itself (``!user=NAME``,
    ``!user``). Identities without scopes (a plain Jupyter server's) hold none."""
    held: frozenset[str] = getattr(who, "scopes", frozenset())
    return scope in held or f"{scope}!user" in held or f"{scope}!user={who.username}" in held

def _principals(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(
            f"{where}: expected a list of user names, 'group:NAME', 'scope:NAME' or '*'"
        )
    return tuple(value)


@dataclass(frozen=True)
class Rule:
    """Channels matching ``pattern``: for each action it names, who may do it."""

    pattern: str
    allow: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", compile_pattern(self.pattern))

    def matches(self, channel: str) -> bool:
        return self._regex.fullmatch(channel) is not None  # type: ignore[attr-defined]

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Rule:
        """``{"channels": PATTERN, "publish": [...], "read": [...], ...}``.

        ``read`` is shorthand for subscribe, history and presence; an explicit action
        wins over it. An action the rule does not name falls through to later rules.
        """
        if not isinstance(spec, Mapping) or "channels" not in spec:
            raise ValueError(f"a channel rule needs 'channels' (a pattern): {spec!r}")
        unknown = set(spec) - {"channels", "read", *ACTIONS}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} in channel rule {spec!r}")
        allow: dict[str, tuple[str, ...]] = {}
        if "read" in spec:
            allow.update(dict.fromkeys(READ, _principals(spec["read"], "read")))
        for action in ACTIONS:
            if action in spec:
                allow[action] = _principals(spec[action], action)
        return cls(spec["channels"], allow)


class Policy:
    """The channel permissions of one server (see the module docstring for the order).

    ``rules``: :class:`Rule` or their config dicts. ``groups``: group name to member
    user names, added to the groups an identity brings itself. ``personal_prefix``: the
    personal namespace (``""``: none). ``private``: pattern to the principals that alone
    may use matching channels. ``default``: who may do what no rule decides.
    """

    def __init__(
        self,
        rules: Iterable[Rule | Mapping[str, Any]] = (),
        *,
        groups: Mapping[str, Iterable[str]] | None = None,
        personal_prefix: str = "",
        private: Mapping[str, Iterable[str]] | None = None,
        default: Iterable[str] = ("*",),
    ) -> None:
        self.rules = [r if isinstance(r, Rule) else Rule.from_config(r) for r in rules]
        self.members = {g: frozenset(users) for g, users in (groups or {}).items()}
        if ":" in personal_prefix:
            raise ValueError(f"personal_prefix must not contain ':': {personal_prefix!r}")
        self.personal_prefix = personal_prefix
        self.private = [
            (compile_pattern(p), _principals(list(who), f"private {p!r}"))
            for p, who in (private or {}).items()
        ]
        self.default = _principals(list(default), "default")
        self.open = not (self.rules or self.private or personal_prefix) and "*" in self.default

    def owner(self, channel: str) -> str | None:
        """The owner of a channel of the personal namespace, else None."""
        if not self.personal_prefix:
            return None
        parts = channel.split(":", 2)
        if len(parts) >= 2 and parts[0] == self.personal_prefix and parts[1]:
            return parts[1]
        return None

    def is_member(self, who: Principal, principals: Iterable[str]) -> bool:
        for p in principals:
            if p == "*" or p == who.username:
                return True
            if p.startswith("scope:"):
                if holds_scope(who, p[6:]):
                    return True
                continue
            if p.startswith("group:"):
                group = p[6:]
                if group in who.groups or who.username in self.members.get(group, ()):
                    return True
        return False

    def allows(self, who: Principal, action: str, channel: str) -> bool:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
        if action == "publish" and not who.may_publish:
            return False
        if self.open:
            return True
        listed = [p for regex, principals in self.private if regex.fullmatch(channel)
                  for p in principals]
        if listed and not self.is_member(who, listed):
            return False
        owner = self.owner(channel)
        if owner is not None:
            if owner == who.username:
                return True
            if action == "publish":
                return False
        for rule in self.rules:
            if action in rule.allow and rule.matches(channel):
                return self.is_member(who, rule.allow[action])
        return self.is_member(who, self.default)

    def authorize(self, who: Principal, action: str, channel: str) -> None:
        """Return if ``who`` may ``action`` on ``channel``; raise ``forbidden`` if not."""
        if not self.allows(who, action, channel):
            raise RealtimeError(
                ErrorCode.FORBIDDEN, f"user {who.username!r} may not {action} channel {channel!r}"
            )
