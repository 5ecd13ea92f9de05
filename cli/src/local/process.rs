//! Starting and stopping the cluster's processes, all by PID.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The unprivileged account processes run as when we are root: PostgreSQL refuses to
/// run as root, and nothing else needs it.
const SERVICE_UID: u32 = 65534;
const SERVICE_GID: u32 = 65534;

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Gives a path to the service account when we are root.
pub(crate) fn hand_over(path: &Path) -> anyhow::Result<()> {
    if is_root() {
        std::os::unix::fs::chown(path, Some(SERVICE_UID), Some(SERVICE_GID))
            .with_context(|| format!("cannot hand {} to the service user", path.display()))?;
    }
    Ok(())
}

/// Checks the service account can reach `path` (every directory on the way must be
/// searchable by others, unless the account owns it), so a private parent such as
/// root's home is reported before anything starts instead of as a start-up timeout.
pub(crate) fn check_reachable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !is_root() {
        return Ok(());
    }
    for dir in path.ancestors().collect::<Vec<_>>().into_iter().rev() {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        if meta.is_dir() && meta.mode() & 0o001 == 0 && meta.uid() != SERVICE_UID {
            anyhow::bail!(
                "the cluster runs as the unprivileged user `nobody`, which cannot enter {} (mode {:o}); \
                 choose another --state-dir/--runtime, or allow it with `chmod o+x {}`",
                dir.display(),
                meta.mode() & 0o777,
                dir.display()
            );
        }
    }
    Ok(())
}

/// Drops to the service account when we are root (std also drops supplementary groups).
pub(crate) fn run_unprivileged(command: &mut Command) {
    if is_root() {
        command.uid(SERVICE_UID).gid(SERVICE_GID);
    }
}

/// Starts `program` detached from the terminal (its own process group, so Ctrl-C on
/// the terminal does not reach it), with only `env`, logging to `log`, in `home` (a
/// directory of the cluster: `down` finds the cluster's processes by it).
pub(crate) fn spawn(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    log: &Path,
    home: &Path,
    drop_privileges: bool,
) -> anyhow::Result<u32> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .current_dir(home)
        .process_group(0);
    if drop_privileges {
        run_unprivileged(&mut command);
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    // The supervisor reaps every child with waitpid(-1); the handle is not needed.
    Ok(child.id())
}

pub(crate) fn alive(pid: u32) -> bool {
    pid_of(pid).is_some_and(|pid| kill(pid, None).is_ok())
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| stat_state(&s) == Some('Z'))
}

fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .map(Pid::from_raw)
}

pub(crate) fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = pid_of(pid) {
        let _ = kill(pid, signal);
    }
}

/// The state letter and parent PID from `/proc/PID/stat` (the command may hold spaces
/// and parentheses, so parse from the last `)`).
fn stat_fields(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

fn stat_state(stat: &str) -> Option<char> {
    stat_fields(stat).map(|(state, _)| state)
}

/// Direct children of `parent`, from `/proc`.
pub(crate) fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| stat_fields(&s))
                .is_some_and(|(_, ppid)| ppid == parent)
        })
        .collect()
}

/// Every live process of the cluster in `dir`, found from the kernel rather than from
/// a state file: processes whose working directory is inside `dir` and that are ours
/// — their command line names a path inside `dir` (Patroni, etcd, the postmaster),
/// they are PostgreSQL backends (`postgres: …`), or the cluster's supervisor. A shell
/// that merely sits in the directory is not touched.
pub(crate) fn cluster_processes(dir: &Path) -> Vec<ClusterProcess> {
    // Command lines hold the path as it was given, working directories the resolved
    // one: under a symbolic link the two differ, so match either.
    let given = dir.display().to_string();
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let dir_text = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
            if !cwd.starts_with(&dir) {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let supervisor = cwd == dir && cmdline.contains(" local supervise ");
            let ours = supervisor
                || cmdline.contains(&dir_text)
                || cmdline.contains(&given)
                || cmdline.starts_with("postgres:");
            (ours && alive(pid)).then_some(ClusterProcess { pid, supervisor })
        })
        .collect()
}

/// A process of a local cluster, as the kernel shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClusterProcess {
    pub(crate) pid: u32,
    /// The cluster's supervisor (it stops the rest cleanly when asked).
    pub(crate) supervisor: bool,
}

/// Whether a process is stopped (SIGSTOP): it cannot act on SIGTERM until continued.
pub(crate) fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| matches!(stat_state(&s), Some('T' | 't')))
}

/// Whether live process `pid` works inside `dir` — the test that a recorded PID is
/// still ours and not a process that reused the number (after a reboot, say).
pub(crate) fn works_in(pid: u32, dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    alive(pid)
        && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
}

/// The postmaster PID recorded in a data directory, if that process is running and is
/// that data directory's postmaster (it works in it).
pub(crate) fn postmaster(pid_file: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    works_in(pid, pid_file.parent()?).then_some(pid)
}

/// Kills a member's PostgreSQL at once: the postmaster and every backend. Used when
/// its Patroni is gone, so no primary keeps running unsupervised (split brain).
pub(crate) fn fence(pid_file: &Path) -> Option<u32> {
    let pid = postmaster(pid_file)?;
    // Stop the postmaster first so it cannot fork more backends, then its children.
    signal(pid, Signal::SIGSTOP);
    for child in children(pid) {
        signal(child, Signal::SIGKILL);
    }
    signal(pid, Signal::SIGKILL);
    Some(pid)
}

/// Whether a loopback port is free to listen on.
pub(crate) fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A free loopback port, distinct from `taken`.
pub(crate) fn free_port(taken: &[u16]) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        assert_eq!(
            stat_fields("42 (postgres: a) b) S 7 42 42 0"),
            Some(('S', 7))
        );
        assert_eq!(stat_fields("garbage"), None);
    }
}
