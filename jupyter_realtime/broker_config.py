"""The configuration of the broker, as traits of ``RealtimeApp``, and the broker it selects.

Public name: :class:`BrokerConfig`, a mixin of :class:`~jupyter_realtime.app.RealtimeApp`
(``c.RealtimeApp.broker_url`` and so on). ``docs/storage.md`` and ``docs/scaling.md``
explain the choices.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from traitlets import Dict, Enum, Float, HasTraits, Int, Type, Unicode

from .brokers import memory, sqlite
from .brokers.base import Broker
from .brokers.memory import MemoryBroker
from .brokers.retention import Retention, Rule
from .brokers.sqlite import SQLiteBroker, StoreError, sqlite_path

__all__ = ["BrokerConfig", "MEMORY_URL", "REDIS_SCHEMES"]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
MEMORY_URL = "memory://"
DURABLE_BYTES = 256 << 20  # history per channel by default where it is not all in RAM


class BrokerConfig(HasTraits):
    serverapp: Any
    log: Any

    broker_class = Type(
        default_value=SQLiteBroker,
        klass=Broker,
        config=True,
        help="The broker that keeps history and delivers publications. Default: the "
        "durable SQLite broker; broker_url selects the in-memory (memory://) or the Redis "
        "broker (redis://...).",
    )
    broker_url = Unicode(
        "",
        config=True,
        help="Where channels are kept. '' (the default): a SQLite file in Jupyter's data "
        "directory, one per server root directory (realtime/<hash of root_dir>.sqlite3); "
        "sqlite:///path/to/file: that SQLite file; memory://: in memory, lost on restart; "
        "redis://127.0.0.1:6379/0, or any node of a Redis Cluster as "
        "redis+cluster://127.0.0.1:7000 (rediss+cluster:// with TLS): shared by several "
        "servers. See docs/storage.md.",
    )
    sqlite_synchronous = Enum(
        ["normal", "full"],
        "normal",
        config=True,
        help="SQLite broker: when a commit is durable. 'normal': it survives the server "
        "process dying (kill -9 included); 'full': it also survives the machine losing "
        "power, at the cost of an fsync per commit. Default: 'normal'.",
    )
    redis_key_prefix = Unicode(
        "jupyter_realtime",
        config=True,
        help="Redis broker: prefix of every key and pub/sub channel, so that several "
        "deployments can share one Redis. Default: 'jupyter_realtime'.",
    )
    redis_presence_ttl = Float(
        30.0,
        config=True,
        help="Redis broker: seconds after which the clients of a server that stopped "
        "(crashed) leave presence; servers heartbeat every third of it. Default: 30.",
    )
    redis_meta_ttl = Float(
        30 * 86400.0,
        config=True,
        help="Redis broker: seconds an idle channel keeps its epoch and offset (at least "
        "history_ttl; 0: forever). After that it starts a new epoch. Default: 2592000 (30 days).",
    )
    redis_ping_interval = Float(
        5.0,
        config=True,
        help="Redis broker: seconds of silence on the pub/sub connection after which it is "
        "PINGed; with no answer within as long again it is taken for dead (a half-open "
        "TCP connection), replaced, and live delivery catches up from the streams "
        "(0: no PING). Default: 5.",
    )
    channel_meta_ttl = Float(
        3600.0,
        config=True,
        help="In-memory and SQLite brokers: seconds a channel that was let go (no "
        "subscribers, presence or history) keeps its epoch and offset, so that a client "
        "resuming from it learns exactly what it lost; after that it starts a new epoch "
        "(0: forever). About 220 bytes per channel let go. Default: 3600.",
    )
    retention = Dict(
        config=True,
        help="History kept per channel pattern, first match wins: {PATTERN: {'bytes': "
        "'256MiB', 'age': '30d', 'count': 10000}}. PATTERN is a glob, or a regular "
        "expression after 're:', as in channel_rules. bytes: payload, sender and the "
        "broker's bookkeeping per publication (a number, or with a unit: k/KiB, M/MiB, "
        "G/GiB; KB/MB/GB are powers of 1000); age: seconds, or '45s', '15m', '12h', '30d', "
        "'2w'; count: publications (0: no history, live delivery only). A bound a rule "
        "leaves out is the default rule's (history_max_bytes, history_ttl, history_size); "
        "None, or 0 for bytes and age, lifts it. The oldest publications go first, "
        "whichever bound is hit. Default: {} (every channel by the default rule).",
    )
    history_max_bytes = Int(
        None,
        allow_none=True,
        config=True,
        help="The default retention rule: bytes of history per channel (payload, sender and "
        "about 320 bytes of bookkeeping per publication, 64 in Redis); the oldest go first "
        "(0: no limit). Default: None, the broker's own: 256 MiB for SQLite and Redis "
        "(several hours of a mirrored cell printing every step), 16 MiB for the in-memory "
        "broker (kept modest: it is all RAM).",
    )
    history_max_bytes_total = Int(
        None,
        allow_none=True,
        config=True,
        help="In-memory and SQLite brokers: bytes of history of every channel together "
        "(held in memory as well as on disk); above it the "
        "oldest publications of the largest channels go first, down to 90% of it, and "
        "resumes from before them get recovered: false (0: no limit). "
        "Default: None, the broker's own: 1 GiB for SQLite, 256 MiB in memory.",
    )
    history_size = Int(
        None,
        allow_none=True,
        config=True,
        help="The default retention rule: publications kept per channel (0: none, live "
        "delivery only). Default: None (no bound by count: bytes and age bound history).",
    )
    history_ttl = Float(
        86400.0,
        config=True,
        help="The default retention rule: seconds a publication stays in history (0: until "
        "pushed out by size). Default: 86400 (a day).",
    )
    idempotency_ttl = Float(
        600.0,
        config=True,
        help="Seconds a channel remembers the idempotency_key of a publication (publish "
        "command, or the Idempotency-Key header of a REST publish): a publish repeated "
        "with the key within that time stores nothing and is answered with the first "
        "one's epoch and offset (0: keys are not remembered). Default: 600 (10 minutes).",
    )
    idempotency_keys_max = Int(
        10_000,
        config=True,
        help="Idempotency keys remembered per channel at most; above it the oldest are "
        "forgotten first (about 150 bytes each in memory or Redis). Default: 10000.",
    )

    latest_keys_max = Int(
        1000,
        config=True,
        help="Keys whose latest publication a channel keeps beyond its history (a publish "
        "with a key; history?key=K returns it however many publications came after it). "
        "Above it the key published longest ago is forgotten first; each costs its "
        "publication's size in memory (and on disk, or in Redis). 0: keys are not kept. "
        "Default: 1000.",
    )

    def make_retention(self, default_bytes: int) -> Retention:
        """The rules of every channel; ``default_bytes``: the broker's own default of
        ``history_max_bytes``. Raises ``ValueError`` naming ``RealtimeApp.retention``."""
        size = self.history_max_bytes
        default = Rule(
            bytes=(default_bytes if size is None else size) or None,
            age=self.history_ttl or None,
            count=self.history_size,
        )
        return Retention.from_config(self.retention, default, "RealtimeApp.retention")

    def make_broker(self) -> Broker:
        cls: type[Broker] = self.broker_class  # type: ignore[type-abstract]
        options: dict[str, Any] = {}
        if self.broker_url == MEMORY_URL and cls is SQLiteBroker:
            cls = MemoryBroker
        if self.broker_url.startswith(REDIS_SCHEMES):
            from .brokers.redis import RedisBroker

            if cls is SQLiteBroker:
                cls = RedisBroker
            if issubclass(cls, RedisBroker):
                options = {
                    "key_prefix": self.redis_key_prefix,
                    "presence_ttl": self.redis_presence_ttl,
                    "meta_ttl": self.redis_meta_ttl,
                    "ping_interval": self.redis_ping_interval,
                }
        default_bytes = DURABLE_BYTES
        if issubclass(cls, MemoryBroker):
            durable = issubclass(cls, SQLiteBroker)
            total = self.history_max_bytes_total
            if total is None:
                total = sqlite.DEFAULT_BYTES_TOTAL if durable else memory.DEFAULT_BYTES_TOTAL
            default_bytes = sqlite.DEFAULT_BYTES if durable else memory.DEFAULT_BYTES
            options = {
                "meta_ttl": self.channel_meta_ttl,
                "history_bytes_total": total,
            }
        if issubclass(cls, SQLiteBroker):
            options["synchronous"] = self.sqlite_synchronous
            root_dir = self.serverapp.root_dir if self.serverapp is not None else os.getcwd()
            options["path"] = sqlite_path(self.broker_url, jupyter_data_dir(), root_dir)
        return cls(
            retention=self.make_retention(default_bytes),
            url=self.broker_url,
            idempotency_ttl=self.idempotency_ttl,
            idempotency_keys=self.idempotency_keys_max,
            latest_keys=self.latest_keys_max,
            **options,
        )

    def open_broker(self) -> Broker:
        """The broker, its store opened: a bad ``retention`` setting, or a file that
        another server holds, or that is corrupt, stops the server here with a message
        naming it, rather than letting it run with no realtime channels (or, worse, empty
        ones)."""
        try:
            broker = self.make_broker()
        except ValueError as exc:  # a bad retention rule, named by make_retention
            self.log.critical("jupyter_realtime cannot start: %s", exc)
            raise SystemExit(f"jupyter_realtime: {exc}") from exc
        if isinstance(broker, SQLiteBroker):
            try:
                broker.open()
            except StoreError as exc:
                self.log.critical("jupyter_realtime cannot start: %s", exc.message)
                raise SystemExit(f"jupyter_realtime: {exc.message}") from exc
            self.log.info("jupyter_realtime: channels are kept in %s", broker.path)
        return broker
