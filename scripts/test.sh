#!/usr/bin/env bash
# Everything CI runs: installs the test tools, then formatting, lints (Rust and shell),
# every test, the WASM build and the browser editor with their Node, Chromium and
# TypeScript checks. Run it from a fresh Debian 12 machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/bin:$PATH"
scripts/install-test-tools.sh
cargo fmt --all --check
shellcheck scripts/*.sh .ci/run
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
scripts/build-editor.sh
node --test wasm/tests/ web-editor/tests/
node_modules/.bin/tsc --noEmit --strict --noUncheckedIndexedAccess --target es2022 \
  --lib es2022,esnext.disposable,dom --module es2022 --moduleResolution bundler wasm/tests/types.ts
