//! `local install | up | down | status | dsn | logs | list`, and `status --local`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nix::sys::signal::Signal;
use postgres_ha_core::local::{Ports, Reach, dsn, member_index};
use postgres_ha_core::render::check_name;
use postgres_ha_core::values::Values;

use super::operate::print_status;
use crate::ExitStatus;
use crate::args::{LocalCommand, LocalDirs, StatusFormat};
use crate::input::{Privacy, read};
use crate::local::api;
use crate::local::process::{self, alive, fence, free_port, port_free, signal};
use crate::local::state::{Cluster, ClusterFile, check_runtime, runtime_dir, state_base};
use crate::local::supervisor;
use crate::report::{checked_values, write_stdout};
use crate::secrets::write_private;

const INSTALL_SCRIPT: &str = include_str!("../../../scripts/install-runtime.sh");
const REQUIREMENTS: &str = include_str!("../../../scripts/runtime-requirements.txt");
/// etcd members of a local cluster: three tolerate the loss of one.
const ETCD_MEMBERS: usize = 3;

pub(crate) fn run(command: LocalCommand) -> anyhow::Result<ExitStatus> {
    match command {
        LocalCommand::Install { dirs } => install(&dirs),
        LocalCommand::Up {
            name,
            values,
            timeout,
            dirs,
        } => up(&name, &values, timeout, &dirs),
        LocalCommand::Down { name, purge, dirs } => down(&name, purge, &dirs),
        LocalCommand::Status { name, output, dirs } => {
            let cluster = existing(&name, &dirs)?;
            let file = cluster.load()?;
            print_status(&cluster, &file, output)
        }
        LocalCommand::Dsn { name, dirs } => {
            let cluster = existing(&name, &dirs)?;
            let file = cluster.load()?;
            write_stdout(&format!(
                "{}\n",
                dsn(
                    &recorded_values(&cluster)?,
                    &file.ports,
                    Reach::Leader,
                    None
                )
            ))?;
            Ok(ExitStatus::Success)
        }
        LocalCommand::Logs { name, member, dirs } => logs(&name, member.as_deref(), &dirs),
        LocalCommand::Stop {
            name,
            members,
            dirs,
        } => hold(&name, &members, true, &dirs),
        LocalCommand::Start {
            name,
            members,
            dirs,
        } => hold(&name, &members, false, &dirs),
        LocalCommand::List { dirs } => list(&dirs),
        LocalCommand::Supervise { name, dirs } => {
            supervisor::run(&Cluster::new(&state_base(dirs.state_dir.as_deref()), &name))?;
            Ok(ExitStatus::Success)
        }
    }
}

