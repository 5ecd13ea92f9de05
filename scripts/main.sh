#!/usr/bin/env bash
# The main job: build the CLI, install the pinned runtime, and bring up the example
# values as a local cluster (3 PostgreSQL 17 members under Patroni, 3 etcd members on
# 127.0.0.1); it prints the status and a connection string. Stop it with
# `target/release/cpln-postgres-ha local down example` (add --purge to delete it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --release -p cpln-postgres-ha
BIN=target/release/cpln-postgres-ha
"$BIN" validate examples/values.yaml
"$BIN" local install
"$BIN" local up example -f examples/values.yaml
