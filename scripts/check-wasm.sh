#!/usr/bin/env bash
# `core` must build for wasm32-unknown-unknown (it has no I/O). rustup cannot fetch
# the wasm32 std here, so this uses Debian's rustc-web with std built from its own
# source (-Z build-std), linked by wasm-ld. The variables stay scoped to this command.
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_LD=$(printf '%s\n' /usr/lib/llvm-*/bin/wasm-ld | sort -V | tail -1)
env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WASM_LD" CARGO_TARGET_DIR=target-wasm \
  /usr/bin/cargo build --quiet -p postgres-ha-core --lib --release \
  --target wasm32-unknown-unknown -Z build-std=std,panic_abort
ls -la target-wasm/wasm32-unknown-unknown/release/libpostgres_ha_core.rlib >/dev/null
echo "wasm32: postgres-ha-core builds"
