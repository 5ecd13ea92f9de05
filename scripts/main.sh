#!/usr/bin/env bash
# The main job: build the CLI and check the example values (the local cluster comes
# with its own issue and will replace this with `local up`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --release -p cpln-postgres-ha
BIN=target/release/cpln-postgres-ha
"$BIN" validate examples/values.yaml
"$BIN" explain P002
