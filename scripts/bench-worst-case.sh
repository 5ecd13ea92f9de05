#!/usr/bin/env bash
# Benchmark: the worst inputs we could build for `validate` (each just under the 1 MiB
# limit), in every output format: wall time and peak memory of the whole process, the
# slowest and largest of 5 runs each. Budget: at most 1 s and 100 MB per input.
# Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --quiet --release -p cpln-postgres-ha
BIN="$PWD/target/release/cpln-postgres-ha"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import sys
MIB = 1 << 20
out = sys.argv[1]

def write(name, text):
    data = text.encode()
    assert len(data) <= MIB, (name, len(data))
    open(f"{out}/{name}.yaml", "wb").write(data)

def fill(head, item, sep, tail):
    parts, size = [head], len(head) + len(tail)
    while size + len(item) + len(sep) < MIB:
        parts.append(item + sep)
        size += len(item) + len(sep)
    return "".join(parts) + tail

def lines(make, count=None):
    parts, size, i = [], 0, 0
    while count is None or i < count:
        line = make(i)
        if size + len(line) > MIB:
            break
        parts.append(line)
        size += len(line)
        i += 1
    return "".join(parts)

write("keys-174k", lines(lambda i: f"k{i:06d}: 1\n"))
write("list-524k-bad-links", fill("internal_access: {type: workload-list, workloads: [", "a", ",", "a]}\n"))
write("flow-root-mapping", fill("{", "k: 1", ", ", "k: 1}\n"))
write("flow-anchors", fill("[", "&a", " ", "x]\n"))
long_line = "{" + "".join(f"k{i}: 1, " for i in range(120)) + 'x: "'
write("problems-on-1mib-line", long_line + "y" * (MIB - len(long_line) - 4) + '"}\n')
write("unknown-keys-9k-long", lines(lambda i: f"{'k' * 100}{i:05d}: 1\n", 9000))
write("unknown-parameters-9k", "postgres:\n  parameters:\n" + lines(lambda i: f"    {'max_connection' * 4}{i:05d}: 1\n", 9000))
write("bad-links-9k-long", "internal_access:\n  type: workload-list\n  workloads:\n" + lines(lambda i: f"    - //gvc/P/workload/{'W' * 80}{i:05d}\n", 9000))
write("password-keys-9k", lines(lambda i: f"password{i:05d}: s3cr3t-{i:05d}-{'z' * 60}\n", 9000))
PY

echo "| input | format | slowest of 5 | peak memory |"
echo "|---|---|---|---|"
for file in "$work"/*.yaml; do
  for format in human json sarif github; do
    worst_time=0
    worst_kb=0
    for _ in 1 2 3 4 5; do
      /usr/bin/time -f "%e %M" -o "$work/time" "$BIN" validate --format "$format" "$file" >/dev/null || true
      read -r seconds kb < <(tail -1 "$work/time")
      worst_time=$(python3 -c "print(max($worst_time, $seconds))")
      [ "$kb" -gt "$worst_kb" ] && worst_kb=$kb
    done
    printf '| %s | %s | %s s | %s MB |\n' "$(basename "$file" .yaml)" "$format" "$worst_time" \
      "$(python3 -c "print(round($worst_kb / 1024, 1))")"
  done
done
