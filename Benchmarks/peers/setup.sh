#!/usr/bin/env bash
# Creates (idempotently) the Python virtual environment used by the peer
# benchmark (Python Pebble) at <package root>/.build/peers-venv.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
VENV="$ROOT/.build/peers-venv"
REQ="$SCRIPT_DIR/requirements.txt"
PY="${PYTHON:-python3}"

# Version pinned in requirements.txt (e.g. "pebble==5.2.3").
WANT="$(sed -n 's/^[[:space:]]*pebble[[:space:]]*==[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$REQ" | head -n1)"

if [[ -x "$VENV/bin/python" ]]; then
    HAVE="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pebble"))' 2>/dev/null || true)"
    if [[ -n "$WANT" && "$HAVE" == "$WANT" ]]; then
        echo "peers-venv: pebble $HAVE already installed at $VENV" >&2
        exit 0
    fi
else
    echo "peers-venv: creating $VENV" >&2
    mkdir -p "$ROOT/.build"
    "$PY" -m venv "$VENV"
fi

echo "peers-venv: installing $REQ" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
"$VENV/bin/python" -c 'import importlib.metadata as m; print("peers-venv: pebble", m.version("pebble"), "installed")' >&2
