#!/usr/bin/env bash
# The README's first command (`make demo`): set up a virtualenv and run `hookaudit demo`, a
# server on SQLite with a simulated fleet of libvirt hosts driving the real shim.
#
# Works from a fresh clone, as root or not; needs only python3 (>= 3.11, with the venv module).
# Extra arguments go to `hookaudit demo`, e.g. `make demo ARGS="--hosts 20 --port 8080"`
# or `scripts/demo.sh --duration 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

say() { printf '==> %s\n' "$*"; }

if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "hookaudit needs python3 >= 3.11 (found: $(python3 -V 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  python3 -m venv "$VENV" || {
    echo "python3 -m venv failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
say "installing hookaudit into $VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e .

say "starting the demo (Ctrl-C stops it)"
exec "$VENV/bin/hookaudit" demo "$@"
