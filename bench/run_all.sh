#!/usr/bin/env bash
# Rerun the CPU benchmarks and write bench/results_cpu.md (tables with their commands).
# The inference bench takes its E-IIET plans from an IIET teacher trained first by
# bench/teacher_lm.py (TEACHER_UPDATES, default 300; an existing checkpoint is reused
# when TEACHER=path is given).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p runs
if [ -z "${TEACHER:-}" ]; then
  python bench/teacher_lm.py --updates "${TEACHER_UPDATES:-300}" | tee /dev/stderr | tail -n 1 > runs/.bench_teacher_path
  TEACHER=$(cat runs/.bench_teacher_path)
fi
{
  echo "<!-- written by bench/run_all.sh on $(date -u +%Y-%m-%d) -->"
  python bench/train_step.py --repeats "${REPEATS:-5}" 2>/dev/null
  echo
  python bench/inference.py --repeats "${REPEATS:-5}" --teacher "$TEACHER" 2>/dev/null
} | tee bench/results_cpu.md
python bench/plot.py
