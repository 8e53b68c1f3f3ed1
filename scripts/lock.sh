#!/usr/bin/env bash
# Refresh constraints/lock.txt, the exact versions the test command installs:
#   bash scripts/lock.sh
# In a new venv (Python 3.11, or $PYTHON), installs the package with its test extras and
# its build requirements at their newest releases, then freezes every installed
# distribution. Commit the result after `bash scripts/test.sh` passes with it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
tmp="$(mktemp -d -t jupyter-realtime-lock.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
# build requirements too: PIP_CONSTRAINT reaches pip's isolated build environment
build=$("$tmp/venv/bin/python" - "$root/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(" ".join(tomllib.load(f)["build-system"]["requires"]))
PY
)
# shellcheck disable=SC2086
"$tmp/venv/bin/python" -m pip install -q $build
(cd "$root" && "$tmp/venv/bin/python" -m pip install -q -e ".[test]")
{
    echo "# Exact versions for the test command (scripts/test.sh installs with -c this file)."
    echo "# Refresh: bash scripts/lock.sh   (Python $("$tmp/venv/bin/python" -c 'import platform; print(platform.python_version())'))"
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable --all | grep -vE '^(pip|setuptools|wheel|jupyter-realtime)=='
} >"$root/constraints/lock.txt.new"
mv "$root/constraints/lock.txt.new" "$root/constraints/lock.txt"
echo "constraints/lock.txt: $(grep -vc '^#' "$root/constraints/lock.txt") pinned distributions"
