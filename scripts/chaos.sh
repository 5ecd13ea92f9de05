#!/usr/bin/env bash
# Chaos benchmark (not a test): random faults under writers on a local cluster —
# kill -9 of the leader, a replica or an etcd member, the leader's Patroni frozen past
# the ttl, the leader's PostgreSQL frozen for 4 s — with every acknowledged write
# checked on every member and no two primaries allowed. Prints a table per fault
# kind for BENCHMARKS.md. Usage: scripts/chaos.sh [FAULTS] [SEED] (default 50, 1).
# CI runs a short fixed-seed run of the same driver (tests/tests/local.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --release -p cpln-postgres-ha
RUNTIME="$PWD/.tools/runtime"
scripts/install-runtime.sh "$RUNTIME" >/dev/null
exec "$RUNTIME/venv/bin/python" bench/chaos.py "$PWD/target/release/cpln-postgres-ha" "$RUNTIME" \
  --faults "${1:-50}" --seed "${2:-1}"
