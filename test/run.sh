#!/usr/bin/env bash
# `npm test`: the whole suite. Installs the system packages the end-to-end tests need (docker.io,
# skopeo) when they are missing and this runs as root on Debian, starts a private PostgreSQL, and
# runs every test file with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
exec node --import tsx test/run.ts "$@"
