"""Local-cluster benchmark: bootstrap time, crash-failover write gap and acknowledged
writes lost, in one run on this machine. Run through scripts/bench-local.sh.

A writer inserts ids through the read-write DSN and notes when each commit is
acknowledged. The leader's Patroni and postmaster are then SIGKILLed together. The
write gap is the longest pause between consecutive acknowledgements from just before
the kill on; "lost" counts acknowledged ids missing on the leader afterwards.

"Patroni alone" models a node that crashed and stays down, with no platform help: the
supervisor is frozen (SIGSTOP) before the kill, so it neither fences, nor releases the
leader key, nor restarts the member; a replica takes over when the ttl expires.
"""

import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg

BIN, RUNTIME, TRIALS = sys.argv[1], sys.argv[2], int(sys.argv[3])
STATE = tempfile.mkdtemp(prefix="bench-local-")
os.chmod(STATE, 0o755)  # the cluster runs as `nobody`, which must reach its files
ENV = dict(os.environ, CPLN_POSTGRES_HA_STATE=STATE, CPLN_POSTGRES_HA_RUNTIME=RUNTIME)
PASSWORD = "bench-password-0123456"
VALUES = os.path.join(STATE, "values.yaml")
with open(VALUES, "w") as f:
    f.write(f"postgres:\n  username: app\n  database: app\n  password: {PASSWORD}\n")


def cli(*args, check=True):
    result = subprocess.run([BIN, *args], env=ENV, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr}")
    return result


def status(name):
    out = cli("local", "status", name, "-o", "json", check=False).stdout
    return json.loads(out) if out else {"members": []}


def member(state, role):
    return next((m for m in state["members"] if m["role"] == role), None)


def wait(name, predicate, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = status(name)
        if predicate(state):
            return state
        time.sleep(0.1)
    raise SystemExit(f"{name}: timed out; last status {status(name)}")


def up(name):
    started = time.monotonic()
    cli("local", "up", name, "-f", VALUES)
    return time.monotonic() - started


def down(name):
    cli("local", "down", name, "--purge", check=False)


def patch_config(name, leader, body):
    with open(os.path.join(STATE, name, "secrets.json")) as f:
        password = json.load(f)["restapi"]
    token = base64.b64encode(f"patroni:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{leader['api_port']}/config",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        method="PATCH",
    )
    urllib.request.urlopen(request, timeout=10).read()
    time.sleep(12)  # let every member pick up the new timers on its next loop
    with urllib.request.urlopen(f"http://127.0.0.1:{leader['api_port']}/config", timeout=10) as r:
        return json.load(r)


def supervisor_pid(name):
    with open(os.path.join(STATE, name, "pids.json")) as f:
        return json.load(f)["supervisor"]


def failover_trial(name, alone, timers=None):
    try:
        return failover_run(name, alone, timers)
    finally:
        # Whatever happened, leave no cluster running (a frozen supervisor first resumes).
        try:
            os.kill(supervisor_pid(name), signal.SIGCONT)
        except (OSError, ValueError, KeyError):
            pass
        down(name)


def failover_run(name, alone, timers):
    up(name)
    state = wait(name, lambda s: (m := member(s, "sync_standby")) and m["state"] == "streaming", 60)
    leader = member(state, "leader")
    effective = patch_config(name, leader, timers) if timers else None
    dsn = cli("local", "dsn", name).stdout.strip()
    with psycopg.connect(dsn, password=PASSWORD, autocommit=True) as conn:
        conn.execute("create table acked (id int primary key)")
    acks, stop = [], threading.Event()

    def writer():
        conn, i = None, 0
        while not stop.is_set():
            i += 1
            try:
                if conn is None:
                    conn = psycopg.connect(dsn, password=PASSWORD, autocommit=True)
                conn.execute("insert into acked (id) values (%s)", (i,))
                acks.append((i, time.monotonic()))
            except Exception:
                conn = None
                time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(2)
    supervisor = supervisor_pid(name)
    if alone:
        os.kill(supervisor, signal.SIGSTOP)
    killed = time.monotonic()
    for pid in (leader["patroni_pid"], leader["postmaster_pid"]):
        os.kill(pid, signal.SIGKILL)
    # Resumed means sustained writing: a commit in flight can still be acknowledged
    # while the signals land, so one acknowledgement after the kill proves nothing.
    deadline = killed + 120
    while sum(1 for _, t in acks if t > killed) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    stop.set()
    thread.join()
    # The outage is the longest pause between consecutive acknowledgements from just
    # before the kill on (an insert can still be acknowledged while the signals land).
    times = [t for _, t in acks if t >= killed - 0.5]
    gap = max((b - a for a, b in zip(times, times[1:])), default=float("nan"))
    if alone:
        os.kill(supervisor, signal.SIGCONT)
    stored, deadline = None, time.monotonic() + 60
    while stored is None:
        # Whoever leads now; right after a failover it may still be starting up.
        try:
            with psycopg.connect(dsn, password=PASSWORD) as conn:
                stored = {row[0] for row in conn.execute("select id from acked")}
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    lost = sum(1 for i, _ in acks if i not in stored)
    return gap, lost, len(acks), effective


def summary(values):
    values = sorted(values)
    return f"{statistics.median(values):.2f} s (min {values[0]:.2f}, max {values[-1]:.2f})"


def main():
    rows = []
    bootstrap = []
    for i in range(TRIALS):
        try:
            bootstrap.append(up(f"boot{i}"))
        finally:
            down(f"boot{i}")
    rows.append(("bootstrap (`local up`, 3 PG + 3 etcd, new cluster)", summary(bootstrap), "-", "-"))
    modes = [
        ("crash failover with the supervisor (fence + leader-key release), preset normal", False, None),
        ("crash failover, Patroni alone (node stays down), preset normal", True, None),
        (
            "crash failover, Patroni alone, Helm template timers (ttl 30 / loop_wait 10 / retry_timeout 30)",
            True,
            {"ttl": 30, "loop_wait": 10, "retry_timeout": 30},
        ),
    ]
    for index, (label, alone, timers) in enumerate(modes):
        gaps, lost, writes, effective = [], 0, 0, None
        for trial in range(TRIALS):
            gap, trial_lost, trial_writes, effective = failover_trial(f"fo{index}t{trial}", alone, timers)
            gaps.append(gap)
            lost += trial_lost
            writes += trial_writes
        if effective:
            label += f"; Patroni ran with ttl {effective['ttl']} / loop_wait {effective['loop_wait']} / retry_timeout {effective['retry_timeout']}"
        rows.append((label, summary(gaps), f"{lost}", f"{writes}"))
    print(f"| case ({TRIALS} runs each) | median (spread) | acknowledged writes lost | acknowledged writes |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


try:
    main()
finally:
    shutil.rmtree(STATE, ignore_errors=True)
