#!/usr/bin/env bash
# Run the whole test suite from a fresh checkout, installing what it needs:
#   system packages (chromium for the browser tests, redis-server for the Redis tests),
#   a virtual environment (.venv unless one is active) with the package and its test extras,
#   which builds the lab extension (Node.js and npm are needed for that).
# Python packages are installed at the exact versions of constraints/lock.txt (refreshed by
# `bash scripts/lock.sh`), so a release elsewhere cannot change what the suite runs against.
# Beside pytest, scripts/check_install.sh proves the README's run command in a bare venv
# (a minute or more; SKIP_INSTALL_CHECK=1 skips it for a quick local run).
# EDGES=1 (what CI sets) also runs scripts/edges.sh for the newest releases and for the
# declared minimums (Python 3.10), side by side after the main suite.
# pytest runs in PYTEST_WORKERS (default 4) processes. Extra arguments go to pytest, e.g.
#   bash scripts/test.sh -k websocket
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    echo "installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
# the lock reaches the isolated build environment too (the lab extension's builder);
# uv (itself at the lock's version) installs in a fraction of pip's time here
export PIP_CONSTRAINT="$PWD/constraints/lock.txt"
python -m pip install -q uv
UV_CONSTRAINT="$PIP_CONSTRAINT" UV_BUILD_CONSTRAINT="$PIP_CONSTRAINT" \
    python -m uv pip install -q -e ".[test]"
unset PIP_CONSTRAINT

# the extension must be live in a plain `jupyter server` / `jupyter lab`
jupyter server extension list 2>&1 | grep -E "jupyter_realtime.*enabled" >/dev/null \
    || { echo "jupyter_realtime server extension is not enabled" >&2; exit 1; }
jupyter labextension list 2>&1 | grep -E "jupyter-realtime.*enabled" >/dev/null \
    || { echo "jupyter-realtime lab extension is not enabled" >&2; exit 1; }

if [ -f labextension/package.json ] && grep -q '"test"' labextension/package.json; then
    (cd labextension && npm test --silent)
fi

# configurable-http-proxy for the tests that run a JupyterHub (tests/hub_fixtures.py)
(cd tests/hub && npm ci --no-audit --no-fund --silent)

edge_pids=()
edge_logs="$(mktemp -d -t jupyter-realtime-edges.XXXXXX)"
stop_edges() {  # an early failure stops the edge runs too (each is its own process group)
    local entry
    for entry in "${edge_pids[@]}"; do kill -- "-${entry#*:}" 2>/dev/null || true; done
    rm -rf "$edge_logs"
}
trap stop_edges EXIT

# the package is typed and linted (tests and benchmarks are held to ruff's defaults only)
python -m ruff check jupyter_realtime
python -m mypy

# the README's run command, word for word, in a new venv: mostly waiting on pip and on a
# starting server, so it runs beside pytest
install_check=""
if [ "${SKIP_INSTALL_CHECK:-}" != 1 ]; then
    PIP_CONSTRAINT="$PWD/constraints/lock.txt" setsid bash scripts/check_install.sh \
        >"$edge_logs/install.log" 2>&1 &
    install_check=$!
    edge_pids+=("install:$install_check")
fi

status=0
# four workers (pytest-xdist) on two cores: the suite mostly waits on servers, kernels and
# browsers (11 min here, against 13 with three)
python -m pytest -n "${PYTEST_WORKERS:-4}" --durations=25 "$@" || status=$?

# the edges after the main suite (beside it, both starve each other's timeouts), side by side
if [ "${EDGES:-}" = 1 ]; then
    for kind in newest minimum; do
        # a background job of a script starts with SIGINT ignored, and so would every
        # process it starts (the tests stop `jupyter realtime watch` with Ctrl-C): restore it
        setsid python -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);
os.execvp(sys.argv[1], sys.argv[1:])' bash scripts/edges.sh "$kind" >"$edge_logs/$kind.log" 2>&1 &
        edge_pids+=("$kind:$!")
    done
fi

for entry in "${edge_pids[@]}"; do  # the edge runs and the install check
    kind="${entry%%:*}"
    if wait "${entry#*:}"; then
        echo "$kind: ok ($(tail -n 1 "$edge_logs/$kind.log"))"
    else
        echo "$kind: FAILED" >&2
        grep -E '^(FAILED|ERROR|E  )' "$edge_logs/$kind.log" | head -n 40 >&2
        tail -n 20 "$edge_logs/$kind.log" >&2
        status=1
    fi
done
exit "$status"
