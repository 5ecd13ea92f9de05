"""Chaos driver for the local cluster: random faults under writers that record every
acknowledged insert, with the checks that make an HA claim.

    python chaos.py BIN RUNTIME --faults N --seed S [--values FILE] [--json]

Brings a cluster up from the values (default: 3 members, synchronous mode, the `fast`
timing preset), starts WRITERS writers on the read-write DSN and one sampler per
member that asks `pg_is_in_recovery()` every 100 ms, then injects N faults drawn with
the seed from five kinds (every kind at least once when N >= 5):

- kill-leader: SIGKILL of the leader's Patroni and PostgreSQL;
- kill-replica: SIGKILL of a replica's Patroni and PostgreSQL;
- kill-etcd: SIGKILL of an etcd member;
- hang-leader-patroni: SIGSTOP of the leader's Patroni for ttl + 5 s, then SIGCONT;
- stall-leader-postgres: SIGSTOP of the leader's postmaster and backends for 4 s.

After each fault the cluster must heal within HEAL_LIMIT: exactly one leader, every
member running or streaming, every etcd member healthy. At the end every
acknowledged id must be on every member, and no two members may have answered
"read-write" in overlapping sample windows. The summary gives, per fault kind, the
write gap (longest pause between acknowledgements from the fault on) median and max,
the time to heal median and max, and rows lost. Exit status 1 when a check fails.
"""

import argparse
import json
import os
import random
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

