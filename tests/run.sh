#!/usr/bin/env bash
# The test command: every crate's unit tests and the end-to-end suites
# (SQLite, PostgreSQL, Redis on 127.0.0.1), then the schema fuzzer against a
# live api. PostgreSQL and Redis must be running, and chromium and node
# installed (.ci/run sees to all of it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dtx-target}"
cargo build --workspace --bins --tests --quiet
# The browser test drives Debian's chromium with playwright-core (no browser download).
[ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund --silent
cargo nextest run --workspace --no-fail-fast
tests/fuzz.sh "${DTX_FUZZ_SECONDS:-60}"
