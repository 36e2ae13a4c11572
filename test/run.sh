#!/usr/bin/env bash
# `npm test`: the whole suite. Installs the system packages the tests need (docker.io, skopeo,
# gcc for the native SHA module) when they are missing and this runs as root on Debian, starts a
# private PostgreSQL, and runs every test file with node's test runner (in CI, then the unit,
# contract and integration files again on Node 24 when this Node is older; see the end).
set -euo pipefail
cd "$(dirname "$0")/.."
# Outside CI a machine without docker/skopeo still runs everything else (those tests say loudly
# that they skip); in CI (CI=true) a missing tool stops the run here.
if ! bash scripts/install-test-deps.sh && [[ "${CI:-}" == "true" ]]; then
  echo "npm test: the end-to-end tools are missing and could not be installed" >&2
  exit 1
fi
# npm install built the native SHA module if a C compiler was there; build it now if the compiler
# came only just now, or the source changed since. In CI the module must build (its tests fail
# without it anyway); elsewhere its tests say loudly that they skip.
if [[ src/native/resumable-sha.c -nt dist/native/resumable-sha.node ]]; then
  node src/native/build.mjs $([[ "${CI:-}" == "true" ]] && echo --require)
fi
status=0
node --import tsx test/run.ts "$@" || status=$?
# Node 20 is end-of-life and the container image runs Node 24 LTS: in CI (the whole suite) on an
# older Node, the unit, contract and integration files run again on Node 24, which
# scripts/node24.sh installs from the npm registry into a cache dir. BERTH_TEST_NODE24=1 asks for
# that round outside CI too (with the files given, if any); BERTH_TEST_NODE24=0 skips it.
node24_round="${BERTH_TEST_NODE24:-}"
if [[ -z "$node24_round" && "${CI:-}" == "true" && $# -eq 0 ]]; then node24_round=1; fi
if [[ "$node24_round" == "1" ]] && (( $(node -p 'process.versions.node.split(".")[0]') < 24 )); then
  node24="$(bash scripts/node24.sh)"
  files=("$@")
  if [[ ${#files[@]} -eq 0 ]]; then files=(test/unit/ test/contract/ test/integration/); fi
  # The npm package carries no C headers; node_api.h is the same for every Node, and the OpenSSL
  # SHA structures the native module uses are those of every OpenSSL 3 (build.mjs checks its digests).
  headers="$(dirname "$(command -v node)")/../include/node"
  echo
  echo "======== again on Node $("$node24" --version): ${files[*]} ========"
  BERTH_NODE_HEADERS="${BERTH_NODE_HEADERS:-$headers}" "$node24" --import tsx test/run.ts "${files[@]}" || status=$?
fi
exit "$status"
