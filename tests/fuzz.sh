#!/usr/bin/env bash
# Schema-based fuzzing (schemathesis) of a live api against its own OpenAPI
# document, with every check (SPEC §18): no 5xx; responses match their
# documented schema, status and content type; schema-valid requests are
# accepted and schema-violating ones refused; undeclared methods get 405 with
# Allow; the stateful phase follows the document's links. Logged in as a
# superuser (through the `session` security scheme) so writes are exercised.
#
# Usage: tests/fuzz.sh [seconds]   (needs a built `api` debug binary)
set -euo pipefail
seconds=${1:-60}
target=${CARGO_TARGET_DIR:-$HOME/.cache/dtx-target}
venv="${DTX_FUZZ_VENV:-$HOME/.cache/dtx-fuzz/venv}"
port=${DTX_FUZZ_PORT:-8011}
work=$(mktemp -d)
trap 'kill "${api_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis==4.32.5
fi

RATE_LIMIT_PER_MINUTE=0 RATE_LIMIT_USER_PER_MINUTE=0 RATE_LIMIT_STAFF_PER_MINUTE=0 DTX_ENV=development DTX_TEST_ENDPOINTS=1 DATABASE_URL="sqlite://$work/fuzz.sqlite3?mode=rwc" BIND="127.0.0.1:$port" RUST_LOG=warn \
  "${DTX_FUZZ_API:-$target/debug/api}" >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break
  sleep 0.1
done


# The session comes from tests/fuzz_hooks.py (logged in again after a 401).
# Logout would end the fuzzer's own session; the test-login endpoint creates superusers by design.
# NUL is refused API-wide (422 `invalid_character`, stated in the document's description; JSON Schema
# cannot say it of every string), so the fuzzer does not generate it; `bad_input` and `hardening_ii` test it.
DTX_FUZZ_BASE="http://127.0.0.1:$port/api" PYTHONPATH="$(dirname "$0")" SCHEMATHESIS_HOOKS=fuzz_hooks \
"$venv/bin/st" --config-file "$(dirname "$0")/fuzz.toml" run "http://127.0.0.1:$port/api/openapi.json" \
  --checks all \
  --exclude-path /tests/login --exclude-path /tests/panic --exclude-path /auth/logout \
  --max-time "$seconds" --seed "${DTX_FUZZ_SEED:-42}" --no-color \
  --generation-allow-x00 false
status=$?
if grep -q "panicked" "$work/api.log"; then
  echo "fuzz: the api panicked:"; grep -A3 panicked "$work/api.log"; exit 1
fi
exit $status
