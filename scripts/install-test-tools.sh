#!/usr/bin/env bash
# Installs the external tools the tests use, pinned, into ./.tools and ./node_modules
# (plus Debian packages for the WASM build and the browser tests). Safe to re-run: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

# Node.js comes with this machine kind; a bare Debian 12 gets Debian's.
if ! command -v npm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# Python tools: the real pre-commit and check-jsonschema, in their own venv.
PRE_COMMIT_VERSION=4.7.0
CHECK_JSONSCHEMA_VERSION=0.39.0
if ! "$TOOLS/venv/bin/pre-commit" --version 2>/dev/null | grep -q "$PRE_COMMIT_VERSION" ||
   ! "$TOOLS/venv/bin/check-jsonschema" --version 2>/dev/null | grep -q "$CHECK_JSONSCHEMA_VERSION"; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
    "pre-commit==$PRE_COMMIT_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi
ln -sf "$TOOLS/venv/bin/pre-commit" "$TOOLS/bin/pre-commit"
ln -sf "$TOOLS/venv/bin/check-jsonschema" "$TOOLS/bin/check-jsonschema"

# The official SARIF 2.1.0 schema, as shipped in Microsoft's SARIF multitool package.
SARIF_SHA256=1c49a0f2b60444c71bb14878e21e0d882198eff4c539861b133093ad89ed798c
SARIF="$TOOLS/sarif/sarif-2.1.0.json"
if ! echo "$SARIF_SHA256  $SARIF" | sha256sum --check --status 2>/dev/null; then
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent @microsoft/sarif-multitool-linux@5.7.0 >/dev/null 2>&1 &&
     tar xzf microsoft-sarif-multitool-linux-5.7.0.tgz package/sarif-2.1.0.json)
  mkdir -p "$TOOLS/sarif"
  mv "$work/package/sarif-2.1.0.json" "$SARIF"
  rm -rf "$work"
  echo "$SARIF_SHA256  $SARIF" | sha256sum --check --status
fi

# Debian packages: rustc-web and its std source build `core` for wasm32 (see
# scripts/build-wasm.sh); chromium runs the editor's browser tests; shellcheck and
# haproxy check the rendered scripts and proxy
# configuration; etcd-client's etcdctl runs the rendered etcd authentication set-up;
# util-linux brings setpriv and unshare, procps `kill` (the tests' signals),
# iproute2 `ip` for the tests'
# network namespaces; curl and bsdutils' `script` are what the fake terminal server's
# execs and the import-values terminal test run. (The runtime installer below brings
# what PostgreSQL, Patroni and etcd need.)
DEBS="rustc-web cargo-web rust-web-src lld-22 chromium shellcheck haproxy util-linux procps iproute2 etcd-client curl bsdutils"
# shellcheck disable=SC2086
if ! dpkg -s $DEBS >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $DEBS >/dev/null
fi

# The local runtime (PostgreSQL 17.11, Patroni 4.1.5, etcd 3.4.23) for the tests that
# run rendered configuration and the local cluster on real servers.
scripts/install-runtime.sh "$TOOLS/runtime" >/dev/null

# The WebAssembly build: wasm-bindgen-cli must be the wasm-bindgen crate's exact
# version (wasm/Cargo.toml); without --locked, since its lockfile pins a crate
# version crates.io no longer serves. npm brings binaryen's wasm-opt and TypeScript.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' wasm/Cargo.toml)
if ! "$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$TOOLS"
fi
npm ci --no-audit --no-fund --silent
