#!/usr/bin/env bash
# Builds wasm/ (the core for JavaScript) into wasm/pkg: an ES module (--target web)
# that the editor loads and the Node tests import (with initSync). rustup cannot fetch the
# wasm32 std here, so this uses Debian's rustc-web with std built from its own source
# (-Z build-std), linked by wasm-ld; the variables stay scoped to this command.
# Needs scripts/install-test-tools.sh (wasm-bindgen-cli, npm's binaryen) first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
WASM_LD=$(printf '%s\n' /usr/lib/llvm-*/bin/wasm-ld | sort -V | tail -1)
env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WASM_LD" CARGO_TARGET_DIR=target-wasm \
  /usr/bin/cargo build --quiet -p postgres-ha-wasm --lib --profile wasm \
  --target wasm32-unknown-unknown -Z build-std=std,panic_abort
module=target-wasm/wasm32-unknown-unknown/wasm/postgres_ha_wasm.wasm
rm -rf wasm/pkg
wasm-bindgen --target web --remove-name-section --out-dir wasm/pkg "$module"
# npm's binaryen: Debian's (108) breaks wasm-bindgen's externref table.
node_modules/.bin/wasm-opt -Oz wasm/pkg/postgres_ha_wasm_bg.wasm -o wasm/pkg/postgres_ha_wasm_bg.wasm
printf 'wasm: %s bytes, %s gzipped\n' "$(wc -c < wasm/pkg/postgres_ha_wasm_bg.wasm)" \
  "$(gzip -9 < wasm/pkg/postgres_ha_wasm_bg.wasm | wc -c)"
