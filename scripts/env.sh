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
  # torch 2.14.1 from PyPI is the CUDA build: about 6.3 GB once installed.  Refuse before
  # installing anything when the venv's disk cannot hold it (a half-installed torch fails
  # later, far from the cause), and keep no second copy of the wheels in pip's cache.
  NEED_GB=${IIET_VENV_MIN_FREE_GB:-7}
  if ! python -c "import torch" >/dev/null 2>&1; then
    FREE_GB=$(df -Pk "$VENV" | awk 'NR == 2 { print int($4 / 1048576) }')
    if [ "$FREE_GB" -lt "$NEED_GB" ]; then
      echo "[env] error: $VENV needs about $NEED_GB GB free for torch and its libraries" \
           "(IIET_VENV_MIN_FREE_GB), the disk has $FREE_GB GB free;" \
           "free some space or set IIET_VENV to a folder on a larger disk" >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  echo "[env] installing iiet_plugin[dev] (first run takes a minute or two)" >&2
  python -m pip install -q --no-cache-dir --upgrade pip >&2
  python -m pip install -q --no-cache-dir "torch==2.14.1" "torchvision==0.29.1" >&2
  python -m pip install -q --no-cache-dir -e "$ROOT[dev]" >&2
  touch "$STAMP"
fi
cd "$ROOT"
# The data root of the studies and the real-data tests (iiet_plugin/experiments/data.py):
# $IIET_DATA when set, else the team's copy next to the checkout when there is one.
if [ -z "${IIET_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export IIET_DATA="$(cd "$ROOT/../shared/data" && pwd)"
fi
