//! The local cluster, end to end, on real etcd 3.4.23, Patroni 4.1.5 and PostgreSQL
//! 17.11: bootstrap and replication, a SIGKILL of the leader under a writer (no
//! acknowledged write lost, the old leader rejoins with `pg_rewind`), down/up keeping
//! data, and the failure cases (missing runtime, port in use, stale state, Ctrl-C).
//! Everything listens on 127.0.0.1, is bounded in time, and is stopped by PID.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postgres_ha_tests::cluster::{
    Local, PASSWORD, alive, failed_writes, lock, primaries, read_acked, runtime,
    stop_writer_and_check, writer_events,
};
use postgres_ha_tests::{Output, b64, bin, root, run};
use serde_json::Value;

#[test]
fn bootstrap_replication_and_down_up_keep_data() {
    let _serial = lock();
    let cluster = Local::new("life");
    let up = cluster.up();
    assert_eq!(up.code, Some(0), "{}{}", up.stdout, up.stderr);
    assert!(
        up.stdout.contains("target_session_attrs=read-write"),
        "{}",
        up.stdout
    );

    let status = cluster.status();
    let members = status["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1);
    for m in members {
        for key in [
            "name",
            "role",
            "state",
            "host",
            "port",
            "api_port",
            "lag_bytes",
            "timeline",
            "patroni_pid",
            "postmaster_pid",
        ] {
            assert!(!m[key].is_null(), "{key} missing in {m}");
        }
        assert_eq!(m["host"], "127.0.0.1");
        assert!(
            alive(m["patroni_pid"].as_u64().unwrap())
                && alive(m["postmaster_pid"].as_u64().unwrap())
        );
    }
    // `status --local` is the same report.
    let same = cluster.cli(&["status", "life", "--local", "-o", "json"], 30);
    let same: Value = serde_json::from_str(&same.stdout).unwrap();
    assert_eq!(same["members"].as_array().unwrap().len(), 3);

    // A write on the leader reaches every replica.
    let leader = Local::member(&status, "leader").unwrap()["port"]
        .as_u64()
        .unwrap();
    let write = Local::psql(
        leader,
        "create table t (v text); insert into t values ('kept')",
    );
    assert_eq!(write.code, Some(0), "{}", write.stderr);
    for m in members.iter().filter(|m| m["role"] != "leader") {
        let port = m["port"].as_u64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Local::psql(port, "select v from t").stdout.trim() != "kept" {
            assert!(
                Instant::now() < deadline,
                "replica {port} never saw the write"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let refused = Local::psql(port, "insert into t values ('no')");
        assert!(refused.stderr.contains("read-only"), "{}", refused.stderr);
    }
    // The DSN reaches the leader, whichever member is first.
    let dsn = cluster.cli(&["local", "dsn", "life"], 30).stdout;
    assert!(
        dsn.starts_with("host=127.0.0.1,127.0.0.1,127.0.0.1 port="),
        "{dsn}"
    );

    // `up` again is a no-op; `list` shows it running.
    let again = cluster.up();
    assert_eq!(again.code, Some(0));
    assert!(again.stderr.contains("already running"), "{}", again.stderr);
    assert!(
        cluster
            .cli(&["local", "list"], 30)
            .stdout
            .contains("life\trunning\t3 members")
    );

    // Down stops every process; up restarts with the data.
    let pids = cluster.recorded_pids();
    let down = cluster.cli(&["local", "down", "life"], 120);
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    assert!(
        pids.iter().all(|p| !alive(u64::from(*p))),
        "a process survived down"
    );
    let stopped = cluster.cli(&["local", "status", "life"], 30);
    assert_eq!(stopped.code, Some(1));
    assert!(stopped.stdout.contains("stopped"));
    let up = cluster.up();
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let status = cluster.status();
    let leader = Local::member(&status, "leader").unwrap()["port"]
        .as_u64()
        .unwrap();
    assert_eq!(Local::psql(leader, "select v from t").stdout.trim(), "kept");
    let logs = cluster.cli(&["local", "logs", "life", "supervisor"], 30);
    assert!(logs.stdout.contains("started Patroni 0"), "{}", logs.stdout);

    // Purge removes everything.
    let pids = cluster.recorded_pids();
    let purge = cluster.cli(&["local", "down", "life", "--purge"], 120);
    assert_eq!(purge.code, Some(0));
    assert!(!cluster.dir().exists());
    assert!(pids.iter().all(|p| !alive(u64::from(*p))));
}

/// Inserts ids 1, 2, … through the read-write DSN, recording each id only once its
/// commit is acknowledged; reconnects on any error.
/// A POST to etcd's v3 JSON gateway on loopback, with an optional token; the body of
/// the answer.
fn etcd_post(port: u64, path: &str, body: &str, token: Option<&str>) -> String {
    use std::io::Write;
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).unwrap())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: {t}\r\n"));
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// etcd refuses clients without credentials: nobody else on the machine can read the
/// cluster's keys, rewrite its configuration or delete its leader key.
fn assert_etcd_refuses_strangers(cluster: &Local) {
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir().join("cluster.json")).unwrap())
            .unwrap();
    let port = file["ports"]["etcd"][0][0].as_u64().unwrap();
    let leader_key = b64(&format!("/postgres-ha/{}/leader", cluster.name));
    let config_key = b64(&format!("/postgres-ha/{}/config", cluster.name));
    for (path, body) in [
        ("/v3/kv/range", format!(r#"{{"key":"{leader_key}"}}"#)),
        ("/v3/kv/deleterange", format!(r#"{{"key":"{leader_key}"}}"#)),
        (
            "/v3/kv/put",
            format!(r#"{{"key":"{config_key}","value":"e30="}}"#),
        ),
        (
            "/v3/auth/user/add",
            r#"{"name":"intruder","password":"x"}"#.to_owned(),
        ),
    ] {
        let answer = etcd_post(port, path, &body, None);
        assert!(
            answer.contains("user name is empty"),
            "{path} without credentials: {answer}"
        );
    }
    // A wrong password gets no token either.
    let answer = etcd_post(
        port,
        "/v3/auth/authenticate",
        r#"{"name":"patroni","password":"guess"}"#,
        None,
    );
    assert!(!answer.contains("token"), "{answer}");
}

/// A hung leader (its Patroni frozen with SIGSTOP, as a stuck process or a frozen VM
/// would be): the supervisor's watchdog fences it within the hang bound — before its
/// lease can expire — so at no sampled instant do two members accept writes, the
/// writes stall for at most the hang bound plus a failover (usually for half a
/// second: the old primary keeps committing until it is fenced), and none
/// acknowledged is lost.
#[test]
fn hung_leader_is_fenced_before_its_lease_expires() {
    let _serial = lock();
    let cluster = Local::new("hung");
    let status = cluster.up_with_sync_standby();
    let old = Local::member(&status, "leader").unwrap().clone();
    let ports: Vec<u64> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["port"].as_u64().unwrap())
        .collect();
    let (mut writer, acked_file) = cluster.start_writer(&old, 30);
    let _ = Command::new("kill")
        .args(["-STOP", &old["patroni_pid"].to_string()])
        .status();
    let frozen = Instant::now();
    let mut most = 0;
    let mut new_leader = None;
    while frozen.elapsed() < Duration::from_secs(25) {
        let now = primaries(&ports);
        assert!(now.len() <= 1, "two primaries at once: ports {now:?}");
        most = most.max(now.len());
        if let Some(leader) = Local::member(&cluster.status(), "leader")
            && leader["name"] != old["name"]
            && leader["state"] == "running"
        {
            if new_leader.is_none() {
                new_leader = Some((leader.clone(), frozen.elapsed()));
            }
            if frozen.elapsed() > Duration::from_secs(16) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (new, took) = new_leader.expect("no member took over from the hung leader");
    // The fast preset: ttl 20, loop_wait 5, so a hang bound of 7 s.
    assert!(took < Duration::from_secs(12), "took over after {took:?}");
    for pid in [&old["patroni_pid"], &old["postmaster_pid"]] {
        assert!(
            !alive(pid.as_u64().unwrap()),
            "{pid} of the hung leader still runs"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while matches!(writer.try_wait(), Ok(None)) {
        assert!(Instant::now() < deadline, "writer did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let acked = read_acked(&acked_file);
    let gap = acked
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .fold(0.0, f64::max);
    let froze_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - frozen.elapsed().as_secs_f64();
    let at = acked
        .windows(2)
        .find(|w| w[1].1 - w[0].1 >= gap)
        .map_or(0.0, |w| w[0].1 - froze_at);
    // The hang bound (7 s for the fast preset) and a failover's second or two.
    assert!(
        gap <= 9.0,
        "writes stalled for {gap:.2} s, from {at:.2} s after the freeze (at {froze_at:.3}); \
         writer: {}",
        writer_events(&acked_file)
    );
    // Once the new leader has settled, commits do not wait: a synchronous commit
    // once waited 10 s here for a walsender wake-up (see wal_receiver_status_interval).
    let settled = froze_at + took.as_secs_f64() + 3.0;
    let later = acked
        .windows(2)
        .filter(|w| w[0].1 > settled)
        .map(|w| w[1].1 - w[0].1)
        .fold(0.0, f64::max);
    assert!(
        later <= 3.0,
        "after the failover a write waited {later:.2} s; writer: {}",
        writer_events(&acked_file)
    );
    let stored = Local::psql(new["port"].as_u64().unwrap(), "select id from acked");
    let stored: std::collections::BTreeSet<u64> =
        stored.stdout.lines().map(|l| l.parse().unwrap()).collect();
    let lost: Vec<u64> = acked
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let log = std::fs::read_to_string(cluster.dir().join("supervisor.log")).unwrap();
    assert!(log.contains("has not answered for"), "{log}");
}

#[test]
fn leader_crash_loses_no_acknowledged_write() {
    let _serial = lock();
    let cluster = Local::new("crash");
    let status = cluster.up_with_sync_standby();
    let old = Local::member(&status, "leader").unwrap().clone();
    let old_timeline = old["timeline"].as_u64().unwrap();
    // With etcd closed to strangers, failover (below) still works: Patroni and the
    // supervisor authenticate.
    assert_etcd_refuses_strangers(&cluster);
    let (mut writer, acked_file) = cluster.start_writer(&old, 12);
    let acked_before_kill = read_acked(&acked_file).len();
    // The crash: Patroni and PostgreSQL of the leader, all at once.
    for pid in [&old["patroni_pid"], &old["postmaster_pid"]] {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let status = cluster.wait_for(
        "a new leader on a new timeline",
        Duration::from_secs(30),
        |s| {
            Local::member(s, "leader").is_some_and(|m| {
                m["name"] != old["name"]
                    && m["state"] == "running"
                    && m["timeline"].as_u64() > Some(old_timeline)
            })
        },
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while matches!(writer.try_wait(), Ok(None)) {
        assert!(Instant::now() < deadline, "writer did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let new = Local::member(&status, "leader").unwrap();
    let acked: Vec<u64> = read_acked(&acked_file)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        acked_before_kill > 10,
        "the writer barely wrote: {acked_before_kill}"
    );
    let stored = Local::psql(
        new["port"].as_u64().unwrap(),
        "select id from acked order by id",
    );
    let stored: std::collections::BTreeSet<u64> =
        stored.stdout.lines().map(|l| l.parse().unwrap()).collect();
    let lost: Vec<&u64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    // Writes were acknowledged after the crash, so by the new leader.
    assert!(
        acked.len() > acked_before_kill + 10,
        "writes did not resume: {} then {}",
        acked_before_kill,
        acked.len()
    );

    // The old leader comes back as a replica (through pg_rewind when it diverged).
    cluster.wait_for("the old leader to rejoin", Duration::from_secs(60), |s| {
        s["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == old["name"] && m["role"] != "leader" && m["state"] == "streaming")
    });
    let supervisor_log = std::fs::read_to_string(cluster.dir().join("supervisor.log")).unwrap();
    let released = format!(
        "released the leader key held by {}",
        old["name"].as_str().unwrap()
    );
    assert!(supervisor_log.contains(&released), "{supervisor_log}");
}

/// Processes whose working directory is inside `dir`, from the kernel.
fn processes_in(dir: &std::path::Path) -> Vec<u32> {
    let dir = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id() && alive(u64::from(*pid)))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.display().to_string().starts_with(&dir))
        })
        .collect()
}

/// `down` does not trust one file. The supervisor writes its state atomically (a
/// reader polling it while members restart and the cluster stops never sees a torn
/// file); with the file damaged or missing, `down` still finds every process from the
/// kernel; two `down --purge` at once take turns; data goes only when nothing runs.
#[test]
fn down_stops_everything_whatever_the_state_file_says() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let _serial = lock();
    let cluster = Local::new("downs");
    let status = cluster.up_with_sync_standby();
    let dir = cluster.dir();
    let pids_file = dir.join("pids.json");
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, torn) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let reader = {
        let (stop, reads, torn, path) =
            (stop.clone(), reads.clone(), torn.clone(), pids_file.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    reads.fetch_add(1, Ordering::Relaxed);
                    if serde_json::from_str::<Value>(&text).is_err() {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    // Make the supervisor rewrite its state: a replica's Patroni is killed and restarted.
    let replica = Local::member(&status, "replica").unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &replica["patroni_pid"].to_string()])
        .status();
    std::thread::sleep(Duration::from_secs(3));
    let down = cluster.cli(&["local", "down", "downs"], 120);
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert_eq!(down.code, Some(0), "{down:?}");
    assert!(
        reads.load(Ordering::Relaxed) > 100,
        "the reader saw too little"
    );
    assert_eq!(
        torn.load(Ordering::Relaxed),
        0,
        "a torn state file was read"
    );
    assert_eq!(processes_in(&dir), Vec::<u32>::new());

    // A damaged state file: `down` finds the supervisor and the rest from the kernel.
    assert_eq!(cluster.up().code, Some(0));
    std::fs::write(&pids_file, "{\"supervisor\": 1").unwrap();
    let down = cluster.cli(&["local", "down", "downs"], 120);
    assert_eq!(down.code, Some(0), "{down:?}");
    assert_eq!(processes_in(&dir), Vec::<u32>::new());

    // A missing state file, and two `down --purge` at once.
    assert_eq!(cluster.up().code, Some(0));
    std::fs::remove_file(&pids_file).unwrap();
    let spawn_down = || {
        Command::new(bin())
            .args(["local", "down", "downs", "--purge"])
            .env("CPLN_POSTGRES_HA_STATE", cluster.state.path())
            .env("CPLN_POSTGRES_HA_RUNTIME", runtime())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut first, mut second) = (spawn_down(), spawn_down());
    let first = wait_output(&mut first, Duration::from_secs(120));
    let second = wait_output(&mut second, Duration::from_secs(120));
    assert_eq!(
        (first.code, second.code),
        (Some(0), Some(0)),
        "{first:?} {second:?}"
    );
    assert!(!dir.exists());
    assert_eq!(processes_in(&dir), Vec::<u32>::new());
}

/// The HTTP status Patroni's REST API answers on `path`, if it answers.
fn http_status(port: u64, path: &str) -> Option<u16> {
    use std::io::Write;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).ok()?));
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Why stateful workloads start their members in parallel: after every member stops,
/// the one that was neither leader nor synchronous standby cannot lead in synchronous
/// mode, so it never becomes ready alone — an ordered start would wait on it forever
/// and never start the members that can lead. Started alongside them, the cluster
/// recovers.
#[test]
fn full_stop_recovers_whichever_member_starts_first() {
    let _serial = lock();
    let cluster = Local::new("order");
    let status = cluster.up_with_sync_standby();
    let short = |m: &Value| {
        m["name"]
            .as_str()
            .unwrap()
            .trim_start_matches("order-")
            .to_owned()
    };
    let leader = Local::member(&status, "leader").unwrap();
    let sync = Local::member(&status, "sync_standby").unwrap();
    let other = Local::member(&status, "replica").unwrap();
    let (leader, sync, other_api) = (
        short(leader),
        short(sync),
        other["api_port"].as_u64().unwrap(),
    );
    let other = short(other);
    let stop = cluster.cli(
        &[
            "local", "stop", "order", "--member", &other, "--member", &leader, "--member", &sync,
        ],
        120,
    );
    assert_eq!(stop.code, Some(0), "{stop:?}");
    let start = cluster.cli(&["local", "start", "order", "--member", &other], 60);
    assert_eq!(start.code, Some(0), "{start:?}");
    // Longer than the ttl (the fast preset's 20 s): it never leads and is never ready.
    let alone_until = Instant::now() + Duration::from_secs(25);
    let mut answered = false;
    while Instant::now() < alone_until {
        let ready = http_status(other_api, "/readiness");
        answered |= ready.is_some();
        assert_ne!(ready, Some(200), "{other} became ready alone");
        assert_ne!(
            http_status(other_api, "/primary"),
            Some(200),
            "{other} became a primary alone"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(answered, "{other}'s Patroni never answered");
    let start = cluster.cli(
        &[
            "local", "start", "order", "--member", &leader, "--member", &sync,
        ],
        60,
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let healed = cluster.wait_for(
        "one leader and two streaming replicas",
        Duration::from_secs(90),
        |s| {
            let members = s["members"].as_array().cloned().unwrap_or_default();
            members
                .iter()
                .filter(|m| m["role"] == "leader" && m["state"] == "running")
                .count()
                == 1
                && members
                    .iter()
                    .filter(|m| m["role"] != "leader" && m["state"] == "streaming")
                    .count()
                    == 2
        },
    );
    let new_leader = short(Local::member(&healed, "leader").unwrap());
    assert!(
        new_leader == leader || new_leader == sync,
        "{new_leader} led without being in sync"
    );
}

/// Patroni dies but its PostgreSQL would live on: without the fence that orphan would
/// still be a primary accepting writes while a replica is promoted (split brain).
#[test]
fn patroni_death_fences_its_postgres() {
    let _serial = lock();
    let cluster = Local::new("fence");
    let status = cluster.up_with_sync_standby();
    let old = Local::member(&status, "leader").unwrap().clone();
    let postmaster = old["postmaster_pid"].as_u64().unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &old["patroni_pid"].to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(postmaster) {
        assert!(
            Instant::now() < deadline,
            "the orphaned postmaster {postmaster} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing answers on the old primary's port any more.
    let refused = Local::psql(old["port"].as_u64().unwrap(), "select 1");
    assert_ne!(refused.code, Some(0));
    cluster.wait_for("a new leader", Duration::from_secs(30), |s| {
        Local::member(s, "leader")
            .is_some_and(|m| m["name"] != old["name"] && m["state"] == "running")
    });
    let log = std::fs::read_to_string(cluster.dir().join("supervisor.log")).unwrap();
    assert!(
        log.contains(&format!("killed postmaster {postmaster}")),
        "{log}"
    );
}

#[test]
fn failures_are_clear_and_leave_nothing_behind() {
    let _serial = lock();
    // Missing runtime: the exact command to run, and no state created.
    let cluster = Local::new("broken");
    let mut command = Command::new(bin());
    command
        .args([
            "local",
            "up",
            "broken",
            "-f",
            cluster.values.to_str().unwrap(),
            "--runtime",
            "/nonexistent/runtime",
        ])
        .env("CPLN_POSTGRES_HA_STATE", cluster.state.path());
    let out = run(&mut command, None, Duration::from_secs(30));
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("cpln-postgres-ha local install --runtime /nonexistent/runtime"),
        "{}",
        out.stderr
    );
    assert!(!cluster.dir().exists());

    // A stale directory without cluster state.
    std::fs::create_dir_all(cluster.dir()).unwrap();
    let out = cluster.up();
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("holds no usable cluster state") && out.stderr.contains("--purge"),
        "{}",
        out.stderr
    );
    assert_eq!(
        cluster
            .cli(&["local", "down", "broken", "--purge"], 30)
            .code,
        Some(0)
    );
    assert!(!cluster.dir().exists());

    // A port taken while the cluster was down.
    let up = cluster.up();
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir().join("cluster.json")).unwrap())
            .unwrap();
    assert_eq!(cluster.cli(&["local", "down", "broken"], 120).code, Some(0));
    let port = file["ports"]["members"][1][0].as_u64().unwrap() as u16;
    let squatter = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = cluster.up();
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{}",
        out.stderr
    );
    assert!(
        cluster
            .recorded_pids()
            .iter()
            .all(|p| !alive(u64::from(*p)))
    );
    drop(squatter);

    // Ctrl-C during a first `up`: stopped, removed, no process left.
    assert_eq!(
        cluster
            .cli(&["local", "down", "broken", "--purge"], 120)
            .code,
        Some(0)
    );
    let mut up = Command::new(bin())
        .args([
            "local",
            "up",
            "broken",
            "-f",
            cluster.values.to_str().unwrap(),
        ])
        .env("CPLN_POSTGRES_HA_STATE", cluster.state.path())
        .env("CPLN_POSTGRES_HA_RUNTIME", runtime())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = cluster.dir().join("supervisor.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started Etcd 2")) {
        assert!(
            Instant::now() < deadline,
            "the supervisor never started etcd"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = cluster.recorded_pids();
    let _ = Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status();
    let output = wait_output(&mut up, Duration::from_secs(120));
    assert_eq!(output.code, Some(2), "{output:?}");
    assert!(
        output
            .stderr
            .contains("interrupted: broken was stopped and removed"),
        "{}",
        output.stderr
    );
    assert!(!cluster.dir().exists());
    assert!(
        pids.iter().all(|p| !alive(u64::from(*p))),
        "a process survived Ctrl-C"
    );
}

fn wait_output(child: &mut std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut stdout);
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    Output {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// The chaos driver (`bench/chaos.py`), short and with a fixed seed: 8 random faults of
/// every kind under four writers; every fault heals, every acknowledged write is on
/// every member, and no two members answer read-write in overlapping windows. The
/// long run is a benchmark (`scripts/chaos.sh`, BENCHMARKS.md).
#[test]
fn chaos_short_run_heals_every_fault_and_loses_nothing() {
    let _serial = lock();
    let out = run(
        Command::new(runtime().join("venv/bin/python"))
            .arg(root().join("bench/chaos.py"))
            .arg(bin())
            .arg(runtime())
            .args([
                "--faults", "8", "--seed", "7", "--json", "--name", "chaosci",
            ])
            .env("LD_LIBRARY_PATH", runtime().join("pg/lib")),
        None,
        Duration::from_secs(900),
    );
    let summary: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|_| panic!("no summary: {out:?}"));
    assert_eq!(summary["failures"], serde_json::json!([]), "{}", out.stderr);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let faults = summary["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 8);
    let kinds: std::collections::BTreeSet<&str> =
        faults.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["double_primary"], 0);
    assert!(
        summary["acknowledged"].as_u64().unwrap() > 1000,
        "{summary}"
    );
}

/// Every etcd member stopped for longer than the leader's lease: the leader keeps
/// accepting writes (Patroni's failsafe mode, with every member confirming it through
/// the REST API) instead of demoting for the length of the outage, and the cluster
/// carries on when etcd is back, with every acknowledged write kept.
#[test]
fn an_etcd_outage_does_not_stop_writes() {
    let _serial = lock();
    let cluster = Local::new("failsafe");
    let status = cluster.up_with_sync_standby();
    let leader = Local::member(&status, "leader").unwrap().clone();
    let (mut writer, acked) = cluster.start_writer(&leader, 90);
    let pids: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir().join("pids.json")).unwrap())
            .unwrap();
    let etcd: Vec<String> = pids["etcd"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .map(|p| p.to_string())
        .collect();
    assert_eq!(etcd.len(), 3);
    let signal = |name: &str| {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .args(&etcd)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let before = read_acked(&acked).len();
    signal("STOP");
    // The fast preset's ttl is 20 s: without failsafe the leader demotes by then.
    std::thread::sleep(Duration::from_secs(30));
    let during = read_acked(&acked).len() - before;
    let failed = failed_writes(&acked);
    signal("CONT");
    assert_eq!(
        failed,
        0,
        "writes failed during the etcd outage: {}",
        writer_events(&acked)
    );
    assert!(
        during > 100,
        "the leader stopped taking writes: {during} in 30 s"
    );
    cluster.wait_for("the leader back in etcd", Duration::from_secs(60), |s| {
        Local::member(s, "leader").is_some_and(|m| m["name"] == leader["name"])
    });
    let ports: Vec<u64> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["port"].as_u64().unwrap())
        .collect();
    stop_writer_and_check(&mut writer, &acked, &ports, PASSWORD);
}
