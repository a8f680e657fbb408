#!/usr/bin/env bash
# The test command, from a fresh clone: set up what the tests need
# (tests/setup.sh: PostgreSQL, Redis, Node, Chromium — installed and started
# when missing), then every crate's unit tests and the end-to-end suites
# (SQLite, PostgreSQL, Redis on 127.0.0.1), then the generated Python and
# TypeScript clients' flows and the schema fuzzer, each against a live api.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dtx-target}"
tests/setup.sh
cargo build --workspace --bins --tests --quiet
cargo nextest run --workspace --no-fail-fast
tests/clients.sh
tests/fuzz.sh "${DTX_FUZZ_SECONDS:-180}"
