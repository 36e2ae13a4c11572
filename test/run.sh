#!/usr/bin/env bash
# `npm test`: the whole suite. Installs the system packages the end-to-end tests need (docker.io,
# skopeo) when they are missing and this runs as root on Debian, starts a private PostgreSQL, and
# runs every test file with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
# Outside CI a machine without docker/skopeo still runs everything else (those tests say loudly
# that they skip); in CI (CI=true) a missing tool stops the run here.
if ! bash scripts/install-test-deps.sh && [[ "${CI:-}" == "true" ]]; then
  echo "npm test: the end-to-end tools are missing and could not be installed" >&2
  exit 1
fi
exec node --import tsx test/run.ts "$@"
