"""The Jupyter server extension: configuration, handler table and lifecycle.

Public name: :class:`RealtimeApp`. Every knob is a trait (``--RealtimeApp.name=value`` or
``c.RealtimeApp.name`` in a config file). Handlers get the shared
:class:`~jupyter_realtime.transports.context.RealtimeContext` through their URL spec.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado import ioloop
from traitlets import (
    Bool,
    Float,
    Int,
    List,
    TraitError,
    Unicode,
    default,
    validate,
)

from .access import AccessConfig
from .broker_config import BrokerConfig
from .client._discovery import ENV_HUB_SERVICE, hub_service_url
from .documents import DocumentsConfig, DocumentService
from .hub import Hub
from .lockdown import trusted_values, user_config_disabled
from .session import wait_background
from .transports import _compat as transports_compat
from .transports.anonymous import watch_anonymous_users
from .transports.api import ChannelsHandler, HistoryHandler, PresenceHandler, PublishHandler
from .transports.context import RealtimeContext
from .transports.documents import DocumentHandler
from .transports.polling import JSONPHandler, PollHandler
from .transports.sse import SSEHandler
from .transports.streaming import XHRStreamHandler
from .transports.uplink import SessionHandler
from .transports.watch import STATIC_DIR, ClientModuleHandler, WatchPageHandler
from .transports.websocket import RealtimeWebSocketHandler

__all__ = ["LOCKED_SETTINGS", "RealtimeApp"]

TRANSPORTS = ("ws", "sse", "stream", "poll")
CHANNEL = r"(?P<channel>[^/]+)"
# who a connection is and what it may do: never from the user's own config files when the
# administrator disables them (lockdown.py, docs/security.md)
LOCKED_SETTINGS = ("token_user", *AccessConfig.class_trait_names(config=True))


class RealtimeApp(ExtensionApp, BrokerConfig, AccessConfig, DocumentsConfig):
    name = "jupyter_realtime"
    load_other_extensions = True

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

    hub_service = Unicode(
        config=True,
        help="In a JupyterHub single-user server: the name of the hub's realtime service "
        "(jupyter realtime serve, docs/jupyterhub.md). When set, this server opens no broker "
        "and serves no realtime endpoints; its kernels and terminals are pointed at "
        "/services/NAME/ under the hub's public URL (or $JUPYTER_REALTIME_URL when the "
        "spawner sets it) with the user's own hub token. "
        "Default: $JUPYTER_REALTIME_HUB_SERVICE (set it with c.Spawner.environment), else ''.",
    )

    @default("hub_service")
    def _default_hub_service(self) -> str:
        return os.environ.get(ENV_HUB_SERVICE, "")

    as_hub_service = Bool(
        False,
        config=True,
        help="Set by jupyter realtime serve: this server is JupyterHub's realtime service, "
        "whose identities are hub users only (its own API token names no user and its "
        "kernels get no realtime environment). Default: False.",
    )

    @property
    def delegated(self) -> bool:
        """Whether this server leaves realtime to the hub's service (``hub_service``)."""
        return bool(self.hub_service) and not self.as_hub_service

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

    def initialize_settings(self) -> None:
        if user_config_disabled():
            self.apply_trusted_settings()
        if self.delegated:
            self.log.info(
                "jupyter_realtime: channels are served by JupyterHub's %r service; "
                "this server opens no broker", self.hub_service,
            )
            return
        if self.as_hub_service:
            self.trust_hub_xsrf()
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
            token_holders=not self.as_hub_service,
            policy=self.make_policy(),
            limits=self.make_limits(),
        )
        self.context.limits.live = self.hub.broker.is_live
        self.documents = self.make_documents(self.hub)

    def trust_hub_xsrf(self) -> None:
        """As JupyterHub's single-user servers do: tornado's own XSRF check runs before the
        hub has identified a request (so it would refuse token requests); Jupyter's check in
        ``prepare``, which JupyterHub's identity provider replaces by the hub's, still runs
        for every request with a cookie."""
        # self.settings: what the extension puts back into the web app's settings
        self.settings["xsrf_cookies"] = False
        headers = dict(self.settings.get("headers") or {})
        headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        self.settings["headers"] = headers

    def apply_trusted_settings(self) -> None:
        """Set :data:`LOCKED_SETTINGS` from the administrator's config files and the
        command line only (their defaults when those do not set them)."""
        server: Any = self.serverapp
        trusted = trusted_values(
            "RealtimeApp",
            LOCKED_SETTINGS,
            paths=server.config_file_paths,
            config_dir=server.config_dir,
            file_names=("jupyter_server_config", self.config_file_name),
            command_line=(server.cli_config, self.cli_config),
        )
        for name in LOCKED_SETTINGS:
            value = trusted[name] if name in trusted else self.trait_defaults(name)
            if getattr(self, name) != value:
                self.log.info("RealtimeApp.%s: the user's own config is ignored", name)
            setattr(self, name, value)

    def initialize_handlers(self) -> None:
        if self.delegated:
            return
        # the anonymous users Jupyter makes up for the shared token become token_user;
        # the users an identity provider names stay theirs (transports/anonymous.py)
        if self.serverapp is not None:
            watch_anonymous_users(self.serverapp.identity_provider)
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
        if self.delegated:
            if self.set_kernel_env:
                self.export_service_env()
            return
        await self.hub.start()
        await self.documents.start()
        self._sweeper = ioloop.PeriodicCallback(
            self.context.sweep, self.heartbeat_interval * 1000
        )
        self._sweeper.start()
        self._outbox_check = ioloop.PeriodicCallback(self.context.check_outboxes, 1000)
        self._outbox_check.start()
        if self.set_kernel_env and not self.as_hub_service:
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

    def export_service_env(self) -> None:
        """Point kernels and terminals at the hub's service, with the user's hub token."""
        # a URL the spawner set wins (in Kubernetes, the proxy's in-cluster address)
        url = os.environ.get("JUPYTER_REALTIME_URL") or hub_service_url(
            os.environ, self.hub_service
        )
        if not url:
            self.log.warning(
                "jupyter_realtime: hub_service is %r but JUPYTERHUB_PUBLIC_HUB_URL is not set "
                "(set c.JupyterHub.public_url, or JUPYTER_REALTIME_URL for the kernels)",
                self.hub_service,
            )
            return
        os.environ["JUPYTER_REALTIME_URL"] = url
        os.environ["JUPYTER_REALTIME_TOKEN"] = os.environ.get("JUPYTERHUB_API_TOKEN", "")

    async def stop_extension(self) -> None:
        if self.delegated:
            return
        if self._sweeper is not None:
            self._sweeper.stop()
        if self._outbox_check is not None:
            self._outbox_check.stop()
        self.context.shutdown()
        await wait_background()  # closed sessions leave their channels before the broker goes
        await self.documents.close()
        await self.hub.close()
