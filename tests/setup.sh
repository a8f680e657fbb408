#!/usr/bin/env bash
# Everything the tests need, on a fresh machine or an old one, idempotently:
# PostgreSQL and Redis installed and running on 127.0.0.1 (the `test`
# database there), Node/npm and Debian's chromium for the browser test,
# nginx, openssl, systemd-analyze and promtool for the deployment files,
# cargo-nextest, the browser test's npm packages, the client generators; leftovers of interrupted
# runs (test databases, Redis keys) cleared. Run by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_updated=""
need_apt() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$2" >/dev/null
}
need_apt redis-server redis-server
need_apt pg_ctlcluster postgresql
need_apt curl curl
need_apt node nodejs
need_apt npm npm
need_apt chromium chromium
# The deployment files' tests (tests/tests/deploy.rs): nginx in front of two apis, TLS from openssl,
# systemd-analyze on the units, promtool on the alert rules. Their services are not wanted running.
need_apt openssl openssl
need_apt systemd-analyze systemd
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  need_apt nginx nginx
  $SUDO service nginx stop >/dev/null 2>&1 || true
fi
if ! command -v promtool >/dev/null 2>&1; then
  [ -n "$apt_updated" ] || { $SUDO apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null || true
  $SUDO service prometheus stop >/dev/null 2>&1 || true
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done

psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
# Test databases and Redis keys of interrupted runs.
psql -h 127.0.0.1 -U postgres -d test -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'dtx_test_%'" \
  | while read -r db; do [ -n "$db" ] && psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
redis-cli -h 127.0.0.1 --scan --pattern 'dtx_test_*' | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null

command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
# The browser test drives Debian's chromium with playwright-core (no browser download).
[ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund --silent
# The client generators (tests/clients.sh): openapi-python-client in a venv, @hey-api/openapi-ts and tsc from npm.
need_apt python3 python3
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt pyvenv-probe python3-venv
clients_venv="${DTX_CLIENTS_VENV:-$HOME/.cache/dtx-clients/venv}"
if [ ! -x "$clients_venv/bin/openapi-python-client" ]; then
  python3 -m venv "$clients_venv"
  "$clients_venv/bin/pip" install -q -r tests/clients/python/requirements.txt
fi
[ -d tests/clients/typescript/node_modules/@hey-api ] || npm ci --prefix tests/clients/typescript --no-audit --no-fund --silent
