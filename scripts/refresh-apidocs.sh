#!/usr/bin/env bash
# Refresh the pinned Swagger UI and ReDoc copies behind /docs and /redoc (app/static/swagger-ui,
# app/static/redoc) from the npm registry, with a checksum check, as scripts/refresh-htmx.sh.
#
#   scripts/refresh-apidocs.sh                  re-download the recorded versions; fail unless
#                                               every file's sha256 still matches
#                                               app/static/apidocs.sha256
#   scripts/refresh-apidocs.sh 5.36.0 2.5.4     other versions (swagger-ui-dist, redoc): copy
#                                               them in and record their sha256
#   scripts/refresh-apidocs.sh --check          offline: the committed copies match the record
#
# Why pinned copies: FastAPI's /docs and /redoc load their scripts from a CDN by default, so
# on an air-gapped management network they are blank pages. Licences: swagger-ui-dist is
# Apache-2.0 (LICENSE and NOTICE kept beside it), redoc is MIT (LICENSE kept, and the
# licences of what its bundle includes).
set -euo pipefail
cd "$(dirname "$0")/.."
STATIC=app/static
RECORD=$STATIC/apidocs.sha256
# package version sha256 path-under-app/static   (one line per served file)
FILES="swagger-ui-dist:package/swagger-ui-bundle.js:swagger-ui/swagger-ui-bundle.js
swagger-ui-dist:package/swagger-ui.css:swagger-ui/swagger-ui.css
redoc:package/bundles/redoc.standalone.js:redoc/redoc.standalone.js"
EXTRAS="swagger-ui-dist:package/LICENSE:swagger-ui/LICENSE
swagger-ui-dist:package/NOTICE:swagger-ui/NOTICE
redoc:package/LICENSE:redoc/LICENSE
redoc:package/bundles/redoc.standalone.js.LICENSE.txt:redoc/redoc.standalone.js.LICENSE.txt"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
recorded() { awk -v p="$1" '$1 == p { print $2; exit }' "$RECORD"; }

if [ "${1:-}" = "--check" ]; then
  while read -r pkg version sha path; do
    actual=$(sha_of "$STATIC/$path")
    [ "$actual" = "$sha" ] || { echo "$path sha256 $actual != recorded $sha" >&2; exit 1; }
    echo "$pkg $version $path ok"
  done <"$RECORD"
  exit 0
fi

swagger_version=${1:-$(recorded swagger-ui-dist)}
redoc_version=${2:-$(recorded redoc)}
command -v npm >/dev/null || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in "swagger-ui-dist@$swagger_version" "redoc@$redoc_version"; do
  name=${spec%@*}
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
done
version_of() { [ "$1" = redoc ] && echo "$redoc_version" || echo "$swagger_version"; }

new_record=""
while IFS=: read -r pkg src dest; do
  sha=$(sha_of "$tmp/$pkg/$src")
  version=$(version_of "$pkg")
  old=$(awk -v d="$dest" '$4 == d { print $2 " " $3 }' "$RECORD" 2>/dev/null || true)
  if [ "$old" != "" ] && [ "${old% *}" = "$version" ] && [ "${old#* }" != "$sha" ]; then
    echo "$pkg $version $dest from the registry has sha256 $sha, recorded ${old#* }: refusing" >&2
    exit 1
  fi
  new_record+="$pkg $version $sha $dest"$'\n'
done <<<"$FILES"
while IFS=: read -r pkg src dest; do
  mkdir -p "$STATIC/$(dirname "$dest")"
  cp "$tmp/$pkg/$src" "$STATIC/$dest"
done <<<"$FILES"$'\n'"$EXTRAS"
printf '%s' "$new_record" >"$RECORD"
echo "swagger-ui-dist $swagger_version and redoc $redoc_version installed in $STATIC"
