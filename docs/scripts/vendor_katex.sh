#!/usr/bin/env bash
# Vendors KaTeX into docs/javascripts/katex so the site renders math offline
# (no CDN at build or view time). Re-run to upgrade: bash docs/scripts/vendor_katex.sh [VERSION]
# Only the minified script, the stylesheet, the licence and the
# woff2 fonts are kept: every browser that runs mkdocs-material reads woff2,
# the first format katex.min.css lists, so the woff/ttf fallbacks are never fetched.
set -euo pipefail
version="${1:-0.19.1}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/docs/javascripts/katex"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "katex@$version" >/dev/null && tar xzf katex-*.tgz)
rm -rf "$dest"
mkdir -p "$dest/fonts"
cp "$tmp/package/dist/katex.min.js" "$tmp/package/dist/katex.min.css" \
   "$tmp/package/LICENSE" "$dest/"
cp "$tmp/package/dist/fonts/"*.woff2 "$dest/fonts/"
echo "$version" > "$dest/VERSION"
du -sh "$dest"
