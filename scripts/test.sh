#!/usr/bin/env bash
# The test command (README): quality gates, then the whole suite against the embedded PostgreSQL 18,
# then again (without the browser tests) against the PostgreSQL service on this machine (CI: PG 15).
# KIBAN_TEST_TARGETS="embedded" skips the service run on a machine without one.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${KIBAN_TEST_TARGETS:-"embedded service"}

echo "== ruff";          ruff check src tests bench
echo "== ruff format";   ruff format --check src tests bench
echo "== mypy";          mypy
echo "== import-linter"; lint-imports

for target in $targets; do
  echo "== pytest against the $target PostgreSQL"
  if [ "$target" = embedded ]; then
    pytest -q -p no:cacheprovider --pg embedded "$@"
  else
    # Browser tests exercise the web layer, not SQL: once is enough.
    pytest -q -p no:cacheprovider --pg "$target" -m "not ui" "$@"
  fi
done
