"""The configuration of channel permissions and limits, as traits of ``RealtimeApp``.

Public name: :class:`AccessConfig`, a mixin of :class:`~jupyter_realtime.app.RealtimeApp`
(set its traits as ``c.RealtimeApp.<name>``). It turns them into the :class:`Policy` and
:class:`Limits` that sessions and handlers share. ``docs/security.md`` explains them, with
a JupyterHub example.
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, Float, HasTraits, Int, List, TraitError, Unicode, validate

from .limits import Limits
from .policy import Policy, Rule

__all__ = ["AccessConfig"]


class AccessConfig(HasTraits):
    channel_rules: List[dict[str, Any]] = List(
        config=True,
        help="Channel permissions, first match per action wins: a list of "
        "{'channels': PATTERN, 'subscribe'|'publish'|'history'|'presence'|'read': "
        "[user, 'group:NAME', 'scope:NAME', '*']}. PATTERN is a glob, or a regular "
        "expression after 're:'. 'read' is subscribe + history + presence. 'scope:NAME' "
        "is a JupyterHub scope the user's token holds (the hub service only). "
        "Default: [] (no rules).",
    )
    channel_default = List(
        Unicode(),
        default_value=["*"],
        config=True,
        help="Who may do what no rule decides: user names, 'group:NAME', or '*' for any "
        "authenticated user. Default: ['*'] (the single-user behaviour).",
    )
    user_groups = Dict(
        value_trait=List(Unicode()),
        config=True,
        help="Group name to member user names, for 'group:NAME' in rules; added to the "
        "groups the identity provider reports (JupyterHub's user model). Default: {}.",
    )
    personal_namespace = Unicode(
        "",
        config=True,
        help="Prefix of the personal namespace: with 'user', channels 'user:NAME' and "
        "'user:NAME:...' belong to user NAME, who alone may publish there; others may "
        "read unless a rule says otherwise. Default: '' (no personal namespace).",
    )
    private_channels = Dict(
        value_trait=List(Unicode()),
        config=True,
        help="Channel pattern to the only principals (users, 'group:NAME') that may use "
        "matching channels at all. Default: {}.",
    )
    max_publish_rate = Float(
        0.0,
        config=True,
        help="Publications per second per connection (token bucket; REST: per user); "
        "above it a publish gets rate_limited and the connection stays. "
        "Default: 0 (no limit).",
    )
    publish_burst = Int(
        100,
        config=True,
        help="Publications a connection may send at once above max_publish_rate "
        "(the bucket's size). Default: 100.",
    )
    max_subscriptions = Int(
        1000,
        config=True,
        help="Channels one connection may be subscribed to (0: no limit). Default: 1000.",
    )
    max_connections_per_user = Int(
        1000,
        config=True,
        help="Open connections (WebSockets, streams, HTTP sessions, held polls) per Jupyter "
        "user; the next one is refused with rate_limited (0: no limit). Default: 1000.",
    )
    max_channels = Int(
        100_000,
        config=True,
        help="Live channels on this server (with subscribers, presence or history; a "
        "channel counts from the publish or subscribe that opened it until it is let go); "
        "a new one past it gets rate_limited (0: no limit). Default: 100000.",
    )
    max_channels_per_user = Int(
        10_000,
        config=True,
        help="Live channels one user may have opened (their share of max_channels), so "
        "that one user cannot lock the others out; the next one gets rate_limited "
        "(0: no per-user limit). Default: 10000.",
    )
    max_user_bytes = Int(
        0,
        config=True,
        help="Bytes of publication data one user may add every user_bytes_window seconds, "
        "on every endpoint; past it a publish gets rate_limited. With the Redis broker it is "
        "counted in Redis, so it holds across every server or service replica on it "
        "(0: no limit). Default: 0.",
    )
    user_bytes_window = Float(
        3600.0,
        config=True,
        help="Seconds of the window of max_user_bytes (windows are aligned to the clock). "
        "Default: 3600.",
    )
    max_outbox_total = Int(
        1 << 30,
        config=True,
        help="Bytes queued for all connections together; above it the connections with "
        "the largest outboxes are dropped as slow consumers, checked every second "
        "(0: no limit). Default: 1073741824 (1 GiB).",
    )

    @validate("user_bytes_window")
    def _valid_window(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise TraitError(f"user_bytes_window must be above 0 seconds, not {value}")
        return value

    @validate("channel_rules")
    def _valid_rules(self, proposal: dict[str, Any]) -> list[Any]:
        for spec in proposal["value"]:
            Rule.from_config(spec)  # raises ValueError naming the bad rule
        rules: list[Any] = proposal["value"]
        return rules

    def make_policy(self) -> Policy:
        return Policy(
            self.channel_rules,
            groups=self.user_groups,
            personal_prefix=self.personal_namespace,
            private=self.private_channels,
            default=self.channel_default,
        )

    def make_limits(self) -> Limits:
        return Limits(
            publish_rate=self.max_publish_rate,
            publish_burst=self.publish_burst,
            max_subscriptions=self.max_subscriptions,
            max_connections_per_user=self.max_connections_per_user,
            max_channels=self.max_channels,
            max_channels_per_user=self.max_channels_per_user,
            max_outbox_total=self.max_outbox_total,
            max_user_bytes=self.max_user_bytes,
            user_bytes_window=self.user_bytes_window,
        )
