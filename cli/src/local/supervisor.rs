//! The supervisor (`local supervise`, started in the background by `local up`) owns
//! every process of one local cluster and plays the platform's part:
//!
//! - it restarts an etcd member or a Patroni that exited, with back-off;
//! - it **fences**: the moment a member's Patroni exits, that member's postmaster and
//!   backends are killed, so no primary keeps running without Patroni (split brain);
//! - if that member held the leader key, it deletes the key with a compare-and-delete
//!   on the member's name, so a replica takes over in about a second instead of
//!   waiting out the ttl;
//! - it holds down the members `local stop --member` names (a clean Patroni stop, no
//!   restart) until `local start --member` releases them;
//! - it is the members' **watchdog**: a Patroni that stops answering its REST API for
//!   longer than the hang bound (a hung process, a frozen machine) is killed with its
//!   PostgreSQL, and its leader key released — the crash path — before its lease can
//!   expire and a second primary appear (see `EffectiveTiming::hang_bound`).
//!
//! Deleting the key is safe because of the fence: by the time the key goes, the old
//! leader's PostgreSQL is dead and cannot accept writes, and the compare makes sure a
//! key that a new leader already took is never touched. It would not be safe without
//! the fence (the old primary could still write), or if the supervisor could see a
//! Patroni exit while its PostgreSQL survives on another machine — which cannot happen
//! here, where both are local processes this supervisor owns.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use postgres_ha_core::local::{
    BEFORE_STOP_SCRIPT, etcd_args, etcd_short, member_name, member_short,
};
use postgres_ha_core::render::Credentials;
use postgres_ha_core::render::{
    APP_DATABASE_ENV, APP_USERNAME_ENV, CredentialKey, PASSWORD_ENV, etcd_env,
};
use postgres_ha_core::render::{ETCD_PATRONI_USER, EtcdUser, leader_key};
use postgres_ha_core::render::{before_stop, post_bootstrap};
use postgres_ha_core::values::Values;

use super::api;
use super::process::{alive, fence, hand_over, signal, spawn};
use super::state::{Cluster, ClusterFile, Pids};
use crate::secrets::write_atomic;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Etcd,
    Patroni,
}

struct Slot {
    pid: Option<u32>,
    started: Instant,
    failures: u32,
    next_start: Instant,
    /// Fenced by the watchdog and not yet reaped.
    hung: bool,
    /// Removed by a scale-down while running: forgotten once it exits.
    retired: bool,
}

impl Slot {
    /// A slot whose process is due to start at `now`.
    fn due(now: Instant) -> Self {
        Self {
            pid: None,
            started: now,
            failures: 0,
            next_start: now,
            hung: false,
            retired: false,
        }
    }
}

/// How long a Patroni may take to answer for the first time after it starts.
const STARTUP_GRACE: Duration = Duration::from_secs(60);

/// When each member's Patroni last answered `/liveness` with 200, by member index, as
/// the watchdog threads see it.
type Answers = Arc<std::sync::Mutex<BTreeMap<usize, Instant>>>;

