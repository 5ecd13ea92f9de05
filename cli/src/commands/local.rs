//! `local install | up | down | status | dsn | logs | list`, and `status --local`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use postgres_ha_core::local::{Reach, dsn, member_index};
use postgres_ha_core::render::check_name;

use super::operate::print_status;
use crate::ExitStatus;
use crate::args::{LocalCommand, LocalDirs, StatusFormat};
use crate::input::{Privacy, read};
use crate::local::api;
use crate::local::lifecycle::{
    ETCD_MEMBERS, clean_leftovers, create, hold_members, recorded_values, spawn_supervisor,
    stop_everything, stop_supervisor, supervisor_running, tail_logs,
};
use crate::local::process::{self, alive, port_free};
use crate::local::state::{Cluster, ClusterFile, check_runtime, runtime_dir, state_base};
use crate::local::supervisor;
use crate::report::{checked_values, write_stdout};

const INSTALL_SCRIPT: &str = include_str!("../../../scripts/install-runtime.sh");
const REQUIREMENTS: &str = include_str!("../../../scripts/runtime-requirements.txt");

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
    let supervisor = spawn_supervisor(cluster, base, runtime)?;

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
    hold_members(&cluster, &indexes, down)?;
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
