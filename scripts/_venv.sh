# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: make .venv with the package and its test extras.
# Re-installs only when setup.py or constraints.txt changed, so a second run starts at once.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "error: Python 3.10 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ "$ROOT/setup.py" -nt "$stamp" ] || [ "$ROOT/constraints.txt" -nt "$stamp" ]; then
    echo "==> installing dynamodb-autoscaler-control and its test tools into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # The same runtime dependency versions as the image (constraints.txt).
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --constraint "$ROOT/constraints.txt" -e "${ROOT}[test]"
    touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
