#!/usr/bin/env bash
# Set up everything the test suite needs on this machine, then run it.
#
# - system packages (Debian): chromium for the browser tests, libvirt + qemu for the real-libvirtd
#   end-to-end tests (util-linux for their namespaces), openssl for the TLS tests, and the
#   fleet-rollout tools (tests/rollout): dpkg-dev + lintian for the .deb, rpm for rpmbuild,
#   prometheus for promtool, ansible-core for the role (~30 MB download together); installed
#   only when running as root (elsewhere those tests skip, and say so)
# - a virtualenv (.venv) with the project and its test extras
# - PostgreSQL: a fresh, throw-away database per run on the local server, dropped afterwards,
#   so the suite runs against SQLite *and* PostgreSQL
# Extra arguments go to pytest, e.g. `make test ARGS="-k ingest"` or `scripts/test.sh -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PG_ADMIN_URL=${HOOKAUDIT_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/test}

say() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in chromium libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 sqlite3 openssl util-linux \
           dpkg-dev lintian rpm prometheus ansible-core; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    say "installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
say "installing hookaudit and test dependencies into $VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'

dropdb_at_exit=""
if [ -z "${HOOKAUDIT_TEST_PG_URL:-}" ] && command -v psql >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then
    say "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    db="hookaudit_test_$(date +%Y%m%d%H%M%S)_$$"
    if psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null 2>&1; then
      export HOOKAUDIT_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$db"
      dropdb_at_exit="$db"
      say "PostgreSQL tests use the fresh database $db"
    fi
  fi
fi
cleanup() {
  if [ -n "$dropdb_at_exit" ]; then
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $dropdb_at_exit WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
[ -n "${HOOKAUDIT_TEST_PG_URL:-}" ] || say "no PostgreSQL reachable: PostgreSQL tests will skip (they fail in CI)"

say "hookshim must run on Python >= 3.9: vermin"
"$VENV/bin/vermin" -q --no-tips --violations -t=3.9- hookshim/

say "running the tests"
"$VENV/bin/python" -m pytest --durations=15 "$@"
