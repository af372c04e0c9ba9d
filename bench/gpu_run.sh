#!/usr/bin/env bash
# The one prepared GPU run (a lent device: Python 3.12, torch preinstalled, no network).
# Installs the wheels carried in bench/wheels/ (made here by scripts/gpu_wheels.sh), then runs
# bench/gpu_check.py in both modes; the table goes to $OUT/results_gpu.md (partial tables too,
# if the time limit stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import timm, torchvision" 2>/dev/null; then
  # exactly the carried files, no resolution (torch is the machine's own)
  keep=()
  for wheel in bench/wheels/*.whl; do
    name=$(basename "$wheel" | cut -d- -f1)
    python -c "import importlib.metadata as m; m.version('$name')" 2>/dev/null || keep+=("$wheel")
  done
  python -m pip install -q --no-index --no-deps "${keep[@]}"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PYTHONPATH=. python bench/gpu_check.py --repeats "${REPEATS:-10}" --modes "${MODES:-eager,compiled}" \
    --out "${OUT:-/tmp}/results_gpu.md"
