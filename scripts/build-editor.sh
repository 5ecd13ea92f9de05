#!/usr/bin/env bash
# Builds the browser values editor into web-editor/dist: the WASM package first
# (scripts/build-wasm.sh), then the bundle. `cpln-postgres-ha edit` serves the result.
# Needs scripts/install-test-tools.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-wasm.sh
(cd web-editor && npm ci --no-audit --no-fund --silent && node build.mjs)
