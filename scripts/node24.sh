#!/usr/bin/env bash
# Prints the path of a Node.js 24 LTS binary, for running the tests on the Node the container image
# uses where the machine itself has an older Node (Node 20 is end-of-life). The first time, it
# installs the npm registry's `node` package (the official binary) into a cache directory:
# $BERTH_NODE24_DIR, default ~/.cache/berth/node24.
set -euo pipefail
dir="${BERTH_NODE24_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/node24}"
bin="$dir/node_modules/.bin/node"
if ! "$bin" --version 2>/dev/null | grep -q '^v24\.'; then
  npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error node@24 >&2
fi
version="$("$bin" --version 2>/dev/null || true)"
if [[ "$version" != v24.* ]]; then
  echo "node24: $bin is not a Node 24 binary (it says \"$version\")" >&2
  exit 1
fi
echo "$bin"
