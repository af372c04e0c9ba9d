#!/usr/bin/env bash
# Run the whole test suite (creates or reuses ./.venv).  Extra arguments go to pytest.
source "$(dirname "$0")/env.sh"
set +e
python -m pytest -q tests "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
fi
exit "$rc"
