#!/usr/bin/env bash
# The main job (creates or reuses ./.venv).
source "$(dirname "$0")/env.sh"
exec python examples/lm/main_job.py "$@"