KINDS = [
    "kill-leader",
    "kill-replica",
    "kill-etcd",
    "hang-leader-patroni",
    "stall-leader-postgres",
]
WRITERS = 4
HEAL_LIMIT = 90.0
PASSWORD = "chaos-password-0123456"
DEFAULT_VALUES = f"""postgres:
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
args.add_argument("--faults", type=int, default=8)
args.add_argument("--seed", type=int, default=1)
args.add_argument("--values")
args.add_argument("--json", action="store_true")
args.add_argument("--name", default="chaos")
ARGS = args.parse_args()

STATE = tempfile.mkdtemp(prefix="chaos-")
os.chmod(STATE, 0o755)  # the cluster runs as `nobody`, which must reach its files
ENV = dict(os.environ, CPLN_POSTGRES_HA_STATE=STATE, CPLN_POSTGRES_HA_RUNTIME=ARGS.runtime)
VALUES = os.path.join(STATE, "values.yaml")
if ARGS.values:
    shutil.copy(ARGS.values, VALUES)
else:
    with open(VALUES, "w") as f:
        f.write(DEFAULT_VALUES)
NAME = ARGS.name


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cli(*words, check=True):
    result = subprocess.run([ARGS.bin, *words], env=ENV, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(words)} failed:\n{result.stderr}")
    return result


def status():
    out = cli("local", "status", NAME, "-o", "json", check=False).stdout
    try:
        return json.loads(out)
    except ValueError:
        return {"members": []}


def cluster_file():
    with open(os.path.join(STATE, NAME, "cluster.json")) as f:
        return json.load(f)


def etcd_healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return json.load(r).get("health") in ("true", True)
    except Exception:
        return False


def healthy(state, members, etcd_ports):
    leaders = [m for m in state["members"] if m["role"] == "leader" and m["state"] == "running"]
    others = [m for m in state["members"] if m["role"] != "leader" and m["state"] == "streaming"]
    return (
        len(leaders) == 1
        and len(others) == members - 1
        and all(etcd_healthy(p) for p in etcd_ports)
    )


def wait_healthy(members, etcd_ports, recovered=lambda state: True, limit=HEAL_LIMIT, since=None):
    """Waits until the cluster is healthy and `recovered` holds (the fault's victim
    was replaced: right after a kill the cluster still looks healthy for a moment)."""
    started = time.monotonic() if since is None else since
    while time.monotonic() - started < limit:
        state = status()
        if healthy(state, members, etcd_ports) and recovered(state):
            return state, time.monotonic() - started
        time.sleep(0.2)
    return status(), None


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def send(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (OSError, TypeError):
            pass


class Threads:
    """Threads started on entering a `with` block and stopped on leaving it."""

    def __init__(self, targets):
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(t,)) for t in targets]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


class Writers(Threads):
    """WRITERS threads inserting distinct ids through the read-write DSN; every
    acknowledged id is recorded with the time of its acknowledgement."""

    def __init__(self, dsn):
        self.dsn, self.acks = dsn, []
        super().__init__(range(WRITERS))

    def run(self, k):
        conn, i = None, 0
        while not self.stop.is_set():
            i += 1
            ident = k * 1_000_000_000 + i
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, password=PASSWORD, autocommit=True)
                conn.execute("insert into acked (id) values (%s)", (ident,))
                with self.lock:
                    self.acks.append((ident, time.monotonic()))
            except Exception:
                conn = None
                time.sleep(0.01)

    def gap_since(self, since, until):
        with self.lock:
            times = sorted(t for _, t in self.acks if since - 0.5 <= t <= until)
        if len(times) < 2:
            return until - since
        return max(b - a for a, b in zip(times, times[1:]))


class Samplers(Threads):
    """One thread per member asks `pg_is_in_recovery()` every 100 ms and records each
    answer with the window it was asked in."""

    def __init__(self, ports):
        self.windows = []
        super().__init__(ports)

    def run(self, port):
        dsn = f"host=127.0.0.1 port={port} user=app dbname=app connect_timeout=1"
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                with psycopg.connect(dsn, password=PASSWORD, autocommit=True) as conn:
                    conn.execute("set statement_timeout = 1000")
                    primary = conn.execute("select not pg_is_in_recovery()").fetchone()[0]
                if primary:
                    with self.lock:
                        self.windows.append((start, time.monotonic(), port))
            except Exception:
                pass
            time.sleep(0.1)

    def overlaps(self):
        """Pairs of read-write answers from different members whose windows overlap."""
        windows = sorted(self.windows)
        found = []
        for i, (s1, e1, p1) in enumerate(windows):
            for s2, e2, p2 in windows[i + 1:]:
                if s2 > e1:
                    break
                if p1 != p2:
                    found.append((p1, p2, round(s2, 3)))
        return found


def stopped(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rfind(")") + 2] in "Tt"
    except OSError:
        return False


def resume_later(pids, seconds):
    """Continues the frozen processes after `seconds` (only those still stopped: a
    fenced one is gone, and its PID must not be signalled blindly)."""

    def resume():
        time.sleep(seconds)
        send([p for p in pids if stopped(p)], signal.SIGCONT)

    thread = threading.Thread(target=resume)
    thread.start()
    return thread


def replaced(name, pid):
    """The member `name` runs a Patroni other than `pid`."""

    def check(state):
        member = next((m for m in state["members"] if m["name"] == name), None)
        return member is not None and member["patroni_pid"] not in (None, pid)

    return check


def inject(kind, state, etcd_pids, rng, ttl):
    """Injects one fault; returns the victim, what recovery means for it, and a thread
    that ends the fault later (for freezes), so healing is timed from the fault's
    start."""
    leader = next(m for m in state["members"] if m["role"] == "leader")
    replicas = [m for m in state["members"] if m["role"] != "leader"]
    if kind == "kill-leader":
        send([leader["patroni_pid"], leader["postmaster_pid"]], signal.SIGKILL)
        return leader["name"], replaced(leader["name"], leader["patroni_pid"]), None
    if kind == "kill-replica":
        victim = rng.choice(replicas)
        send([victim["patroni_pid"], victim["postmaster_pid"]], signal.SIGKILL)
        return victim["name"], replaced(victim["name"], victim["patroni_pid"]), None
    if kind == "kill-etcd":
        pid = rng.choice(etcd_pids)
        send([pid], signal.SIGKILL)
        return f"etcd pid {pid}", lambda state: pid not in current_etcd_pids(), None
    if kind == "hang-leader-patroni":
        # Past the hang bound the watchdog fences it: recovered means replaced.
        send([leader["patroni_pid"]], signal.SIGSTOP)
        resume = resume_later([leader["patroni_pid"]], ttl + 5)
        return leader["name"], replaced(leader["name"], leader["patroni_pid"]), resume
    frozen = [leader["postmaster_pid"], *children(leader["postmaster_pid"])]
    send(frozen, signal.SIGSTOP)
    return leader["name"], lambda state: True, resume_later(frozen, 4)


def current_etcd_pids():
    try:
        with open(os.path.join(STATE, NAME, "pids.json")) as f:
            return [p for p in json.load(f)["etcd"] if p]
    except (OSError, ValueError):
        return []


def main():
    rng = random.Random(ARGS.seed)
    plan = []
    while len(plan) < ARGS.faults:
        round_ = KINDS[:]
        rng.shuffle(round_)
        plan.extend(round_)
    plan = plan[: ARGS.faults]
    log(f"seed {ARGS.seed}: {', '.join(plan)}")
    cli("local", "up", NAME, "-f", VALUES)
    file = cluster_file()
    members = len(file["ports"]["members"])
    etcd_ports = [client for client, _ in file["ports"]["etcd"]]
    state, took = wait_healthy(members, etcd_ports)
    if took is None:
        raise SystemExit(f"the cluster did not come up healthy: {state}")
    leader = next(m for m in state["members"] if m["role"] == "leader")
    with psycopg.connect(
        f"host=127.0.0.1 port={leader['port']} user=app dbname=app", password=PASSWORD, autocommit=True
    ) as conn:
        conn.execute("create table acked (id bigint primary key)")
    with urllib.request.urlopen(f"http://127.0.0.1:{leader['api_port']}/config", timeout=5) as r:
        ttl = int(json.load(r)["ttl"])
    dsn = cli("local", "dsn", NAME).stdout.strip()
    results, failures = [], []
    ports = [postgres for postgres, _ in file["ports"]["members"]]
    with Samplers(ports) as samplers, Writers(dsn) as writers:
        time.sleep(3)
        for number, kind in enumerate(plan, 1):
            before = status()
            if not healthy(before, members, etcd_ports):
                before, _ = wait_healthy(members, etcd_ports)
            at = time.monotonic()
            victim, recovered, resume = inject(kind, before, current_etcd_pids(), rng, ttl)
            state, heal = wait_healthy(members, etcd_ports, recovered, since=at)
            if resume is not None:
                # The fault is over only when the frozen processes run again.
                resume.join()
                state, after = wait_healthy(members, etcd_ports, recovered)
                if kind == "stall-leader-postgres" or after is None:
                    # A stall lasts until the processes run again; a hang was over
                    # when the watchdog fenced it and the member came back.
                    heal = None if after is None else time.monotonic() - at
            time.sleep(2)  # sustained writing, not one acknowledgement in flight
            gap = writers.gap_since(at, time.monotonic())
            row = {"fault": number, "kind": kind, "victim": victim, "write_gap": round(gap, 3),
                   "heal": None if heal is None else round(heal, 3)}
            results.append(row)
            healed = "never" if heal is None else f"in {heal:.1f} s"
            log(f"fault {number} {kind} ({victim}): write gap {gap:.2f} s, healed {healed}")
            if heal is None:
                failures.append(f"fault {number} ({kind}) did not heal within {HEAL_LIMIT} s: {state}")
                break
            time.sleep(2)
    overlaps = samplers.overlaps()
    if overlaps:
        failures.append(f"two members accepted read-write sessions at once: {overlaps[:5]}")
    # Every acknowledged id on every member, once replicas have replayed everything.
    acked = {i for i, _ in writers.acks}
    time.sleep(3)
    lost_by_member = {}
    for port in ports:
        stored = None
        for _ in range(50):
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} user=app dbname=app connect_timeout=2",
                    password=PASSWORD,
                ) as conn:
                    stored = {r[0] for r in conn.execute("select id from acked")}
                if acked <= stored:
                    break
            except psycopg.Error:
                pass
            time.sleep(0.5)
        lost_by_member[port] = len(acked - (stored or set()))
    if any(lost_by_member.values()):
        failures.append(f"acknowledged rows missing: {lost_by_member}")
    summary = {
        "seed": ARGS.seed,
        "faults": results,
        "acknowledged": len(acked),
        "lost": max(lost_by_member.values(), default=0),
        "double_primary": len(overlaps),
        "failures": failures,
    }
    return summary


def table(summary):
    lines = [
        "| fault | count | write gap median | write gap max | heal median | heal max | rows lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        rows = [r for r in summary["faults"] if r["kind"] == kind]
        if not rows:
            continue
        gaps = [r["write_gap"] for r in rows]
        heals = [r["heal"] for r in rows if r["heal"] is not None]
        lines.append(
            f"| {kind} | {len(rows)} | {statistics.median(gaps):.2f} s | {max(gaps):.2f} s | "
            f"{statistics.median(heals):.1f} s | {max(heals):.1f} s | {summary['lost']} |"
        )
    lines.append("")
    lines.append(
        f"{summary['acknowledged']} acknowledged writes, {summary['lost']} lost on any member, "
        f"{summary['double_primary']} overlapping read-write answers from two members."
    )
    return "\n".join(lines)


try:
    result = main()
finally:
    cli("local", "down", NAME, "--purge", check=False)
    shutil.rmtree(STATE, ignore_errors=True)
print(json.dumps(result) if ARGS.json else table(result))
sys.exit(1 if result["failures"] else 0)
