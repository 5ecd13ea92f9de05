#!/usr/bin/env bash
# Day-2 benchmark (not a test): write gap and failed client transactions of this
# tool's switchover and rolling restart against Patroni's bare ones, same cluster,
# same run, under four writers. Prints a table for BENCHMARKS.md.
# Usage: scripts/bench-day2.sh [RUNS] [OPS] (default 5, switchover,restart,rotate).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --release -p cpln-postgres-ha
RUNTIME="$PWD/.tools/runtime"
scripts/install-runtime.sh "$RUNTIME" >/dev/null
exec "$RUNTIME/venv/bin/python" bench/day2.py "$PWD/target/release/cpln-postgres-ha" "$RUNTIME" \
  --runs "${1:-5}" --ops "${2:-switchover,restart,rotate}"
