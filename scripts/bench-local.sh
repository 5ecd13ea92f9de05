#!/usr/bin/env bash
# Local-cluster benchmark (not a test): bootstrap time and crash-failover write gap,
# fast failover against Patroni alone and against the Helm template's timers, with
# acknowledged writes lost. Usage: scripts/bench-local.sh [TRIALS] (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --release -p cpln-postgres-ha
RUNTIME="$PWD/.tools/runtime"
scripts/install-runtime.sh "$RUNTIME" >/dev/null
exec "$RUNTIME/venv/bin/python" bench/local_failover.py "$PWD/target/release/cpln-postgres-ha" "$RUNTIME" "${1:-5}"
