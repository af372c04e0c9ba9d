# Sourced by the entry scripts: create (or reuse) ./.venv with the project installed.
# torch 2.14.1 / torchvision 0.29.1 are pinned because they are the releases this
# machine serves from disk; any torch >= 2.6 works for the package itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IIET_VENV:-$ROOT/.venv}"
STAMP="$VENV/.iiet-installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[env] creating $VENV" >&2
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [ ! -f "$STAMP" ] || [ "$ROOT/setup.py" -nt "$STAMP" ]; then
  echo "[env] installing iiet_plugin[dev] (first run takes a minute or two)" >&2
  python -m pip install -q --upgrade pip >&2
  python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" >&2
  python -m pip install -q -e "$ROOT[dev]" >&2
  touch "$STAMP"
fi
cd "$ROOT"
# The data root of the studies and the real-data tests (iiet_plugin/experiments/data.py):
# $IIET_DATA when set, else the team's copy next to the checkout when there is one.
if [ -z "${IIET_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export IIET_DATA="$(cd "$ROOT/../shared/data" && pwd)"
fi
