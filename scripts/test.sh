#!/usr/bin/env bash
# Run the whole test suite (creates or reuses ./.venv).  Extra arguments go to pytest.
# Tests run in IIET_TEST_WORKERS processes (default 2, pytest-xdist; a test file stays in one
# process, so its module fixtures are built once); IIET_TEST_WORKERS=0 runs them in this one.
source "$(dirname "$0")/env.sh"
set +e
WORKERS=${IIET_TEST_WORKERS:-2}
if [ "$WORKERS" -gt 0 ]; then
  python -m pytest -q -n "$WORKERS" --dist loadfile tests "$@"
else
  python -m pytest -q tests "$@"
fi
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
fi
exit "$rc"
