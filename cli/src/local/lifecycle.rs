//! A local cluster's life: creating its state, starting its supervisor, holding
//! members down, stopping everything it runs (found from the kernel, not only from
//! the state file), and reading what it records. The `local` and day-2 commands are
//! glue over these.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::Signal;
use postgres_ha_core::local::Ports;
use postgres_ha_core::values::Values;

use super::process::{self, alive, fence, free_port, signal};
use super::state::{Cluster, ClusterFile, Pids};
use crate::secrets::write_private;

/// etcd members of a local cluster: three tolerate the loss of one.
pub(crate) const ETCD_MEMBERS: usize = 3;

/// The values the cluster runs with.
pub(crate) fn recorded_values(cluster: &Cluster) -> anyhow::Result<Values> {
    postgres_ha_core::check(&std::fs::read(cluster.values())?)
        .values
        .context("the cluster's recorded values no longer validate")
}

/// Creates the state of a new cluster: ports, a copy of the values, generated secrets.
pub(crate) fn create(
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
pub(crate) fn clean_leftovers(cluster: &Cluster, file: &ClusterFile) {
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
pub(crate) fn stop_everything(cluster: &Cluster, file: Option<&ClusterFile>) -> anyhow::Result<()> {
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

pub(crate) fn stop_supervisor(cluster: &Cluster, file: &ClusterFile) {
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
pub(crate) fn supervisor_running(cluster: &Cluster) -> bool {
    let pid = cluster.load_pids().supervisor;
    (pid != 0 && process::works_in(pid, &cluster.dir))
        || process::cluster_processes(&cluster.dir)
            .iter()
            .any(|p| p.supervisor)
}

/// Starts the cluster's supervisor in the background (its own process group, in the
/// cluster's directory, unprivileged when it can be) and records its PID.
pub(crate) fn spawn_supervisor(
    cluster: &Cluster,
    base: &Path,
    runtime: &Path,
) -> anyhow::Result<u32> {
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
    let pids = Pids {
        supervisor,
        ..Default::default()
    };
    crate::secrets::write_atomic(&cluster.pids(), &serde_json::to_string(&pids)?, 0o644)?;
    process::hand_over(&cluster.pids())?;
    Ok(supervisor)
}

/// Holds members down (a clean Patroni stop; the supervisor neither restarts nor
/// fences them) or releases them, and waits until the supervisor has done it.
pub(crate) fn hold_members(cluster: &Cluster, indexes: &[usize], down: bool) -> anyhow::Result<()> {
    let mut held = cluster.load_held();
    for i in indexes {
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
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the supervisor did not {} the members in time; see `local logs {} supervisor`",
            if down { "stop" } else { "start" },
            cluster.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `lines` lines of every log of the cluster.
pub(crate) fn tail_logs(cluster: &Cluster, lines: usize) -> String {
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
