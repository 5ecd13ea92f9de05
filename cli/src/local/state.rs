//! Where a local cluster keeps its state, and what it records.

use std::path::{Path, PathBuf};

use anyhow::Context;
use postgres_ha_core::local::Ports;
use postgres_ha_core::render::CredentialKey;
use postgres_ha_core::render::Credentials;
use postgres_ha_core::{CredentialsFile, check_credentials};
use serde::{Deserialize, Serialize};

use super::process::is_root;

/// Root's home is private (mode 700) and the cluster runs unprivileged, so root's
/// defaults live under /var/lib unless XDG directories are set.
const ROOT_BASE: &str = "/var/lib/cpln-postgres-ha";

/// Directory holding one directory per local cluster (absolute: every process the
/// cluster runs changes directory, so relative paths would break).
pub(crate) fn state_base(explicit: Option<&Path>) -> PathBuf {
    absolute(state_base_as_given(explicit))
}

/// Directory of the installed runtime (PostgreSQL, Patroni, etcd), absolute.
pub(crate) fn runtime_dir(explicit: Option<&Path>) -> PathBuf {
    absolute(runtime_dir_as_given(explicit))
}

fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

fn state_base_as_given(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => PathBuf::from(xdg).join("cpln-postgres-ha"),
        None if is_root() => PathBuf::from(ROOT_BASE).join("state"),
        None => home().join(".local/state/cpln-postgres-ha"),
    }
}

fn runtime_dir_as_given(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("CPLN_POSTGRES_HA_RUNTIME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => PathBuf::from(xdg).join("cpln-postgres-ha/runtime"),
        None if is_root() => PathBuf::from(ROOT_BASE).join("runtime"),
        None => home().join(".local/share/cpln-postgres-ha/runtime"),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Checks the runtime is complete, saying exactly what to run when it is not.
pub(crate) fn check_runtime(runtime: &Path) -> anyhow::Result<()> {
    let missing: Vec<&str> = [
        "pg/bin/postgres",
        "pg/bin/initdb",
        "pg/bin/pg_rewind",
        "venv/bin/patroni",
        "etcd/etcd",
    ]
    .into_iter()
    .filter(|tool| !runtime.join(tool).exists())
    .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the local runtime is not installed in {} (missing {}); run `cpln-postgres-ha local install{}`",
        runtime.display(),
        missing.join(", "),
        if runtime == runtime_dir(None) {
            String::new()
        } else {
            format!(" --runtime {}", runtime.display())
        }
    );
    Ok(())
}

/// What `up` records when it creates a cluster; later runs reuse it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ClusterFile {
    pub(crate) name: String,
    pub(crate) ports: Ports,
    pub(crate) runtime: PathBuf,
}

impl ClusterFile {
    pub(crate) fn etcd_client_ports(&self) -> Vec<u16> {
        self.ports.etcd.iter().map(|(client, _)| *client).collect()
    }

    pub(crate) fn api_ports(&self) -> Vec<u16> {
        self.ports.members.iter().map(|(_, api)| *api).collect()
    }
}

/// Process IDs the supervisor last started, for `status` and for cleaning up after
/// a supervisor that died.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Pids {
    pub(crate) supervisor: u32,
    pub(crate) etcd: Vec<Option<u32>>,
    pub(crate) patroni: Vec<Option<u32>>,
}

/// The files of one cluster.
#[derive(Clone, Debug)]
pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
}

