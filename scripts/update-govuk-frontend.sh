#!/usr/bin/env bash
# Refresh the vendored GOV.UK Frontend assets (CSS, JS, fonts, images) under api/static/govuk-frontend/.
#
#   scripts/update-govuk-frontend.sh [version]     (default: the version below)
#
# The Jinja macros come from the PyPI package govuk-frontend-jinja; keep its major version matched to
# this one (govuk-frontend-jinja 4.x <-> govuk-frontend 6.x) and update api/static/govuk-frontend/README.md.
set -euo pipefail

VERSION="${1:-6.3.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/api/static/govuk-frontend"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# npm pack fetches the published tarball from the npm registry and checks its integrity.
(cd "$WORK" && npm pack --silent "govuk-frontend@$VERSION" >/dev/null)
tar -xzf "$WORK/govuk-frontend-$VERSION.tgz" -C "$WORK"
DIST="$WORK/package/dist/govuk"

rm -rf "$TARGET/assets" "$TARGET/govuk-frontend.min.css" "$TARGET/govuk-frontend.min.js"
mkdir -p "$TARGET"
cp "$DIST/govuk-frontend.min.css" "$DIST/govuk-frontend.min.js" "$TARGET/"
cp -R "$DIST/assets" "$TARGET/assets"
# Copied byte for byte (so they can be checked against the tarball); the source maps they name are
# not vendored, which only matters to a browser's developer tools.
echo "govuk-frontend $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$WORK/package/package.json" | head -1) copied to $TARGET"
