"""A user's own config cannot change who she is or what the policy allows when the
administrator disables it (``JUPYTERHUB_DISABLE_USER_CONFIG``, set by JupyterHub's
``Spawner.disable_user_config``): real ``jupyter server`` subprocesses, one with the switch
and one without (which shows the user's file is read at all)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from traitlets.config import Config

from jupyter_realtime.lockdown import trusted_paths, trusted_values, user_config_disabled
from tests.jupyter_process import Server, started

USER_FILE = """
c.RealtimeApp.token_user = "teacher"
c.RealtimeApp.channel_default = ["teacher"]  # nobody else may do anything
"""


def make_server(tmp: Path, name: str, locked: bool) -> Server:
    home, root = tmp / f"{name}-home", tmp / f"{name}-root"
    root.mkdir(parents=True)
    env = {"JUPYTERHUB_USER": "alice"}  # as a spawner sets it: token_user's default
    if locked:
        env["JUPYTERHUB_DISABLE_USER_CONFIG"] = "1"
    server = Server(home, root, tmp / f"{name}-runtime", "secret-" + name, env=env)
    server.config_dir.mkdir(parents=True)  # JUPYTER_CONFIG_DIR, the user's ~/.jupyter
    (server.config_dir / "jupyter_server_config.py").write_text(USER_FILE)
    return server


def publish(server: Server, channel: str) -> httpx.Response:
    headers = {"Authorization": f"token {server.token}"}
    url = f"{server.url}realtime/api/channels/{channel}"
    return httpx.post(url, json={"text": "hi"}, headers=headers, timeout=10)


def history(server: Server, channel: str) -> list[dict[str, object]]:
    headers = {"Authorization": f"token {server.token}"}
    url = f"{server.url}realtime/api/channels/{channel}/history"
    answer = httpx.get(url, headers=headers, timeout=10)
    answer.raise_for_status()
    pubs: list[dict[str, object]] = answer.json()["publications"]
    return pubs


def test_disable_user_config_ignores_token_user_and_rules_of_the_users_file(
    tmp_path: Path,
) -> None:
    locked = make_server(tmp_path, "locked", locked=True)
    open_ = make_server(tmp_path, "open", locked=False)
    with started(locked, open_):
        # without the switch the user's file wins over the administrator's
        answer = publish(open_, "exam")
        assert answer.status_code == 200, answer.text
        [pub] = history(open_, "exam")
        assert (pub["sender"], pub["sender_name"]) == ("teacher", "teacher")
        # with it, the administrator's token_user and the default rule hold
        answer = publish(locked, "exam")
        assert answer.status_code == 200, answer.text
        [pub] = history(locked, "exam")
        assert (pub["sender"], pub["sender_name"]) == ("alice", "alice")
        log = locked.output()
        assert "RealtimeApp.token_user: the user's own config is ignored" in log
        assert "RealtimeApp.channel_default: the user's own config is ignored" in log


def test_trusted_paths_leave_out_the_user_config_dir_and_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = [str(home / ".jupyter"), str(home / "venv/etc/jupyter"), "/etc/jupyter",
             str(tmp_path / "admin"), str(home / ".jupyter/sub")]
    kept = trusted_paths(paths, str(home / ".jupyter"), str(home))
    assert kept == ["/etc/jupyter", str(tmp_path / "admin")]


def test_the_switch_reads_as_jupyterhub_sets_it() -> None:
    assert user_config_disabled({"JUPYTERHUB_DISABLE_USER_CONFIG": "1"})
    assert user_config_disabled({"JUPYTERHUB_DISABLE_USER_CONFIG": "True"})
    assert not user_config_disabled({"JUPYTERHUB_DISABLE_USER_CONFIG": "0"})
    assert not user_config_disabled({})


def test_trusted_values_come_from_admin_files_and_the_command_line(tmp_path: Path) -> None:
    home, admin = tmp_path / "home", tmp_path / "admin"
    (home / ".jupyter").mkdir(parents=True)
    admin.mkdir()
    (home / ".jupyter/jupyter_server_config.py").write_text(USER_FILE)
    (admin / "jupyter_server_config.json").write_text(
        json.dumps({"RealtimeApp": {"channel_default": ["staff"], "user_groups": {"a": []}}})
    )
    cli = Config({"RealtimeApp": {"user_groups": {"b": ["x"]}}})
    values = trusted_values(
        "RealtimeApp", ["token_user", "channel_default", "user_groups"],
        paths=[str(home / ".jupyter"), str(admin)], config_dir=str(home / ".jupyter"),
        file_names=["jupyter_server_config"], command_line=[cli], home=str(home),
    )
    assert values == {"channel_default": ["staff"], "user_groups": {"b": ["x"]}}
