"""A real JupyterHub with the realtime service, started by the tests on free ports.

Public names: :class:`RealtimeHub`, :func:`start_hub`, :func:`proxy_bin`.

The hub runs ``DummyAuthenticator``, ``SimpleLocalProcessSpawner`` (homes under a temporary
directory), configurable-http-proxy from ``tests/hub/node_modules`` (``npm ci`` there when it
is missing) and ``jupyter realtime serve`` as its managed service ``realtime``. Users:
``teacher`` (group ``teachers``, custom scope ``custom:realtime:announce`` through a role),
``alice`` and ``bob`` (group ``students``), ``carol`` (no group), ``ta`` (no group, the
custom scope). Everything listens on
127.0.0.1; the hub and what it started (proxy, service, single-user servers) form one
process group, stopped by its id.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis_fixtures import free_port

HERE = Path(__file__).resolve().parent / "hub"
BIN = Path(sys.executable).parent
USERS = ("teacher", "alice", "bob", "carol", "ta")

# the service's channel rules: the classroom of docs/jupyterhub.md
SERVICE_CONFIG = """
c.RealtimeApp.channel_rules = [
    {"channels": "class:*", "publish": ["group:teachers", "scope:custom:realtime:announce"],
     "read": ["*"]},
    {"channels": "answers:*", "publish": ["group:students"], "read": ["group:teachers"]},
]
c.RealtimeApp.private_channels = {
    f"dm:{student}-teacher": [student, "teacher"] for student in ("alice", "bob", "carol")
}
c.RealtimeApp.personal_namespace = "user"
"""


def proxy_bin() -> Path:
    """configurable-http-proxy, installed from ``tests/hub/package-lock.json`` if needed."""
    chp = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
    if not chp.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for configurable-http-proxy (tests/hub/package.json)"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True, timeout=300
        )
    return chp


@dataclass
class RealtimeHub:
    root: Path
    url: str  # the proxy: the hub's public URL
    admin_token: str
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return f"{self.url}services/realtime/"

    def replica(self, n: int) -> str:
        """The URL of the n-th replica of the service (1: ``service``)."""
        return self.service if n == 1 else f"{self.url}services/realtime-{n}/"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx.request(
            method, f"{self.url}hub/api/{path}", headers=headers, timeout=30, **kwargs
        )

    def token(self, user: str) -> str:
        """A new API token of ``user`` (with the user's own permissions)."""
        if user not in self.tokens:
            reply = self.api("POST", f"users/{user}/tokens", json={"note": "test"})
            assert reply.status_code == 201, reply.text
            self.tokens[user] = reply.json()["token"]
        return self.tokens[user]

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")

    def spawn(self, user: str, timeout: float = 60) -> str:
        """Start ``user``'s single-user server; its URL once it answers."""
        reply = self.api("POST", f"users/{user}/server")
        assert reply.status_code in (201, 202), reply.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"users/{user}").json()
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                return f"{self.url}user/{user}/"
            time.sleep(0.3)
        raise AssertionError(f"{user}'s server did not start:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.process.wait(timeout=5)
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # what the hub left behind
        except ProcessLookupError:
            pass
        self.process.wait(timeout=5)


def hub_config(
    root: Path, ports: dict[str, int], admin_token: str, broker_url: str, replicas: int
) -> str:
    # replicas of the service on one broker: realtime, realtime-2, ... (one route each)
    services = [("realtime", ports["service"])] + [
        (f"realtime-{n}", free_port()) for n in range(2, replicas + 1)
    ]
    serve = [str(BIN / "jupyter"), "realtime", "serve", f"--config={root / 'service_config.py'}"]
    if os.getuid() == 0:  # a container's root: Jupyter servers refuse it unless told
        serve.append("--ServerApp.allow_root=True")
    return textwrap.dedent(
        f"""
        c = get_config()  # noqa
        c.JupyterHub.ip = "127.0.0.1"
        c.JupyterHub.port = {ports["proxy"]}
        c.JupyterHub.hub_ip = "127.0.0.1"
        c.JupyterHub.hub_port = {ports["hub"]}
        c.JupyterHub.public_url = "http://127.0.0.1:{ports["proxy"]}/"
        c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
        c.ConfigurableHTTPProxy.command = [{str(proxy_bin())!r}]
        c.JupyterHub.db_url = "sqlite:///{root / "hub.sqlite"}"
        c.JupyterHub.cookie_secret_file = "{root / "cookie_secret"}"
        c.JupyterHub.pid_file = "{root / "hub.pid"}"
        c.JupyterHub.authenticator_class = "dummy"
        c.DummyAuthenticator.password = "classroom"
        c.Authenticator.allowed_users = {set(USERS)!r}
        c.JupyterHub.spawner_class = "simple"
        c.SimpleLocalProcessSpawner.home_dir_template = "{root / "home"}/{{username}}"
        c.Spawner.start_timeout = 60
        c.Spawner.http_timeout = 60
        c.Spawner.environment = {{"JUPYTER_REALTIME_HUB_SERVICE": "realtime"}}
        # the token of a user's server (its kernels use it) may use the service, and
        # carries the user's groups and realtime scopes (those the user holds)
        c.Spawner.server_token_scopes = [
            "users:activity!user", "access:servers!server", "access:services!service=realtime",
            "read:users:groups!user", "custom:realtime:announce",
        ]
        c.Spawner.args = {["--allow-root"] if os.getuid() == 0 else []!r}
        c.JupyterHub.load_groups = {{
            "teachers": {{"users": ["teacher"]}},
            "students": {{"users": ["alice", "bob"]}},
        }}
        c.JupyterHub.custom_scopes = {{
            "custom:realtime:announce": {{"description": "Announce to the class"}},
        }}
        c.JupyterHub.load_roles = [
            {{"name": "user", "scopes": ["self"] + [f"access:services!service={{name}}"
                                                    for name, _ in {services!r}]}},
            {{"name": "announcer", "scopes": ["custom:realtime:announce"],
              "users": ["teacher", "ta"]}},
            {{"name": "tester", "scopes": ["admin:users", "admin:servers", "tokens",
              "read:users", "admin:groups", "access:services!service=realtime"],
              "services": ["tester"]}},
        ]
        c.JupyterHub.services = [
            {{"name": "tester", "api_token": {admin_token!r}}},
        ]
        for name, port in {services!r}:
            c.JupyterHub.services.append({{
                "name": name,
                "url": f"http://127.0.0.1:{{port}}",
                "command": {serve!r},
                "oauth_no_confirm": True,
                "environment": {{
                    "JUPYTER_REALTIME_BROKER_URL": {broker_url!r},
                    "JUPYTER_RUNTIME_DIR": "{root / "service-runtime"}-" + name,
                }},
            }})
        """
    )


def start_hub(
    root: Path,
    broker_url: str = "memory://",
    timeout: float = 60,
    replicas: int = 1,
    service_config: str = "",
) -> RealtimeHub:
    """A JupyterHub with the realtime service (``replicas`` of it, ``realtime``,
    ``realtime-2``...; ``service_config`` added to their config), once each answers through
    the proxy."""
    ports = {name: free_port() for name in ("proxy", "proxy_api", "hub", "service")}
    admin_token = secrets.token_hex(16)
    root.mkdir(parents=True, exist_ok=True)
    for user in USERS:
        (root / "home" / user).mkdir(parents=True, exist_ok=True)
    (root / "service_config.py").write_text(SERVICE_CONFIG + service_config)
    config = root / "jupyterhub_config.py"
    config.write_text(hub_config(root, ports, admin_token, broker_url, replicas))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("JUPYTER_REALTIME_URL", "JUPYTER_REALTIME_TOKEN", "JUPYTER_REALTIME_HUB_SERVICE"):
        env.pop(name, None)
    log = open(root / "hub.log", "wb")  # noqa: SIM115 (the hub's output, read on failure)
    process = subprocess.Popen(
        [str(BIN / "jupyterhub"), "-f", str(config)],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    hub = RealtimeHub(root, f"http://127.0.0.1:{ports['proxy']}/", admin_token, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            hub.stop()  # what it started may still run in its process group
            raise AssertionError(f"JupyterHub exited:\n{hub.log()[-4000:]}")
        # each service answers its own JSON error without a token: it is up and proxied
        if all(_answers(hub.replica(n)) for n in range(1, replicas + 1)):
            return hub
        time.sleep(0.25)
    hub.stop()
    raise AssertionError(f"the realtime service did not answer:\n{hub.log()[-4000:]}")


def _answers(service: str) -> bool:
    try:
        reply = httpx.get(f"{service}realtime/api/channels", timeout=5)
    except httpx.HTTPError:
        return False
    return reply.status_code in (401, 403) and "error" in reply.text
