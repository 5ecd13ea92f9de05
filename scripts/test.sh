#!/usr/bin/env bash
# Everything CI runs: installs the test tools, then formatting, lints (Rust and shell),
# every test and the wasm32 build of core. Run it from a fresh Debian 12 machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/bin:$PATH"
scripts/install-test-tools.sh
cargo fmt --all --check
shellcheck scripts/*.sh .ci/run
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
scripts/check-wasm.sh
