#!/usr/bin/env bash
# Run the whole test suite from a fresh checkout, installing what it needs:
#   system packages (chromium for the browser tests, redis-server for the Redis tests),
#   a virtual environment (.venv unless one is active) with the package and its test extras,
#   which builds the lab extension (Node.js and npm are needed for that).
# Before pytest, scripts/check_install.sh proves the README's run command in a bare venv
# (about a minute; SKIP_INSTALL_CHECK=1 skips it for a quick local run).
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k websocket
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
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test]"

# the extension must be live in a plain `jupyter server` / `jupyter lab`
jupyter server extension list 2>&1 | grep -E "jupyter_realtime.*enabled" >/dev/null \
    || { echo "jupyter_realtime server extension is not enabled" >&2; exit 1; }
jupyter labextension list 2>&1 | grep -E "jupyter-realtime.*enabled" >/dev/null \
    || { echo "jupyter-realtime lab extension is not enabled" >&2; exit 1; }

if [ -f labextension/package.json ] && grep -q '"test"' labextension/package.json; then
    (cd labextension && npm test --silent)
fi

# the package is typed and linted (tests and benchmarks are held to ruff's defaults only)
python -m ruff check jupyter_realtime
python -m mypy

# the README's run command, word for word, in a new venv
if [ "${SKIP_INSTALL_CHECK:-}" != 1 ]; then
    bash scripts/check_install.sh
fi

python -m pytest "$@"
