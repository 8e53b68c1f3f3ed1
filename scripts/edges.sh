#!/usr/bin/env bash
# The two edges of the supported range, over a fast subset of the suite that reaches every
# private internal the package relies on (jupyter_realtime/*/_compat.py), the kernel mirror,
# the transports and the brokers:
#   bash scripts/edges.sh newest    # every dependency at its newest release (Python 3.11)
#   bash scripts/edges.sh minimum   # every declared minimum (constraints/minimum.txt), Python 3.10
# Each makes a venv of its own with uv in a temporary directory (removed on exit) and installs
# this checkout into it; the lab extension must already be built (scripts/test.sh does that first).
# Python 3.10 is found as python3.10 on PATH, else under pyenv; PYTHON overrides.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind="${1:?usage: edges.sh newest|minimum}"

SUBSET=(
    tests/test_compat.py
    tests/test_kernel_mirror.py tests/test_cli_watch.py
    tests/test_websocket.py tests/test_sse.py tests/test_streaming_polling.py
    tests/test_identity.py
    tests/test_broker_contract.py tests/test_sqlite_broker.py tests/test_redis_broker.py
    tests/test_documents.py
)

find_python310() {
    local p
    for p in "$(command -v python3.10 2>/dev/null || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10; do
        if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

command -v uv >/dev/null || { echo "edges: uv is needed (pip install uv; the test extras have it)" >&2; exit 1; }
case "$kind" in
    newest) python="${PYTHON:-python3}"; install=(--upgrade) ;;
    minimum)
        python="${PYTHON:-$(find_python310)}" || { echo "edges: no Python 3.10 found (set PYTHON)" >&2; exit 1; }
        install=(-c "$root/constraints/minimum.txt") ;;
    *) echo "usage: edges.sh newest|minimum" >&2; exit 2 ;;
esac

tmp="$(mktemp -d -t "jupyter-realtime-$kind.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
started=$SECONDS
# uv resolves and installs in well under a minute what takes pip several here
unset PIP_CONSTRAINT UV_CONSTRAINT
uv venv -q -p "$python" "$tmp/venv"
(cd "$root" && VIRTUAL_ENV="$tmp/venv" uv pip install -q "${install[@]}" -e ".[test]") \
    >"$tmp/pip.log" 2>&1 || { tail -n 30 "$tmp/pip.log" >&2; exit 1; }
echo "edges $kind: installed in $((SECONDS - started)) s with $("$tmp/venv/bin/python" -V)"
VIRTUAL_ENV="$tmp/venv" uv pip freeze 2>/dev/null \
    | grep -iE '^(tornado|jupyter.server|ipykernel|ipython|redis|pycrdt|ipywidgets|jupyterlab|tqdm|websockets|anyio|orjson)==' \
    | tr '\n' ' '; echo
existing=()
for t in "${SUBSET[@]}"; do [ -f "$root/$t" ] && existing+=("$t"); done
cd "$root"
# tests start `jupyter server` and kernels by name: from this environment, not the caller's
export VIRTUAL_ENV="$tmp/venv" PATH="$tmp/venv/bin:$PATH"
python -m pytest -q -p no:cacheprovider "${existing[@]}" "${@:2}"
echo "edges $kind: passed in $((SECONDS - started)) s"
