#!/usr/bin/env bash
# `npm test`: the whole suite. Installs the system packages the tests need (docker.io, skopeo,
# gcc for the native SHA module) when they are missing and this runs as root on Debian, starts a
# private PostgreSQL, and runs every test file with node's test runner.
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
exec node --import tsx test/run.ts "$@"
