"""JupyterHub's realtime service: ``jupyter realtime serve``.

Public names: :func:`main`, :class:`ServiceAuthorizer`, :class:`ServiceIdentityProvider`,
:func:`service_config`.

The same hub, sessions, transports, brokers and policy as the server extension, run as one
JupyterHub *managed service* (``c.JupyterHub.services``, ``docs/jupyterhub.md``): a Jupyter
server of its own whose only extension is ``jupyter_realtime``, at the service's prefix
(``/services/NAME/``), with

- JupyterHub's identity provider (``HubOAuth``): a browser logs in by OAuth (a cookie), a
  kernel, script or CLI sends the user's own hub API token (``Authorization: token ...``),
  resolved by the hub. Every identity is a hub user: name, groups and the token's scopes.
  The service's own API token names no user here (``RealtimeApp.as_hub_service``).
- :class:`ServiceAuthorizer`: the ``realtime`` resource and nothing else, for users the
  hub lets use the service (its access scopes). The Jupyter server's other APIs (kernels,
  contents, ...) answer 403 to everyone, so no user runs code beside the broker's
  credentials.

It is the only process that holds the broker's credentials: it reads them from its own
config (``c.RealtimeApp.broker_url``) or environment (``JUPYTER_REALTIME_BROKER_URL``,
set with the service's ``environment``); single-user servers get none
(``RealtimeApp.hub_service``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.serverapp import ServerApp
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from traitlets.config import Config

__all__ = [
    "ENV_BROKER_URL", "ServiceAuthorizer", "ServiceIdentityProvider", "main", "service_config",
]

ENV_BROKER_URL = "JUPYTER_REALTIME_BROKER_URL"
REQUIRED_ENV = ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_URL", "JUPYTERHUB_SERVICE_PREFIX")


class ServiceAuthorizer(Authorizer):
    """Allows ``realtime`` (read and write; channel rules decide the rest) to users whose
    token the hub grants access to this service, and every other resource to no one."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if resource != "realtime":
            return False
        hub_auth = getattr(self.identity_provider, "hub_auth", None)
        model = getattr(user, "hub_user", None)
        if hub_auth is None or not isinstance(model, dict):
            return False
        return bool(hub_auth.check_scopes(hub_auth.access_scopes, model))


class ServiceIdentityProvider(JupyterHubIdentityProvider):  # type: ignore[misc]
    """JupyterHub's identity provider, with another hub service named ``service:NAME``:
    a service whose name is a user's (``teacher``) never passes for that user in rules,
    presence or ``sender``."""

    async def get_user(self, handler: Any) -> Any:
        user = await super().get_user(handler)
        model = getattr(user, "hub_user", None)
        if isinstance(model, dict) and model.get("kind") == "service":
            name = f"service:{model.get('name', '')}"
            if user.username != name:  # the handler caches the user: rename once
                user.username = name
                user.name = user.display_name = name
        return user


class ServiceError(Exception):
    """The service cannot start (not launched by JupyterHub)."""


def service_config(env: Mapping[str, str], root_dir: str) -> Config:
    """The Jupyter server configuration of the service, from the environment JupyterHub
    gives a managed service (``JUPYTERHUB_SERVICE_URL`` says where to listen,
    ``JUPYTERHUB_SERVICE_PREFIX`` under which path)."""
    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise ServiceError(
            f"{', '.join(missing)} not set: jupyter realtime serve runs as a JupyterHub "
            "managed service (c.JupyterHub.services with a command and a url, "
            "docs/jupyterhub.md)"
        )
    bind = urllib.parse.urlsplit(env["JUPYTERHUB_SERVICE_URL"])
    if bind.scheme != "http" or not bind.hostname or not bind.port:
        raise ServiceError(
            "JUPYTERHUB_SERVICE_URL must be http://HOST:PORT, not "
            f"{env['JUPYTERHUB_SERVICE_URL']!r}"
        )
    c = Config()
    c.ServerApp.ip = bind.hostname
    c.ServerApp.port = bind.port
    c.ServerApp.port_retries = 0
    c.ServerApp.base_url = env["JUPYTERHUB_SERVICE_PREFIX"]
    c.ServerApp.open_browser = False
    c.ServerApp.root_dir = root_dir  # empty: there is nothing to serve but channels
    c.ServerApp.identity_provider_class = ServiceIdentityProvider
    c.ServerApp.authorizer_class = ServiceAuthorizer
    c.ServerApp.jpserver_extensions = {"jupyter_realtime": True}
    c.RealtimeApp.as_hub_service = True
    c.RealtimeApp.hub_service = ""
    c.RealtimeApp.set_kernel_env = False
    if env.get(ENV_BROKER_URL):
        c.RealtimeApp.broker_url = env[ENV_BROKER_URL]
    return c


def main(argv: list[str]) -> int:
    """Run the service until it is stopped; ``argv``: Jupyter options such as
    ``--RealtimeApp.broker_url=redis://...``. Exit status 2 outside JupyterHub."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__)
        return 0
    with tempfile.TemporaryDirectory(prefix="jupyter-realtime-service-") as root_dir:
        try:
            config = service_config(os.environ, root_dir)
        except ServiceError as exc:
            print(f"jupyter realtime serve: error: {exc}", file=sys.stderr)
            return 2
        app = ServerApp.instance(config=config)
        # find_extensions=False: only jupyter_realtime, whatever the config.d files enable
        app.initialize(argv=argv, find_extensions=False, new_httpserver=True)
        app.start()
    return 0
