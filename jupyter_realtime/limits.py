"""Limits that keep one user from starving the others: pure bookkeeping, no I/O.

Public names: :class:`TokenBucket`, :class:`Limits`, :func:`over_budget`.

* publications per second per connection: a :class:`TokenBucket` per session (and one
  per user for REST publishes, which hold no connection);
* subscriptions per connection, connections per user;
* live channels per server and per user: a channel counts from the publish or subscribe
  that opened it until the broker lets it go (``Broker.is_live``), for the user who
  opened it, so one user filling its share cannot lock the others out;
* bytes of data one user may add per time window (``max_user_bytes`` every
  ``user_bytes_window`` seconds), counted by the broker (``Hub.add_usage``): in Redis when
  the broker is Redis, so the limit holds across every server (or service replica) on it;
* total outbox memory: :func:`over_budget` picks the connections to drop (the largest
  outboxes first) when the sum of every outbox is above the budget.

A limit that is reached raises ``RealtimeError(rate_limited)`` saying which limit, and
only for the one who reached it: a session's bucket is its own, the connection count is
per user, and the outbox budget drops the slowest readers, never a publisher.
Every number is a ``RealtimeApp`` trait (units and defaults are in their help); 0 means
no limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorCode, RealtimeError

__all__ = ["Limits", "TokenBucket", "over_budget"]

MAX_USER_BUCKETS = 10_000  # REST buckets kept before idle ones are forgotten
PRUNE_INTERVAL = 1.0  # seconds between two recounts of live channels that freed nothing
PRUNE_AT_LEAST = 1024  # counted channels before the first recount of its own accord


def _always_live(channel: str) -> bool:
    return True


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    __slots__ = ("rate", "burst", "tokens", "stamp", "clock")

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if there are that many (True), else take none (False)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False

    @property
    def full(self) -> bool:
        return self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst


def over_budget(sizes: Iterable[tuple[Any, int]], budget: int) -> list[Any]:
    """The keys to drop, largest first, so that the rest of ``sizes`` fits in ``budget``."""
    pairs = list(sizes)
    total = sum(size for _, size in pairs)
    victims = []
    for key, size in sorted(pairs, key=lambda pair: pair[1], reverse=True):
        if total <= budget or size == 0:
            break
        victims.append(key)
        total -= size
    return victims


def _limited(message: str) -> RealtimeError:
    return RealtimeError(ErrorCode.RATE_LIMITED, message)


@dataclass
class Limits:
    """The limits of one server and the counters they need (see ``RealtimeApp``)."""

    publish_rate: float = 0.0
    publish_burst: int = 0
    max_subscriptions: int = 0
    max_connections_per_user: int = 0
    max_channels: int = 0
    max_channels_per_user: int = 0
    max_outbox_total: int = 0
    max_user_bytes: int = 0
    user_bytes_window: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    # whether a channel still exists (the broker's is_live): counted channels that no
    # longer do are forgotten when a limit is reached
    live: Callable[[str], bool] = _always_live
    # username -> open connections (sessions); channel -> the user who opened it
    connections: dict[str, set[Hashable]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    _per_user: dict[str, int] = field(default_factory=dict)
    _fruitless_prune: float | None = None
    _prune_at: int = PRUNE_AT_LEAST
    _user_buckets: dict[str, TokenBucket] = field(default_factory=dict)

    # -- publications per second --

    def publish_bucket(self) -> TokenBucket | None:
        """A new connection's bucket (None without a rate limit)."""
        if self.publish_rate <= 0:
            return None
        return TokenBucket(self.publish_rate, max(self.publish_burst, 1), self.clock)

    def take_publish(self, bucket: TokenBucket | None) -> None:
        if bucket is not None and not bucket.take():
            raise _limited(
                f"more than {self.publish_rate:g} publications a second "
                f"(burst {bucket.burst:g}) on this connection"
            )

    def user_bucket(self, username: str) -> TokenBucket | None:
        """The bucket of a user's REST publishes (shared by all their requests)."""
        if self.publish_rate <= 0:
            return None
        bucket = self._user_buckets.get(username)
        if bucket is None:
            if len(self._user_buckets) >= MAX_USER_BUCKETS:
                self._user_buckets = {u: b for u, b in self._user_buckets.items() if not b.full}
            bucket = TokenBucket(self.publish_rate, max(self.publish_burst, 1), self.clock)
            self._user_buckets[username] = bucket
        return bucket

    # -- subscriptions per connection, channels per server --

    def check_subscriptions(self, current: int) -> None:
        if self.max_subscriptions and current >= self.max_subscriptions:
            raise _limited(
                f"a connection may hold {self.max_subscriptions} subscriptions at most"
            )

    def admit_channel(self, channel: str, username: str) -> None:
        """Count a channel ``username`` opens (publish or subscribe); refuse a new one when
        the server holds ``max_channels`` live channels, or the user ``max_channels_per_user``.
        """
        if not (self.max_channels or self.max_channels_per_user) or channel in self.channels:
            return
        if self._refusal(username) is not None:
            self.prune()
            refusal = self._refusal(username)
            if refusal is not None:
                raise _limited(f"{refusal}; cannot open {channel!r}")
        self.channels[channel] = username
        self._per_user[username] = self._per_user.get(username, 0) + 1
        if len(self.channels) >= self._prune_at:
            # recount whenever the table doubled: what is counted stays within twice
            # what is live, at a constant cost per channel opened
            self._fruitless_prune = None
            self.prune()
            self._prune_at = max(PRUNE_AT_LEAST, 2 * len(self.channels))

    def _refusal(self, username: str) -> str | None:
        if self.max_channels and len(self.channels) >= self.max_channels:
            return f"the server holds its maximum of {self.max_channels} live channels"
        share = self.max_channels_per_user
        if share and self._per_user.get(username, 0) >= share:
            return f"user {username!r} has opened {share} live channels, the limit"
        return None

    def prune(self) -> None:
        """Forget the counted channels that no longer exist. At most once a
        ``PRUNE_INTERVAL`` after a recount that freed nothing (it reads every channel)."""
        now = self.clock()
        if self._fruitless_prune is not None and now - self._fruitless_prune < PRUNE_INTERVAL:
            return
        gone = [channel for channel in self.channels if not self.live(channel)]
        for channel in gone:
            self.release_channel(channel)
        self._fruitless_prune = None if gone else now

    def release_channel(self, channel: str) -> None:
        """Stop counting ``channel`` (it no longer exists)."""
        username = self.channels.pop(channel, None)
        if username is not None:
            left = self._per_user[username] - 1
            if left:
                self._per_user[username] = left
            else:
                del self._per_user[username]

    # -- connections per user --

    def connect(self, username: str, connection: Hashable) -> None:
        """Count a new connection of ``username``; refuse it above the limit."""
        mine = self.connections.setdefault(username, set())
        if self.max_connections_per_user and len(mine) >= self.max_connections_per_user:
            if not mine:
                del self.connections[username]
            raise _limited(
                f"user {username!r} has {len(mine)} connections open, the limit"
            )
        mine.add(connection)

    def disconnect(self, username: str, connection: Hashable) -> None:
        mine = self.connections.get(username)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self.connections[username]

    def open_connections(self) -> int:
        return sum(len(c) for c in self.connections.values())
