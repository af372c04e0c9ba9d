#!/usr/bin/env bash
# Rerun the CPU benchmarks and write bench/results_cpu.md (tables with their commands).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
{
  echo "<!-- written by bench/run_all.sh on $(date -u +%Y-%m-%d) -->"
  python bench/train_step.py --repeats "${REPEATS:-5}" 2>/dev/null
  echo
  python bench/inference.py --repeats "${REPEATS:-5}" 2>/dev/null
} | tee bench/results_cpu.md