/// Starts member `i`'s watchdog thread: it asks the member's Patroni `/liveness` every
/// second (one-second timeout), so a hung member never blocks the supervisor's loop,
/// until `stop` (the supervisor's) or `retire` (the member's, on scale-down) is set.
fn watch_member(
    i: usize,
    port: u16,
    answers: &Answers,
    stop: &Arc<AtomicBool>,
    retire: &Arc<AtomicBool>,
) {
    let (answers, stop, retire) = (Arc::clone(answers), Arc::clone(stop), Arc::clone(retire));
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap_or_default();
        while !stop.load(Ordering::Relaxed) && !retire.load(Ordering::Relaxed) {
            let alive = client
                .get(format!("http://127.0.0.1:{port}/liveness"))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if alive && let Ok(mut answers) = answers.lock() {
                answers.insert(i, Instant::now());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

struct Supervisor {
    /// The supervisor's stop flag, and each member's watchdog retirement flag.
    stop: Arc<AtomicBool>,
    watchers: BTreeMap<usize, Arc<AtomicBool>>,
    answers: Answers,
    /// When cluster.json was last read for a changed member count (scale).
    members_read: Instant,
    /// Members held down by `local stop --member`.
    held: std::collections::BTreeSet<usize>,
    held_read: Instant,
    /// The state last written to pids.json: it is rewritten only when it changes.
    recorded: String,
    cluster: Cluster,
    file: ClusterFile,
    values: Values,
    credentials: Credentials,
    slots: BTreeMap<(Kind, usize), Slot>,
    log: std::fs::File,
    client: reqwest::blocking::Client,
}

/// Runs until SIGTERM, SIGINT or SIGHUP; then stops everything and returns.
pub(crate) fn run(cluster: &Cluster) -> anyhow::Result<()> {
    let file = cluster.load()?;
    let credentials = cluster.load_credentials()?;
    let values = postgres_ha_core::check(&std::fs::read(cluster.values())?)
        .values
        .context("the cluster's recorded values no longer validate")?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    // Orphaned postmasters (Patroni starts them detached) become our children, so we
    // can reap them and they never linger as zombies.
    nix::sys::prctl::set_child_subreaper(true)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cluster.log("supervisor"))?;
    let now = Instant::now();
    let mut slots = BTreeMap::new();
    for i in 0..file.ports.etcd.len() {
        slots.insert((Kind::Etcd, i), Slot::due(now));
    }
    let mut supervisor = Supervisor {
        stop: Arc::clone(&stop),
        watchers: BTreeMap::new(),
        answers: Answers::default(),
        members_read: now,
        held: cluster.load_held(),
        held_read: now,
        recorded: String::new(),
        cluster: cluster.clone(),
        file,
        values,
        credentials,
        slots,
        log,
        client: api::client(),
    };
    supervisor.prepare()?;
    supervisor.say("starting");
    supervisor.start_due();
    supervisor.wait_for_etcd(&stop);
    // Only then Patroni: it connects as the etcd user this creates.
    let credentials = supervisor.credentials.clone();
    let password = |user: EtcdUser| {
        credentials
            .get(user.credential_key())
            .unwrap_or_default()
            .to_owned()
    };
    match api::enable_etcd_auth(
        &supervisor.client,
        &supervisor.file.etcd_client_ports(),
        &supervisor.cluster.name,
        &password,
    ) {
        Ok(()) => supervisor.say("etcd authentication on"),
        Err(error) => supervisor.say(&format!("cannot turn etcd authentication on: {error:#}")),
    }
    for i in 0..supervisor.file.ports.members.len() {
        supervisor.add_member(i);
    }
    while !stop.load(Ordering::Relaxed) {
        supervisor.reap();
        supervisor.fence_hung();
        supervisor.follow_holds();
        supervisor.follow_members();
        supervisor.start_due();
        std::thread::sleep(Duration::from_millis(50));
    }
    supervisor.shutdown();
    Ok(())
}

impl Supervisor {
    fn say(&mut self, message: &str) {
        let _ = writeln!(self.log, "supervisor: {message}");
    }

    /// Writes each member's configuration and the bootstrap script (again on every
    /// start, so an upgraded CLI applies its own generator).
    fn prepare(&mut self) -> anyhow::Result<()> {
        let script = self.cluster.dir.join("post-bootstrap.sh");
        std::fs::write(&script, post_bootstrap())?;
        std::fs::write(self.cluster.dir.join(BEFORE_STOP_SCRIPT), before_stop())?;
        for i in 0..self.file.ports.etcd.len() {
            let path = self.cluster.dir.join(etcd_short(i));
            std::fs::create_dir_all(&path)?;
            hand_over(&path)?;
        }
        for i in 0..self.file.ports.members.len() {
            self.prepare_member(i)?;
        }
        Ok(())
    }

    /// Member `i`'s directory and configuration.
    fn prepare_member(&self, i: usize) -> anyhow::Result<()> {
        // Read afresh: `rotate-password` may have changed them since the start.
        let credentials = self.cluster.load_credentials()?;
        self.cluster
            .write_member_config(&self.file, &self.values, &credentials, i)
    }

    /// Supervises member `i` from now on: a slot to start it in, a watchdog.
    fn add_member(&mut self, i: usize) {
        let now = Instant::now();
        self.slots.insert((Kind::Patroni, i), Slot::due(now));
        let retire = Arc::new(AtomicBool::new(false));
        if let Some((_, api)) = self.file.ports.members.get(i) {
            watch_member(i, *api, &self.answers, &self.stop, &retire);
        }
        self.watchers.insert(i, retire);
    }

    /// Follows `scale`: re-reads cluster.json now and then; adds members it gained
    /// (configuration, slot, watchdog) and retires those it lost (stopped cleanly
    /// if still running, never restarted).
    fn follow_members(&mut self) {
        if self.members_read.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.members_read = Instant::now();
        let Ok(file) = self.cluster.load() else {
            return;
        };
        let (before, after) = (self.file.ports.members.len(), file.ports.members.len());
        if file.ports.members == self.file.ports.members {
            return;
        }
        self.file = file;
        for i in before..after {
            match self.prepare_member(i) {
                Ok(()) => {
                    self.add_member(i);
                    self.say(&format!("member {i} added"));
                }
                Err(error) => self.say(&format!("cannot prepare member {i}: {error:#}")),
            }
        }
        for i in after..before {
            if let Some(retire) = self.watchers.remove(&i) {
                retire.store(true, Ordering::Relaxed);
            }
            if let Ok(mut answers) = self.answers.lock() {
                answers.remove(&i);
            }
            let slot = self.slots.get_mut(&(Kind::Patroni, i));
            match slot.as_ref().and_then(|s| s.pid) {
                // Still running (it should have been held down first): stop it
                // cleanly; `reap` forgets it once it exits.
                Some(pid) => {
                    if let Some(slot) = slot {
                        slot.retired = true;
                    }
                    signal(pid, Signal::SIGTERM);
                }
                None => {
                    self.slots.remove(&(Kind::Patroni, i));
                }
            }
            self.say(&format!("member {i} removed"));
        }
        self.record_pids();
    }

    fn wait_for_etcd(&mut self, stop: &AtomicBool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ports = self.file.etcd_client_ports();
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            self.reap();
            self.start_due();
            if ports
                .iter()
                .all(|port| api::etcd_healthy(&self.client, *port))
            {
                self.say("etcd healthy");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn environment(&self, home: &Path) -> Vec<(String, String)> {
        let runtime = &self.file.runtime;
        let mut env = vec![
            (
                "PATH".to_owned(),
                format!("{}:/usr/bin:/bin", runtime.join("pg/bin").display()),
            ),
            ("HOME".to_owned(), home.display().to_string()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("TZ".to_owned(), "UTC".to_owned()),
        ];
        if home
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pg"))
        {
            // The server modules need the bundled libpq, not the system's.
            env.push((
                "LD_LIBRARY_PATH".into(),
                runtime.join("pg/lib").display().to_string(),
            ));
            // Patroni's own passwords are in its configuration file, where a reload
            // picks up a rotated one (an environment variable would override the
            // file for good); etcd's and the application's come from here.
            for (name, key) in PASSWORD_ENV {
                let value = match key {
                    CredentialKey::App => Some(self.values.postgres.password.as_str()),
                    CredentialKey::EtcdPatroni => self.credentials.get(key),
                    _ => continue,
                };
                env.push((name.to_owned(), value.unwrap_or_default().to_owned()));
            }
            for (key, value) in [
                (APP_USERNAME_ENV, &self.values.postgres.username),
                (APP_DATABASE_ENV, &self.values.postgres.database),
            ] {
                env.push((key.to_owned(), value.clone()));
            }
            for (key, value) in etcd_env() {
                env.push((key.to_owned(), value.to_owned()));
            }
        }
        env
    }

    /// The watchdog: fences every member whose Patroni has not answered within the
    /// hang bound (or, before its first answer, within the start-up grace).
    fn fence_hung(&mut self) {
        let bound = Duration::from_secs(u64::from(
            self.values.patroni.timing.effective().hang_bound(),
        ));
        let answers = self.answers.lock().map(|a| a.clone()).unwrap_or_default();
        let hung: Vec<(usize, u32, Duration)> = self
            .slots
            .iter()
            // A held member is being stopped cleanly, and Patroni stops answering
            // before its PostgreSQL is down: no fence for it.
            .filter(|((kind, i), slot)| {
                *kind == Kind::Patroni && !slot.hung && !self.held.contains(i)
            })
            .filter_map(|((_, i), slot)| {
                let pid = slot.pid?;
                let answered = answers.get(i).copied().filter(|t| *t >= slot.started);
                let (since, limit) = answered.map_or((slot.started, STARTUP_GRACE), |t| (t, bound));
                (since.elapsed() > limit).then_some((*i, pid, since.elapsed()))
            })
            .collect();
        for (i, pid, silent) in hung {
            self.say(&format!(
                "Patroni {i} (pid {pid}) has not answered for {:.1} s: fencing it",
                silent.as_secs_f64()
            ));
            // SIGKILL ends a stopped process too; its PostgreSQL goes with it.
            signal(pid, Signal::SIGKILL);
            self.fence_member(i);
            if let Some(slot) = self.slots.get_mut(&(Kind::Patroni, i)) {
                slot.hung = true;
            }
        }
    }

    /// Re-reads the held members now and then: stops newly held ones cleanly (Patroni
    /// shuts its PostgreSQL down and hands over the lead), lets released ones start.
    fn follow_holds(&mut self) {
        if self.held_read.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.held_read = Instant::now();
        let held = self.cluster.load_held();
        if held == self.held {
            return;
        }
        for i in held.difference(&self.held) {
            if let Some(pid) = self.slots.get(&(Kind::Patroni, *i)).and_then(|s| s.pid) {
                signal(pid, Signal::SIGTERM);
            }
        }
        let released: Vec<usize> = self.held.difference(&held).copied().collect();
        for i in released {
            if let Some(slot) = self.slots.get_mut(&(Kind::Patroni, i)) {
                slot.failures = 0;
                slot.next_start = Instant::now();
            }
        }
        self.say(&format!("members held down: {held:?}"));
        self.held = held;
    }

    fn start_due(&mut self) {
        let now = Instant::now();
        let due: Vec<(Kind, usize)> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.pid.is_none() && !slot.retired && slot.next_start <= now)
            .map(|(key, _)| *key)
            .filter(|(kind, i)| !(*kind == Kind::Patroni && self.held.contains(i)))
            .collect();
        for (kind, i) in due {
            let (program, args, home, log) = match kind {
                Kind::Etcd => (
                    self.file.runtime.join("etcd/etcd"),
                    etcd_args(
                        &self.cluster.name,
                        &self.cluster.dir.display().to_string(),
                        i,
                        &self.file.ports,
                        &self.values,
                    ),
                    self.cluster.dir.join(etcd_short(i)),
                    self.cluster.log(&etcd_short(i)),
                ),
                Kind::Patroni => (
                    self.file.runtime.join("venv/bin/patroni"),
                    vec![
                        self.cluster
                            .member_home(i)
                            .join("patroni.yml")
                            .display()
                            .to_string(),
                    ],
                    self.cluster.member_home(i),
                    self.cluster.log(&member_short(i)),
                ),
            };
            let env = self.environment(&home);
            match spawn(&program, &args, &env, &log, &home, true) {
                Ok(pid) => {
                    self.say(&format!("started {kind:?} {i} as pid {pid}"));
                    if let Some(slot) = self.slots.get_mut(&(kind, i)) {
                        slot.pid = Some(pid);
                        slot.started = now;
                        slot.hung = false;
                    }
                }
                Err(error) => {
                    self.say(&format!("cannot start {kind:?} {i}: {error:#}"));
                    self.backoff(kind, i);
                }
            }
        }
        self.record_pids();
    }

    fn backoff(&mut self, kind: Kind, i: usize) {
        if let Some(slot) = self.slots.get_mut(&(kind, i)) {
            // A process that ran a minute is healthy again: start its count afresh.
            if slot.started.elapsed() > Duration::from_secs(60) {
                slot.failures = 0;
            }
            slot.failures += 1;
            let delay = Duration::from_millis(250 * 2u64.pow(slot.failures.min(6)))
                .min(Duration::from_secs(10));
            slot.pid = None;
            slot.next_start = Instant::now() + delay;
        }
    }

    /// Reaps every exited child: ours (etcd, Patroni) and orphaned PostgreSQL ones.
    fn reap(&mut self) {
        loop {
            let (pid, how) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, format!("exit status {code}")),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, format!("signal {signal}")),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let pid = pid.as_raw().unsigned_abs();
            let owner = self
                .slots
                .iter()
                .find(|(_, slot)| slot.pid == Some(pid))
                .map(|(key, _)| *key);
            let Some((kind, i)) = owner else { continue };
            self.say(&format!("{kind:?} {i} (pid {pid}) ended: {how}"));
            if kind == Kind::Patroni {
                self.fence_member(i);
            }
            if self.slots.get(&(kind, i)).is_some_and(|s| s.retired) {
                self.slots.remove(&(kind, i));
            } else {
                self.backoff(kind, i);
            }
            self.record_pids();
        }
    }

    /// Patroni of member `i` is gone: kill its PostgreSQL, then release its leader key.
    fn fence_member(&mut self, i: usize) {
        if let Some(postmaster) = fence(&self.cluster.postmaster_pid(i)) {
            self.say(&format!(
                "fenced member {i}: killed postmaster {postmaster} and its backends"
            ));
        }
        let etcd = self.file.etcd_client_ports();
        let member = member_name(&self.cluster.name, i);
        if api::release_leader(
            &self.client,
            &etcd,
            (
                ETCD_PATRONI_USER,
                self.credentials
                    .get(CredentialKey::EtcdPatroni)
                    .unwrap_or_default(),
            ),
            &leader_key(&self.cluster.name),
            &member,
        ) {
            self.say(&format!("released the leader key held by {member}"));
        }
    }

    fn record_pids(&mut self) {
        let pick = |kind: Kind, count: usize| -> Vec<Option<u32>> {
            (0..count)
                .map(|i| self.slots.get(&(kind, i)).and_then(|s| s.pid))
                .collect()
        };
        let pids = Pids {
            supervisor: std::process::id(),
            etcd: pick(Kind::Etcd, self.file.ports.etcd.len()),
            patroni: pick(Kind::Patroni, self.file.ports.members.len()),
        };
        // Atomically, and only on change: `down` and `status` read it at any moment.
        if let Ok(text) = serde_json::to_string(&pids)
            && text != self.recorded
            && write_atomic(&self.cluster.pids(), &text, 0o644).is_ok()
        {
            self.recorded = text;
        }
    }

    /// Stops Patroni first (it shuts PostgreSQL down cleanly), then etcd.
    fn shutdown(&mut self) {
        self.say("stopping");
        for kind in [Kind::Patroni, Kind::Etcd] {
            let pids: Vec<u32> = self
                .slots
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .filter_map(|(_, slot)| slot.pid)
                .collect();
            for pid in &pids {
                signal(*pid, Signal::SIGTERM);
            }
            let deadline =
                Instant::now() + Duration::from_secs(if kind == Kind::Patroni { 60 } else { 15 });
            while Instant::now() < deadline && pids.iter().any(|pid| alive(*pid)) {
                let _ = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG));
                std::thread::sleep(Duration::from_millis(50));
            }
            for pid in pids {
                signal(pid, Signal::SIGKILL);
            }
            if kind == Kind::Patroni {
                for i in 0..self.file.ports.members.len() {
                    let _ = fence(&self.cluster.postmaster_pid(i));
                }
            }
        }
        while waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG))
            .is_ok_and(|s| s != WaitStatus::StillAlive)
        {}
        for slot in self.slots.values_mut() {
            slot.pid = None;
        }
        let _ = std::fs::remove_file(self.cluster.pids());
        self.say("stopped");
    }
}
