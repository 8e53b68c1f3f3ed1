#!/usr/bin/env bash
# The README's run command, word for word, in a bare virtual environment:
#   python -m pip install -e . && jupyter lab
# In a temporary directory: a new venv, the install from this checkout, then `jupyter lab`
# on a free port with a token and its own Jupyter config, data and runtime directories (so
# it neither sees nor is seen by other servers). Checks that /lab answers and serves the
# lab extension, that the server extension answers (realtime/api/channels), that
# `jupyter labextension list` shows the lab extension enabled, and that a kernel starts and
# answers (kernel_info). The server is stopped by its PID and the directory removed on exit.
#
# pip's cache is used, and the lab extension is built only if the checkout has no build yet
# (the build hook skips an existing one), so this takes well under a minute once warm.
# Usage: bash scripts/check_install.sh   (PYTHON=python3.12 to pick the interpreter)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"

tmp="$(mktemp -d -t jupyter-realtime-install.XXXXXX)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "check_install: $*" >&2
    for log in "$tmp/pip.log" "$tmp/lab.log"; do
        [ -f "$log" ] && { echo "--- $(basename "$log") (last lines)" >&2; tail -n 40 "$log" >&2; }
    done
    exit 1
}

# a bare environment: nothing from an active venv, another server or the user's Jupyter dirs
unset PYTHONPATH JUPYTER_PATH JUPYTER_CONFIG_PATH JUPYTER_REALTIME_URL JUPYTER_REALTIME_TOKEN
export JUPYTER_CONFIG_DIR="$tmp/config" JUPYTER_DATA_DIR="$tmp/data"
export JUPYTER_RUNTIME_DIR="$tmp/runtime" IPYTHONDIR="$tmp/ipython"
mkdir -p "$tmp/root" "$JUPYTER_CONFIG_DIR" "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR"

started=$SECONDS
"$python" -m venv "$tmp/venv"
# shellcheck disable=SC1091
source "$tmp/venv/bin/activate"

echo "check_install: python -m pip install -e . (in a new venv)"
(cd "$root" && python -m pip install -e .) >"$tmp/pip.log" 2>&1 || fail "pip install -e . failed"
[ "$(command -v jupyter)" = "$tmp/venv/bin/jupyter" ] || fail "jupyter is not the venv's"
echo "check_install: installed in $((SECONDS - started)) s"

jupyter labextension list 2>&1 | grep -E "jupyter-realtime.*enabled" >/dev/null \
    || fail "jupyter labextension list does not show jupyter-realtime enabled"

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="$(python -c 'import secrets; print(secrets.token_hex(16))')"

echo "check_install: jupyter lab on port $port"
(cd "$tmp/root" && exec jupyter lab --no-browser --allow-root --ServerApp.port_retries=0 \
    --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --IdentityProvider.token="$token" \
    >"$tmp/lab.log" 2>&1) &
server_pid=$!

python - "$port" "$token" "$server_pid" <<'EOF' || fail "jupyter lab does not work as installed"
"""Ask the server what a user and the lab front end would; exit 1 with a reason if it fails."""

import json
import os
import sys
import time
import urllib.error
import urllib.request

port, token, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = f"http://127.0.0.1:{port}/"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (to the login page) is an answer to check, not to follow


opener.add_handler(NoRedirect())


def call(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, data=body, method=method)
    request.add_header("Authorization", f"token {token}")
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check(what: str, ok: bool, detail: object = "") -> None:
    if ok:
        print(f"check_install: ok   {what}", flush=True)
        return
    print(f"check_install: FAIL {what}: {detail}", flush=True)
    sys.exit(1)


deadline = time.monotonic() + 120
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        check("jupyter lab keeps running", False, "it exited")
    try:
        if call("GET", "api/status")[0] == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        check("jupyter lab answers within 120 s", False, "no answer")
    time.sleep(0.5)

status, body = call("GET", "lab")
check("GET /lab answers 200", status == 200, status)
check("/lab loads the jupyter-realtime lab extension", b"jupyter-realtime" in body)

status, body = call("GET", "realtime/api/channels")
check("GET /realtime/api/channels answers 200 (server extension loaded)", status == 200, status)

status, body = call("POST", "api/kernels", json.dumps({"name": "python3"}).encode())
check("POST /api/kernels answers 201", status == 201, (status, body[:300]))
kernel = json.loads(body)["id"]
# the kernel answers a kernel_info_request through the server's kernel WebSocket
from websockets.sync.client import connect  # noqa: E402 (a dependency of the package)

request = {
    "header": {"msg_id": "check-1", "msg_type": "kernel_info_request", "username": "",
               "session": "check", "date": "", "version": "5.3"},
    "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell",
}
reply = None
url = f"ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?token={token}"
with connect(url, open_timeout=30, proxy=None) as ws:
    deadline = time.monotonic() + 90
    while reply is None and time.monotonic() < deadline:
        ws.send(json.dumps(request))  # again until the kernel is up to answer it
        try:
            while True:
                msg = json.loads(ws.recv(timeout=3))
                if msg.get("msg_type") == "kernel_info_reply":
                    reply = msg
                    break
        except TimeoutError:
            continue
check("the kernel answers kernel_info", reply is not None and reply["content"]["status"] == "ok",
      reply or "no kernel_info_reply within 90 s")
status, _ = call("DELETE", f"api/kernels/{kernel}")
check("DELETE /api/kernels/ID answers 204", status == 204, status)
EOF

kill "$server_pid"
for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$server_pid" 2>/dev/null && fail "jupyter lab did not stop within 20 s of SIGTERM"
server_pid=""
echo "check_install: ok, the README's run command works in a bare venv ($((SECONDS - started)) s)"
