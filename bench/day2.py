"""Day-2 benchmark for the local cluster: write gap and failed client transactions of
this tool's operations against Patroni's bare ones, in the same cluster, same run.

    python day2.py BIN RUNTIME [--runs N] [--ops switchover,restart,rotate] [--json]

Brings a cluster up (3 members, synchronous mode, the `fast` timing preset) and starts
WRITERS writers on the read-write DSN; each records the time of every acknowledged
insert and of every insert that failed on an open connection (a failed client
transaction; refused connection attempts are not transactions). Then, N times each
and alternating so that drift hits both alike:

- switchover: `cpln-postgres-ha switchover` vs Patroni's bare `POST /switchover`;
- rolling restart: `cpln-postgres-ha restart` vs `POST /restart` on each member in
  turn (the leader in place);
- `cpln-postgres-ha rotate-password` of the superuser, replication, rewind and REST
  API passwords in turn (no bare counterpart: Patroni has no rotation).

The write gap of an operation is the longest pause between acknowledgements (all
writers merged) from the moment it starts until writes have flowed for two seconds
after it ends. Prints a table (median and spread) for BENCHMARKS.md.
"""

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg

WRITERS = 4
PASSWORD = "day2-bench-password-0123"
VALUES = f"""postgres:
  username: app
  database: app
  password: {PASSWORD}
patroni:
  timing:
    preset: fast
"""

args = argparse.ArgumentParser()
args.add_argument("bin")
args.add_argument("runtime")
args.add_argument("--runs", type=int, default=5)
args.add_argument("--json", action="store_true")
args.add_argument("--ops", default="switchover,restart,rotate")
args.add_argument("--keep", action="store_true", help="leave the cluster running, for inspection")
ARGS = args.parse_args()

STATE = tempfile.mkdtemp(prefix="day2-")
os.chmod(STATE, 0o755)  # the cluster runs as `nobody`, which must reach its files
ENV = dict(os.environ, CPLN_POSTGRES_HA_STATE=STATE, CPLN_POSTGRES_HA_RUNTIME=ARGS.runtime)
NAME = "day2"
with open(os.path.join(STATE, "values.yaml"), "w") as f:
    f.write(VALUES)


def cli(*argv, check=True):
    out = subprocess.run([ARGS.bin, *argv], env=ENV, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise SystemExit(f"{argv}: {out.stdout}{out.stderr}")
    return out


def status():
    return json.loads(cli("status", NAME, "--local", "-o", "json").stdout)


def leader(s=None):
    s = s or status()
    return next((m for m in s["members"] if m["role"] == "leader" and m["state"] == "running"), None)


def restapi_password():
    with open(os.path.join(STATE, NAME, "credentials.yaml")) as f:
        for line in f:
            if line.startswith("restapi-password:"):
                return json.loads(line.split(":", 1)[1])
    raise SystemExit("no REST API password")


def post(port, path, body):
    auth = base64.b64encode(f"patroni:{restapi_password()}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def healthy(s):
    replicas = [m for m in s["members"] if m["role"] != "leader"]
    return (
        leader(s) is not None
        and len(replicas) == 2
        and all(m["state"] == "streaming" for m in replicas)
        and any(m["role"] == "sync_standby" for m in replicas)
    )


def wait_healthy(limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        s = status()
        if healthy(s):
            return s
        time.sleep(0.3)
    raise SystemExit(f"cluster not healthy: {status()}")


ACKS = []
FAILED = []
LOCK = threading.Lock()
STOP = threading.Event()


def writer(dsn, n):
    conn, i = None, 0
    while not STOP.is_set():
        i += 1
        try:
            if conn is None:
                conn = psycopg.connect(dsn, password=PASSWORD, autocommit=True)
        except Exception:
            time.sleep(0.02)
            continue
        try:
            conn.execute("insert into acked (w, id) values (%s, %s)", (n, i))
            with LOCK:
                ACKS.append(time.time())
        except Exception:
            with LOCK:
                FAILED.append(time.time())
            conn = None


def measure(run):
    """Runs `run`, then returns (write gap, failed transactions) around it."""
    start = time.time()
    run()
    end = time.time()
    # Writes must flow for two seconds after the operation.
    deadline = time.time() + 60
    while time.time() < deadline:
        with LOCK:
            recent = [t for t in ACKS if t > end]
        if recent and recent[-1] - max(end, recent[0]) > 2:
            break
        time.sleep(0.2)
    with LOCK:
        acks = sorted(t for t in ACKS if t >= start - 0.5)
        failed = len([t for t in FAILED if start <= t])
    gaps = [b - a for a, b in zip(acks, acks[1:]) if b >= start]
    return max(gaps), failed


def ours_switchover():
    cli("switchover", NAME, "--local", "--yes")


def bare_switchover():
    old = leader()
    post(old["api_port"], "/switchover", {"leader": old["name"]})
    deadline = time.time() + 60
    while time.time() < deadline:
        now = leader()
        if now and now["name"] != old["name"]:
            return
        time.sleep(0.1)


def ours_restart():
    cli("restart", NAME, "--local", "--yes")


def bare_restart():
    s = status()
    for m in s["members"]:
        post(m["api_port"], "/restart", {})
    wait_healthy()


def rotate(user):
    return lambda: cli("rotate-password", NAME, "--local", "--user", user, "--generate", "--yes")


ROTATED = ["superuser", "replication", "rewind", "restapi"]


def main():
    print(f"bringing up {NAME} in {STATE}", file=sys.stderr)
    cli("local", "up", NAME, "-f", os.path.join(STATE, "values.yaml"))
    s = wait_healthy()
    dsn = cli("dsn", NAME, "--local").stdout.strip()
    with psycopg.connect(dsn, password=PASSWORD, autocommit=True) as conn:
        conn.execute("create table acked (w int, id int, primary key (w, id))")
    threads = [threading.Thread(target=writer, args=(dsn, n), daemon=True) for n in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(3)
    ops = ARGS.ops.split(",")
    plan = []
    if "switchover" in ops:
        plan += [("switchover ours", ours_switchover), ("switchover bare", bare_switchover)]
    if "restart" in ops:
        plan += [("restart ours", ours_restart), ("restart bare", bare_restart)]
    if "rotate" in ops:
        plan += [(f"rotate-password {user}", rotate(user)) for user in ROTATED]
    results = {key: [] for key, _ in plan}
    try:
        for i in range(ARGS.runs):
            for key, run in plan:
                wait_healthy()
                time.sleep(2)
                gap, failed = measure(run)
                results[key].append((gap, failed))
                print(f"run {i + 1} {key}: gap {gap:.3f} s, {failed} failed", file=sys.stderr)
    finally:
        STOP.set()
        if ARGS.keep:
            print(f"kept: {STATE}", file=sys.stderr)
        else:
            cli("local", "down", NAME, "--purge", check=False)
            shutil.rmtree(STATE, ignore_errors=True)
    if ARGS.json:
        print(json.dumps(results))
        return
    print("| operation | runs | write gap median (min–max) | failed transactions median (min–max) |")
    print("|---|---|---|---|")
    for key, rows in results.items():
        gaps = [g for g, _ in rows]
        failed = [f for _, f in rows]
        print(
            f"| {key} | {len(rows)} | {statistics.median(gaps):.2f} s ({min(gaps):.2f}–{max(gaps):.2f}) "
            f"| {statistics.median(failed):g} ({min(failed)}–{max(failed)}) |"
        )


main()