impl Cluster {
    pub(crate) fn new(base: &Path, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            dir: base.join(name),
        }
    }

    pub(crate) fn file(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }
    pub(crate) fn values(&self) -> PathBuf {
        self.dir.join("values.yaml")
    }
    /// The generated passwords, in the same format as `render`'s credentials file.
    pub(crate) fn credentials(&self) -> PathBuf {
        self.dir.join("credentials.yaml")
    }
    /// Where clusters created before the credentials file kept their passwords.
    fn legacy_secrets(&self) -> PathBuf {
        self.dir.join("secrets.json")
    }
    pub(crate) fn pids(&self) -> PathBuf {
        self.dir.join("pids.json")
    }
    /// Members `local stop --member` holds down; the supervisor neither starts nor
    /// restarts them until `local start` releases them.
    pub(crate) fn held(&self) -> PathBuf {
        self.dir.join("held.json")
    }
    pub(crate) fn log(&self, process: &str) -> PathBuf {
        self.dir.join(format!("{process}.log"))
    }
    /// Member `index`'s directory: its configuration, data and socket.
    pub(crate) fn member_home(&self, index: usize) -> PathBuf {
        self.dir.join(postgres_ha_core::local::member_short(index))
    }
    pub(crate) fn postmaster_pid(&self, member: usize) -> PathBuf {
        self.member_home(member).join("data/postmaster.pid")
    }

    /// An exclusive lock beside the cluster's directory (not inside it: `--purge`
    /// deletes that), held until dropped: one `up`, `down`, `stop`/`start` or `scale`
    /// of a cluster at a time.
    pub(crate) fn lock(&self) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
        let base = self.dir.parent().unwrap_or(Path::new("."));
        let path = base.join(format!(".{}.lock", self.name));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| anyhow::anyhow!("cannot lock {}: {errno}", path.display()))
    }

    /// Records the cluster's state atomically (the supervisor re-reads it to follow
    /// a scale).
    pub(crate) fn save(&self, file: &ClusterFile) -> anyhow::Result<()> {
        crate::secrets::write_atomic(&self.file(), &serde_json::to_string_pretty(file)?, 0o644)?;
        super::process::hand_over(&self.file())
    }

    /// Writes member `index`'s Patroni configuration: the shared generator's, with
    /// the passwords added (the local cluster rotates them by rewriting this file and
    /// reloading, so Patroni must not take them from its environment). Atomically
    /// and mode 600: Patroni may re-read it at any moment.
    pub(crate) fn write_member_config(
        &self,
        file: &ClusterFile,
        values: &postgres_ha_core::Values,
        credentials: &Credentials,
        index: usize,
    ) -> anyhow::Result<()> {
        let home = self.member_home(index);
        std::fs::create_dir_all(&home)?;
        super::process::hand_over(&home)?;
        let topology = postgres_ha_core::local::member_topology(
            &self.name,
            &self.dir.display().to_string(),
            &file.runtime.join("pg/bin").display().to_string(),
            index,
            &file.ports,
        );
        let mut config = postgres_ha_core::render::patroni_config(values, &topology);
        postgres_ha_core::render::insert_passwords(&mut config, credentials);
        let path = home.join("patroni.yml");
        // JSON is YAML to Patroni and keeps `on`/`off` strings.
        crate::secrets::write_atomic(&path, &serde_json::to_string_pretty(&config)?, 0o600)?;
        super::process::hand_over(&path)
    }

    pub(crate) fn load(&self) -> anyhow::Result<ClusterFile> {
        let text = std::fs::read_to_string(self.file()).with_context(|| {
            format!(
                "{} holds no usable cluster state; remove it with `cpln-postgres-ha local down {} --purge`",
                self.dir.display(),
                self.name
            )
        })?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; remove the cluster with `cpln-postgres-ha local down {} --purge`",
                self.file().display(),
                self.name
            )
        })
    }

    /// The cluster's internal passwords (the application's comes from its values).
    pub(crate) fn load_credentials(&self) -> anyhow::Result<Credentials> {
        let path = self.credentials();
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let (checked, file) = check_credentials(&bytes);
        match file {
            Some(file) if file.credentials.missing().is_empty() => Ok(file.credentials),
            _ => anyhow::bail!(
                "{} is damaged ({} problem{}; `validate {}` shows them)",
                path.display(),
                checked.diagnostics.len(),
                if checked.diagnostics.len() == 1 {
                    ""
                } else {
                    "s"
                },
                path.display()
            ),
        }
    }

    /// Records the passwords (mode 600, atomically: a torn file would lock the
    /// cluster out).
    pub(crate) fn save_credentials(&self, credentials: &Credentials) -> anyhow::Result<()> {
        let file = CredentialsFile {
            credentials: credentials.clone(),
            org: None,
            gvc: None,
        };
        crate::secrets::write_atomic(&self.credentials(), &file.to_text(), 0o600)?;
        super::process::hand_over(&self.credentials())
    }

    /// Makes sure the cluster has every internal password: moves a cluster from the
    /// older `secrets.json` to the credentials file and generates passwords it lacks
    /// (etcd's, for clusters from before etcd had authentication).
    pub(crate) fn complete_credentials(&self) -> anyhow::Result<Credentials> {
        let mut credentials = if self.credentials().exists() {
            let bytes = std::fs::read(self.credentials())?;
            check_credentials(&bytes)
                .1
                .map(|f| f.credentials)
                .with_context(|| format!("{} is damaged", self.credentials().display()))?
        } else if self.legacy_secrets().exists() {
            let text = std::fs::read_to_string(self.legacy_secrets())
                .with_context(|| format!("cannot read {}", self.legacy_secrets().display()))?;
            let old: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged", self.legacy_secrets().display()))?;
            let mut credentials = Credentials::default();
            for key in CredentialKey::INTERNAL {
                let legacy = match key {
                    CredentialKey::EtcdRoot => Some("etcd_root"),
                    CredentialKey::EtcdPatroni => Some("etcd_patroni"),
                    other => other.legacy_file_key(),
                };
                if let Some(password) = legacy.and_then(|k| old.get(k)).filter(|p| !p.is_empty()) {
                    credentials.set(key, password.clone());
                }
            }
            credentials
        } else {
            Credentials::default()
        };
        let missing = credentials.missing();
        for key in &missing {
            credentials.set(*key, crate::secrets::random_password()?);
        }
        if !missing.is_empty() || !self.credentials().exists() {
            self.save_credentials(&credentials)?;
        }
        let _ = std::fs::remove_file(self.legacy_secrets());
        Ok(credentials)
    }

    /// The held members (none when the file is missing or unreadable).
    pub(crate) fn load_held(&self) -> std::collections::BTreeSet<usize> {
        std::fs::read_to_string(self.held())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Records the held members for the supervisor (readable by it when it runs as
    /// the service user).
    pub(crate) fn save_held(&self, held: &std::collections::BTreeSet<usize>) -> anyhow::Result<()> {
        crate::secrets::write_atomic(&self.held(), &serde_json::to_string(held)?, 0o644)?;
        super::process::hand_over(&self.held())
    }

    pub(crate) fn load_pids(&self) -> Pids {
        std::fs::read_to_string(self.pids())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}
