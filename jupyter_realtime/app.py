"""The Jupyter server extension: configuration, handler table and lifecycle.

Public name: :class:`RealtimeApp`. Every knob is a trait (``--RealtimeApp.name=value`` or
``c.RealtimeApp.name`` in a config file). Handlers get the shared
:class:`~jupyter_realtime.transports.context.RealtimeContext` through their URL spec.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from tornado import ioloop
from traitlets import (
    Bool,
    Enum,
    Float,
    Int,
    List,
    TraitError,
    Type,
    Unicode,
    default,
    validate,
)

from .access import AccessConfig
from .brokers.base import Broker
from .brokers.memory import MemoryBroker
from .brokers.sqlite import SQLiteBroker, StoreError, sqlite_path
from .documents import DocumentsConfig, DocumentService
from .hub import Hub
from .session import wait_background
from .transports import _compat as transports_compat
from .transports.api import ChannelsHandler, HistoryHandler, PresenceHandler, PublishHandler
from .transports.context import RealtimeContext
from .transports.documents import DocumentHandler
from .transports.polling import JSONPHandler, PollHandler
from .transports.sse import SSEHandler
from .transports.streaming import XHRStreamHandler
from .transports.uplink import SessionHandler
from .transports.watch import STATIC_DIR, ClientModuleHandler, WatchPageHandler
from .transports.websocket import RealtimeWebSocketHandler

__all__ = ["RealtimeApp"]

TRANSPORTS = ("ws", "sse", "stream", "poll")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
MEMORY_URL = "memory://"
CHANNEL = r"(?P<channel>[^/]+)"


class RealtimeApp(ExtensionApp, AccessConfig, DocumentsConfig):
    name = "jupyter_realtime"
    load_other_extensions = True

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
    history_max_bytes = Int(
        64 << 20,
        config=True,
        help="In-memory and SQLite brokers: bytes of history per channel (payload, sender "
        "and about 320 bytes of bookkeeping per publication); the oldest go first (0: no limit). "
        "Default: 67108864 (64 MiB).",
    )
    history_max_bytes_total = Int(
        256 << 20,
        config=True,
        help="In-memory and SQLite brokers: bytes of history of every channel together "
        "(held in memory as well as on disk); above it the "
        "oldest publications of the largest channels go first, down to 90% of it, and "
        "resumes from before them get recovered: false (0: no limit). "
        "Default: 268435456 (256 MiB).",
    )
    history_size = Int(
        1000,
        config=True,
        help="Publications kept per channel for history and recovery. Default: 1000.",
    )
    history_ttl = Float(
        86400.0,
        config=True,
        help="Seconds a publication stays in history (0: until pushed out by size). "
        "Default: 86400 (a day).",
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
    max_message_size = Int(
        1 << 20, config=True, help="Bytes of data in one publication. Default: 1048576 (1 MiB)."
    )
    max_recover = Int(
        10_000,
        config=True,
        help="Publications replayed at most when a client resumes; a longer gap is "
        "reported as recovered: false. Default: 10000.",
    )
    outbox_limit = Int(
        4 << 20,
        config=True,
        help="Bytes queued for one connection before it is disconnected as a slow "
        "consumer. A history answer holds at most a quarter of it, and replays wait for "
        "the outbox to drain; it must hold two of the largest frames (about 4/3 of "
        "max_message_size plus 64 KiB each). Default: 4194304 (4 MiB).",
    )
    heartbeat_interval = Float(
        15.0,
        config=True,
        help="Seconds between heartbeats on SSE and XHR streams (and the session sweep). "
        "Default: 15.",
    )
    session_timeout = Float(
        60.0,
        config=True,
        help="Seconds an HTTP session lives without its stream or a poll. Default: 60.",
    )
    poll_timeout = Float(
        25.0, config=True, help="Default seconds a long poll waits. Default: 25 (at most 60)."
    )
    sse_retry = Int(
        2000,
        config=True,
        help="Milliseconds an EventSource waits before reconnecting. Default: 2000.",
    )
    transports = List(
        Unicode(),
        default_value=list(TRANSPORTS),
        config=True,
        help="Enabled transports, of ws, sse, stream, poll. Default: all four. On the "
        "command line: --RealtimeApp.transports=sse --RealtimeApp.transports=poll, or "
        "one value 'sse,poll'.",
    )

    @validate("transports")
    def _validate_transports(self, proposal: Any) -> list[str]:
        # accept 'sse,poll' and '["sse","poll"]' as well as the repeated flag
        names = [
            name.strip(" []\"'")
            for item in proposal["value"]
            for name in str(item).split(",")
            if name.strip(" []\"'")
        ]
        unknown = sorted(set(names) - set(TRANSPORTS))
        if unknown:
            raise TraitError(f"unknown transports {unknown}; expected some of {list(TRANSPORTS)}")
        return names
    jsonp_enabled = Bool(
        False,
        config=True,
        help="Serve JSONP polling (realtime/jsonp). Any page that knows a token can read "
        "channels through it. Default: False.",
    )
    set_kernel_env = Bool(
        True,
        config=True,
        help="Put JUPYTER_REALTIME_URL and JUPYTER_REALTIME_TOKEN in the environment of "
        "kernels this server starts. Default: True.",
    )
    token_user = Unicode(
        config=True,
        help="The user of requests made with the server's token and no login cookie "
        "(scripts, the command line, kernels; a kernel the server started is named too, "
        "as USER/kernel/ID): their sender, presence and limits. Default: $JUPYTERHUB_USER "
        "when set, else the login name of the user running the server.",
    )

    @default("token_user")
    def _default_token_user(self) -> str:
        try:
            return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
        except (OSError, KeyError):  # no login name (a container with an unknown uid)
            return "token"

    @validate("token_user")
    def _validate_token_user(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip()
        if not value:
            raise TraitError("token_user must be a non-empty name")
        return value

    hub: Hub
    context: RealtimeContext
    documents: DocumentService
    _sweeper: ioloop.PeriodicCallback | None = None
    _outbox_check: ioloop.PeriodicCallback | None = None

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
        if issubclass(cls, MemoryBroker):
            options = {
                "meta_ttl": self.channel_meta_ttl,
                "history_bytes": self.history_max_bytes,
                "history_bytes_total": self.history_max_bytes_total,
            }
        if issubclass(cls, SQLiteBroker):
            options["synchronous"] = self.sqlite_synchronous
            root_dir = self.serverapp.root_dir if self.serverapp is not None else os.getcwd()
            options["path"] = sqlite_path(self.broker_url, jupyter_data_dir(), root_dir)
        return cls(
            history_size=self.history_size,
            history_ttl=self.history_ttl,
            url=self.broker_url,
            idempotency_ttl=self.idempotency_ttl,
            idempotency_keys=self.idempotency_keys_max,
            **options,
        )

    def open_broker(self) -> Broker:
        """The broker, its store opened: a file that another server holds, or that is
        corrupt, stops the server here with a message naming it, rather than letting it
        run with no realtime channels (or, worse, empty ones)."""
        broker = self.make_broker()
        if isinstance(broker, SQLiteBroker):
            try:
                broker.open()
            except StoreError as exc:
                self.log.critical("jupyter_realtime cannot start: %s", exc.message)
                raise SystemExit(f"jupyter_realtime: {exc.message}") from exc
            self.log.info("jupyter_realtime: channels are kept in %s", broker.path)
        return broker

    def initialize_settings(self) -> None:
        self.hub = Hub(
            self.open_broker(),
            max_message_size=self.max_message_size,
            max_recover=self.max_recover,
            page_bytes=self.outbox_limit // 4,
        )
        self.context = RealtimeContext(
            hub=self.hub,
            # a transport that an installed tornado cannot carry is turned off, with a log line
            transports=transports_compat.apply_check(set(self.transports)),
            jsonp_enabled=self.jsonp_enabled,
            outbox_limit=self.outbox_limit,
            heartbeat_interval=self.heartbeat_interval,
            session_timeout=self.session_timeout,
            poll_timeout=self.poll_timeout,
            sse_retry_ms=self.sse_retry,
            token_user=self.token_user,
            policy=self.make_policy(),
            limits=self.make_limits(),
        )
        self.context.limits.live = self.hub.broker.is_live
        self.documents = self.make_documents(self.hub, self.broker_url, self.redis_key_prefix)

    def initialize_handlers(self) -> None:
        spec: dict[str, Any] = {"context": self.context}
        self.handlers.extend(
            [
                (r"/realtime/ws", RealtimeWebSocketHandler, spec),
                (r"/realtime/sse", SSEHandler, spec),
                (r"/realtime/stream", XHRStreamHandler, spec),
                (r"/realtime/poll", PollHandler, spec),
                (r"/realtime/jsonp", JSONPHandler, spec),
                (r"/realtime/session/(?P<sid>[A-Za-z0-9_-]+)", SessionHandler, spec),
                (r"/realtime/api/channels", ChannelsHandler, spec),
                (rf"/realtime/api/channels/{CHANNEL}", PublishHandler, spec),
                (rf"/realtime/api/channels/{CHANNEL}/history", HistoryHandler, spec),
                (rf"/realtime/api/channels/{CHANNEL}/presence", PresenceHandler, spec),
                (rf"/realtime/watch/{CHANNEL}", WatchPageHandler, spec),
                (r"/realtime/static/(.*)", ClientModuleHandler, {"path": str(STATIC_DIR)}),
                (rf"/realtime/api/documents/{CHANNEL}", DocumentHandler,
                 {**spec, "documents": self.documents}),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.hub.start()
        await self.documents.start()
        self._sweeper = ioloop.PeriodicCallback(
            self.context.sweep, self.heartbeat_interval * 1000
        )
        self._sweeper.start()
        self._outbox_check = ioloop.PeriodicCallback(self.context.check_outboxes, 1000)
        self._outbox_check.start()
        if self.set_kernel_env:
            self.export_kernel_env(serverapp)

    def export_kernel_env(self, serverapp: Any) -> None:
        """Kernels inherit the server's environment: tell them where the hub is.

        Both variables are always set (the token possibly empty), so that values inherited
        from an outer server (one started from another server's terminal) never leak into
        this server's kernels. The client reads them first (``client/_discovery.py``).
        """
        os.environ["JUPYTER_REALTIME_URL"] = serverapp.connection_url
        token = getattr(serverapp.identity_provider, "token", "") or ""
        os.environ["JUPYTER_REALTIME_TOKEN"] = token

    async def stop_extension(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
        if self._outbox_check is not None:
            self._outbox_check.stop()
        self.context.shutdown()
        await wait_background()  # closed sessions leave their channels before the broker goes
        await self.documents.close()
        await self.hub.close()