fn install(dirs: &LocalDirs) -> anyhow::Result<ExitStatus> {
    let runtime = runtime_dir(dirs.runtime.as_deref());
    let work =
        std::env::temp_dir().join(format!("cpln-postgres-ha-install-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    std::fs::write(work.join("install-runtime.sh"), INSTALL_SCRIPT)?;
    std::fs::write(work.join("runtime-requirements.txt"), REQUIREMENTS)?;
    let status = Command::new("bash")
        .arg(work.join("install-runtime.sh"))
        .arg(&runtime)
        .status()
        .context("cannot run bash");
    let _ = std::fs::remove_dir_all(&work);
    anyhow::ensure!(
        status?.success(),
        "installing the runtime into {} failed",
        runtime.display()
    );
    writeln!(std::io::stderr(), "runtime ready in {}", runtime.display())?;
    Ok(ExitStatus::Success)
}

pub(super) fn recorded_values(cluster: &Cluster) -> anyhow::Result<Values> {
    postgres_ha_core::check(&std::fs::read(cluster.values())?)
        .values
        .context("the cluster's recorded values no longer validate")
}

/// Creates the state of a new cluster: ports, a copy of the values, generated secrets.
fn create(
    cluster: &Cluster,
    values_text: &[u8],
    values: &Values,
    runtime: &Path,
) -> anyhow::Result<ClusterFile> {
    let mut taken = Vec::new();
    let mut pair = || -> anyhow::Result<(u16, u16)> {
        let a = free_port(&taken)?;
        taken.push(a);
        let b = free_port(&taken)?;
        taken.push(b);
        Ok((a, b))
    };
    let ports = Ports {
        etcd: (0..ETCD_MEMBERS)
            .map(|_| pair())
            .collect::<anyhow::Result<_>>()?,
        members: (0..values.replicas)
            .map(|_| pair())
            .collect::<anyhow::Result<_>>()?,
    };
    let file = ClusterFile {
        name: cluster.name.clone(),
        ports,
        runtime: runtime.to_path_buf(),
    };
    std::fs::create_dir_all(&cluster.dir)
        .with_context(|| format!("cannot create {}", cluster.dir.display()))?;
    cluster.complete_credentials()?;
    write_private(
        &cluster.values(),
        &String::from_utf8_lossy(values_text),
        true,
    )?;
    // Written last: its presence marks a complete cluster directory.
    std::fs::write(cluster.file(), serde_json::to_string_pretty(&file)?)?;
    // The supervisor runs unprivileged too: it owns the directory and reads the rest.
    for path in [
        cluster.dir.clone(),
        cluster.credentials(),
        cluster.values(),
        cluster.file(),
    ] {
        process::hand_over(&path)?;
    }
    Ok(file)
}

/// Stops whatever a dead supervisor left running, by the PIDs it recorded.
fn clean_leftovers(cluster: &Cluster, file: &ClusterFile) {
    let pids = cluster.load_pids();
    for pid in pids.patroni.iter().chain(&pids.etcd).flatten() {
        // Only processes still working in the cluster: a recorded PID may have been
        // reused by anything since.
        if process::works_in(*pid, &cluster.dir) {
            signal(*pid, Signal::SIGKILL);
        }
    }
    // And whatever the kernel shows of the cluster without a supervisor over it.
    for process in process::cluster_processes(&cluster.dir) {
        if !process.supervisor {
            signal(process.pid, Signal::SIGKILL);
        }
    }
    for i in 0..file.ports.members.len() {
        let _ = fence(&cluster.postmaster_pid(i));
    }
}

/// Stops the supervisor (which stops Patroni, then etcd), then kills whatever of the
/// cluster the kernel still shows; fails if anything survives.
fn stop_everything(cluster: &Cluster, file: Option<&ClusterFile>) -> anyhow::Result<()> {
    if let Some(file) = file {
        stop_supervisor(cluster, file);
    }
    // A supervisor the state file did not name (damaged, missing or stale) gets the
    // same clean stop, found from the kernel.
    let supervisors = |processes: &[process::ClusterProcess]| -> Vec<u32> {
        processes
            .iter()
            .filter(|p| p.supervisor)
            .map(|p| p.pid)
            .collect()
    };
    let found = supervisors(&process::cluster_processes(&cluster.dir));
    for pid in &found {
        signal(*pid, Signal::SIGCONT);
        signal(*pid, Signal::SIGTERM);
    }
    let patience = Instant::now() + Duration::from_secs(90);
    while !found.is_empty()
        && Instant::now() < patience
        && !supervisors(&process::cluster_processes(&cluster.dir)).is_empty()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Whatever is left runs unsupervised: kill it all at once (backends with their
    // postmaster, so none is left to serve a write).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = process::cluster_processes(&cluster.dir);
        if left.is_empty() {
            return Ok(());
        }
        for process in &left {
            signal(process.pid, Signal::SIGKILL);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "processes of {} still run ({}); nothing was deleted",
                cluster.name,
                left.iter()
                    .map(|p| p.pid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop_supervisor(cluster: &Cluster, file: &ClusterFile) {
    let pid = cluster.load_pids().supervisor;
    if pid != 0 && process::works_in(pid, &cluster.dir) {
        // A frozen supervisor cannot act on SIGTERM until it is continued.
        if process::is_stopped(pid) {
            signal(pid, Signal::SIGCONT);
        }
        signal(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(90);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        signal(pid, Signal::SIGKILL);
    }
    clean_leftovers(cluster, file);
    let _ = std::fs::remove_file(cluster.pids());
}

/// Whether the cluster's supervisor runs: as recorded, or as the kernel shows it
/// (the record may be damaged or missing).
pub(super) fn supervisor_running(cluster: &Cluster) -> bool {
    let pid = cluster.load_pids().supervisor;
    (pid != 0 && process::works_in(pid, &cluster.dir))
        || process::cluster_processes(&cluster.dir)
            .iter()
            .any(|p| p.supervisor)
}

fn up(
    name: &str,
    values_path: &Path,
    timeout: u64,
    dirs: &LocalDirs,
) -> anyhow::Result<ExitStatus> {
    check_name("cluster", name, postgres_ha_core::render::MAX_RELEASE_NAME)?;
    let bytes = read(values_path, Privacy::Any)?;
    let Some(values) = checked_values(values_path, &bytes, false)? else {
        return Ok(ExitStatus::Failure);
    };
    let runtime = runtime_dir(dirs.runtime.as_deref());
    check_runtime(&runtime)?;
    let base = state_base(dirs.state_dir.as_deref());
    let cluster = Cluster::new(&base, name);
    process::check_reachable(&runtime.join("venv/bin"))?;
    if base.exists() {
        process::check_reachable(&base)?;
    }
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    // One `up`, `down` or `stop`/`start` of a cluster at a time.
    let _turn = cluster.lock()?;
    let (file, created) = if cluster.dir.exists() {
        let file = cluster.load()?;
        // A cluster from an older version gets the passwords it lacks now (the
        // supervisor turns etcd authentication on when it starts).
        cluster.complete_credentials()?;
        // `up` means every member up: release any that `local stop` holds down.
        if !cluster.load_held().is_empty() {
            cluster.save_held(&std::collections::BTreeSet::new())?;
        }
        if supervisor_running(&cluster) {
            writeln!(std::io::stderr(), "{name} is already running")?;
            print_status(&cluster, &file, StatusFormat::Table)?;
            return Ok(ExitStatus::Success);
        }
        if std::fs::read(cluster.values()).ok().as_deref() != Some(&bytes[..]) {
            writeln!(
                std::io::stderr(),
                "note: {name} keeps the values it was created with; `local down {name} --purge` to recreate it"
            )?;
        }
        clean_leftovers(&cluster, &file);
        let busy: Vec<String> = file
            .ports
            .etcd
            .iter()
            .chain(&file.ports.members)
            .flat_map(|(a, b)| [*a, *b])
            .filter(|port| !port_free(*port))
            .map(|port| port.to_string())
            .collect();
        anyhow::ensure!(
            busy.is_empty(),
            "cannot restart {name}: port {} on 127.0.0.1 is in use by another program; stop it, \
             or `local down {name} --purge` and `local up` again to get new ports",
            busy.join(", ")
        );
        (file, false)
    } else {
        std::fs::create_dir_all(&base)
            .with_context(|| format!("cannot create {}", base.display()))?;
        (create(&cluster, &bytes, &values, &runtime)?, true)
    };
    start_and_wait(
        &cluster,
        &file,
        &Start {
            base: &base,
            runtime: &runtime,
            created,
            timeout,
        },
    )
}

/// How `up` starts the supervisor and waits.
struct Start<'a> {
    base: &'a Path,
    runtime: &'a Path,
    created: bool,
    timeout: u64,
}

fn start_and_wait(
    cluster: &Cluster,
    file: &ClusterFile,
    start: &Start<'_>,
) -> anyhow::Result<ExitStatus> {
    let Start {
        base,
        runtime,
        created,
        timeout,
    } = *start;
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cluster.log("supervisor"))?;
    process::hand_over(&cluster.log("supervisor"))?;
    let exe_path = std::env::current_exe().context("cannot find this program")?;
    let mut command = Command::new(&exe_path);
    command
        .args(["local", "supervise", &cluster.name, "--state-dir"])
        .arg(base)
        .arg("--runtime")
        .arg(runtime)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: Ctrl-C in this terminal must not reach the supervisor
    // once `up` has returned. It works in the cluster's directory, where `down` finds
    // every process of the cluster.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.current_dir(&cluster.dir);
    // Unprivileged too when `nobody` can reach this binary (not so under root's home,
    // where the supervisor stays root; the database processes never do).
    if process::check_reachable(&exe_path).is_ok() {
        process::run_unprivileged(&mut command);
    }
    let supervisor = command.spawn().context("cannot start the supervisor")?.id();
    let pids = crate::local::state::Pids {
        supervisor,
        ..Default::default()
    };
    crate::secrets::write_atomic(&cluster.pids(), &serde_json::to_string(&pids)?, 0o644)?;
    process::hand_over(&cluster.pids())?;

    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(100));
    let members = file.ports.members.len();
    let api_ports = file.api_ports();
    let client = api::client();
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let failure = loop {
        if interrupted.load(Ordering::Relaxed) {
            break "interrupted";
        }
        if !alive(supervisor) {
            break "the supervisor stopped";
        }
        if Instant::now() > deadline {
            break "timed out";
        }
        let view = api::view(&client, &api_ports);
        let leader = view.as_ref().is_some_and(|v| v.healthy_leader().is_some());
        let streaming = view.as_ref().map_or(0, |v| v.streaming().count());
        if leader && streaming + 1 == members {
            progress.finish_and_clear();
            writeln!(
                std::io::stderr(),
                "{} is up: {members} PostgreSQL 17 members, {ETCD_MEMBERS} etcd members",
                cluster.name
            )?;
            print_status(cluster, file, StatusFormat::Table)?;
            write_stdout(&format!(
                "\nconnect: {}\n(password: postgres.password of the values)\n",
                dsn(&recorded_values(cluster)?, &file.ports, Reach::Leader, None)
            ))?;
            return Ok(ExitStatus::Success);
        }
        progress.set_message(match (view.is_none(), leader) {
            (true, _) => "starting etcd and Patroni".to_owned(),
            (false, false) => "electing a leader".to_owned(),
            (false, true) => format!("replicas streaming: {streaming} of {}", members - 1),
        });
        std::thread::sleep(Duration::from_millis(200));
    };
    progress.finish_and_clear();
    let tail = tail_logs(cluster, 15);
    stop_supervisor(cluster, file);
    if created {
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
    let outcome = if created {
        "stopped and removed"
    } else {
        "stopped"
    };
    if failure == "interrupted" {
        writeln!(
            std::io::stderr(),
            "interrupted: {} was {outcome}",
            cluster.name
        )?;
        return Ok(ExitStatus::Error);
    }
    anyhow::bail!(
        "{} did not come up ({failure}); it was {outcome}. Last log lines:\n{tail}",
        cluster.name
    )
}

fn tail_logs(cluster: &Cluster, lines: usize) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(&cluster.dir) else {
        return out;
    };
    let mut logs: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let _ = writeln!(
            out,
            "==> {} <==",
            log.file_name().unwrap_or_default().to_string_lossy()
        );
        for line in &all[all.len().saturating_sub(lines)..] {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// Holds members down (`stop`) or releases them (`start`), then waits until the
/// supervisor has done it.
fn hold(
    name: &str,
    members: &[String],
    down: bool,
    dirs: &LocalDirs,
) -> anyhow::Result<ExitStatus> {
    let cluster = existing(name, dirs)?;
    let _turn = cluster.lock()?;
    let file = cluster.load()?;
    anyhow::ensure!(
        supervisor_running(&cluster),
        "{name} is not running; `local up {name} -f VALUES` starts it"
    );
    let count = file.ports.members.len();
    let mut indexes = Vec::new();
    for member in members {
        let index = member_index(name, member).filter(|i| *i < count);
        indexes.push(index.with_context(|| {
            format!(
                "{name} has no member `{member}`; its members are pg0 … pg{}",
                count - 1
            )
        })?);
    }
    let mut held = cluster.load_held();
    for i in &indexes {
        if down {
            held.insert(*i);
        } else {
            held.remove(i);
        }
    }
    cluster.save_held(&held)?;
    let deadline = Instant::now() + Duration::from_secs(if down { 90 } else { 30 });
    loop {
        let pids = cluster.load_pids();
        let done = indexes.iter().all(|i| {
            let running = pids.patroni.get(*i).copied().flatten().is_some_and(alive);
            running != down
        });
        if done {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the supervisor did not {} {} in time; see `local logs {name} supervisor`",
            if down { "stop" } else { "start" },
            members.join(", ")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    writeln!(
        std::io::stderr(),
        "{} {}",
        members.join(", "),
        if down {
            "stopped (held down until `local start`)"
        } else {
            "started"
        }
    )?;
    Ok(ExitStatus::Success)
}

/// The local cluster `name`, which must exist: every command that reads one says so
/// in the same words.
pub(super) fn existing(name: &str, dirs: &LocalDirs) -> anyhow::Result<Cluster> {
    let cluster = Cluster::new(&state_base(dirs.state_dir.as_deref()), name);
    anyhow::ensure!(
        cluster.dir.exists(),
        "there is no local cluster named {name} (`local list` shows the clusters)"
    );
    Ok(cluster)
}

/// Stops every process of the cluster — found from the kernel, not only from the
/// state file, which may be damaged or missing — and with `--purge` deletes its data,
/// never while any of its processes lives. Two `down`s at once take turns.
fn down(name: &str, purge: bool, dirs: &LocalDirs) -> anyhow::Result<ExitStatus> {
    let cluster = existing(name, dirs)?;
    let _turn = cluster.lock()?;
    if !cluster.dir.exists() {
        writeln!(std::io::stderr(), "{name} was already stopped and deleted")?;
        return Ok(ExitStatus::Success);
    }
    let loaded = cluster.load();
    if let (Err(error), false) = (&loaded, purge) {
        // Without cluster state nothing can be restarted; say how to remove it, but
        // stop whatever still runs first.
        stop_everything(&cluster, None)?;
        return Err(anyhow::anyhow!("{error:#}"));
    }
    stop_everything(&cluster, loaded.as_ref().ok())?;
    if purge {
        std::fs::remove_dir_all(&cluster.dir)
            .with_context(|| format!("cannot remove {}", cluster.dir.display()))?;
        writeln!(std::io::stderr(), "{name} stopped and its data deleted")?;
    } else {
        writeln!(
            std::io::stderr(),
            "{name} stopped; its data is kept (`local up` restarts it)"
        )?;
    }
    Ok(ExitStatus::Success)
}

fn logs(name: &str, member: Option<&str>, dirs: &LocalDirs) -> anyhow::Result<ExitStatus> {
    let cluster = existing(name, dirs)?;
    match member {
        Some(process) => {
            let path = cluster.log(process);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("no log for `{process}` (try pg0, etcd0 or supervisor)")
            })?;
            write_stdout(&text)?;
        }
        None => write_stdout(&tail_logs(&cluster, 50))?,
    }
    Ok(ExitStatus::Success)
}

fn list(dirs: &LocalDirs) -> anyhow::Result<ExitStatus> {
    let base = state_base(dirs.state_dir.as_deref());
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("cluster.json").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut text = String::new();
    for name in names {
        let cluster = Cluster::new(&base, &name);
        let members = cluster.load().map_or(0, |f| f.ports.members.len());
        let state = if supervisor_running(&cluster) {
            "running"
        } else {
            "stopped"
        };
        let _ = writeln!(
            text,
            "{name}\t{state}\t{members} members\t{}",
            cluster.dir.display()
        );
    }
    write_stdout(&text)?;
    Ok(ExitStatus::Success)
}
