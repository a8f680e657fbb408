#!/usr/bin/env bash
# Generated clients (SPEC §18): a Python client (openapi-python-client) and a
# TypeScript SDK (@hey-api/openapi-ts) are generated from the live api's
# OpenAPI document; any generator warning fails the run, the TypeScript is
# type-checked strictly, and each drives a short real flow (login, create
# league/users/tournament/teams, draft picks, enqueue a job and poll it).
#
# Usage: tests/clients.sh   (needs a built `api` debug binary; tests/setup.sh
# installs the generators)
set -euo pipefail
cd "$(dirname "$0")"
target=${CARGO_TARGET_DIR:-$HOME/.cache/dtx-target}
venv="${DTX_CLIENTS_VENV:-$HOME/.cache/dtx-clients/venv}"
port=${DTX_CLIENTS_PORT:-8021}
base="http://127.0.0.1:$port/api"
work=$(mktemp -d)
trap 'kill "${api_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

DTX_ENV=development DTX_TEST_ENDPOINTS=1 DATABASE_URL="sqlite://$work/clients.sqlite3?mode=rwc" BIND="127.0.0.1:$port" RUST_LOG=warn \
  "$target/debug/api" >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
  curl -sf "$base/health" >/dev/null && break
  sleep 0.1
done
curl -sf "$base/openapi.json" -o "$work/openapi.json"

fail_on_warnings() { # $1: what, $2: log
  if grep -qiE "warn|error" "$2"; then
    echo "clients: $1 generator reported problems:"; cat "$2"; exit 1
  fi
}

# Python
"$venv/bin/openapi-python-client" generate --path "$work/openapi.json" --output-path "$work/python/dtx_client" \
  --meta none --config clients/python/config.yml >"$work/python-gen.log" 2>&1
fail_on_warnings "Python" "$work/python-gen.log"
PYTHONPATH="$work/python" "$venv/bin/python" clients/python/flow.py "$base"

# TypeScript
ts=clients/typescript
rm -rf "$ts/src/client" "$ts/out"
(cd "$ts" && npx --no-install openapi-ts -i "$work/openapi.json" -o src/client) >"$work/ts-gen.log" 2>&1
fail_on_warnings "TypeScript" "$work/ts-gen.log"
(cd "$ts" && npx --no-install tsc -p .)
node "$ts/out/flow.js" "$base"
