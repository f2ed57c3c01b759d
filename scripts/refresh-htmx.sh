#!/usr/bin/env bash
# Refresh the pinned htmx copy in app/static/ from the npm registry, with a checksum check.
#
#   scripts/refresh-htmx.sh            re-download the recorded version; fail unless its sha256
#                                      still matches app/static/htmx.sha256 (detects a changed
#                                      upload) and the committed file matches too
#   scripts/refresh-htmx.sh 2.0.12     download another version, record its sha256, replace the copy
#   scripts/refresh-htmx.sh --check    offline: the committed copy matches the recorded sha256
#
# Why a pinned copy: dashboards run on air-gapped management networks (no CDN), and there is
# no front-end build step. `npm pack` verifies the tarball against the registry's integrity
# hash; the recorded sha256 pins the one file we serve.
set -euo pipefail
cd "$(dirname "$0")/.."
STATIC=app/static
RECORD=$STATIC/htmx.sha256
read -r _pkg recorded_version recorded_sha _file <"$RECORD"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ "${1:-}" = "--check" ]; then
  actual=$(sha_of "$STATIC/htmx.min.js")
  [ "$actual" = "$recorded_sha" ] || { echo "htmx.min.js sha256 $actual != recorded $recorded_sha" >&2; exit 1; }
  echo "htmx $recorded_version ok ($recorded_sha)"
  exit 0
fi

version=${1:-$recorded_version}
command -v npm >/dev/null || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$version" >/dev/null && tar xzf htmx.org-*.tgz)
new_sha=$(sha_of "$tmp/package/dist/htmx.min.js")

if [ "$version" = "$recorded_version" ] && [ "$new_sha" != "$recorded_sha" ]; then
  echo "htmx $version from the registry has sha256 $new_sha, recorded $recorded_sha: refusing" >&2
  exit 1
fi
cp "$tmp/package/dist/htmx.min.js" "$STATIC/htmx.min.js"
cp "$tmp/package/LICENSE" "$STATIC/htmx.LICENSE"
printf 'htmx.org %s %s htmx.min.js\n' "$version" "$new_sha" >"$RECORD"
echo "htmx $version installed in $STATIC ($new_sha)"
