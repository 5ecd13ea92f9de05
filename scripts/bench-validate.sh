#!/usr/bin/env bash
# Benchmark: `cpln-postgres-ha validate` against `check-jsonschema --schemafile
# values.schema.json`, both as whole processes, on one file and on a batch of 200
# files, in one run on this machine. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/bin:$PATH"
scripts/install-test-tools.sh
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --quiet --release -p cpln-postgres-ha
BIN="$PWD/target/release/cpln-postgres-ha"
SCHEMA="$PWD/values.schema.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 200 files: the fixtures (valid and invalid) and the example, cycled with distinct
# replica counts so no two files are identical.
mkdir "$work/batch"
mapfile -t sources < <(ls tests/fixtures/values/*.yaml examples/values.yaml)
for i in $(seq 0 199); do
  src=${sources[$((i % ${#sources[@]}))]}
  { cat "$src"; printf '\n# copy %d\n' "$i"; } > "$work/batch/values-$i.yaml"
done
ONE=examples/values.yaml

# Both tools exit 1 on invalid files; -i keeps hyperfine from treating that as a failure.
hyperfine --warmup 3 --runs 30 -i --export-json "$work/one.json" \
  -n "cpln-postgres-ha (1 file)" "$BIN validate $ONE" \
  -n "check-jsonschema (1 file)" "check-jsonschema --schemafile $SCHEMA $ONE" >&2
hyperfine --warmup 1 --runs 10 -i --export-json "$work/batch.json" \
  -n "cpln-postgres-ha (200 files)" "$BIN validate --format json $work/batch/*.yaml" \
  -n "check-jsonschema (200 files)" "check-jsonschema --schemafile $SCHEMA $work/batch/*.yaml" >&2

python3 - "$work/one.json" "$work/batch.json" <<'PY'
import json, sys
print("| case | cpln-postgres-ha median | check-jsonschema median | ratio |")
print("|---|---|---|---|")
for path in sys.argv[1:]:
    ours, theirs = json.load(open(path))["results"]
    def ms(r): return f"{r['median']*1000:.1f} ms (σ {r['stddev']*1000:.1f})"
    case = ours["command"].split("(")[1].rstrip(")")
    print(f"| {case} | {ms(ours)} | {ms(theirs)} | {theirs['median']/ours['median']:.0f}× |")
PY
