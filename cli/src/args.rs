//! Command-line arguments (clap derive). `///` comments are the user's help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Deploy and operate highly available PostgreSQL 17 (Patroni + etcd) from one values
/// file, on Control Plane or as a local cluster.
#[derive(Debug, Parser)]
#[command(name = "cpln-postgres-ha", version, propagate_version = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check values files: YAML, schema and HA rules.
    ///
    /// Exit status: 0 when no file has errors, 1 when one has (or has warnings with
    /// --strict), 2 on bad usage or an unreadable file.
    Validate(ValidateArgs),
    /// Convert a values file of the postgres-highly-available Helm template (1.x–2.7).
    ///
    /// Writes postgres-ha values with an `# import:` comment on every key: mapped,
    /// changed, or without an equivalent. The output validates without errors. A
    /// default or weak password is left out (deploy generates a strong one); a kept
    /// one is never shown on a terminal.
    ///
    /// Exit status: 0 when written, 2 on an unreadable or invalid file, or when OUT
    /// exists and --force is not given.
    ImportValues(ImportValuesArgs),
    /// Print the Control Plane resources of a release as YAML for `cpln apply -f -`.
    ///
    /// Refuses to render when the values have errors. Resources come in apply order
    /// (secret, identity, volumeset, policy, workload) and are identical for the same
    /// values and credentials file.
    Render(RenderArgs),
    /// Deploy a release to Control Plane, or update it: validate, render, compare with
    /// what exists, show the plan, apply it, wait until it is ready.
    ///
    /// Credentials as the cpln CLI finds them: --token / `CPLN_TOKEN`, else the cpln
    /// profile (--profile, `CPLN_PROFILE`, the default one). A second deploy of the same
    /// values changes nothing.
    Deploy(DeployArgs),
    /// Show what `deploy` would change (exit status 0: nothing, 1: changes).
    Diff(DiffArgs),
    /// Delete a release from Control Plane, workloads first; volume sets (the data)
    /// are kept unless --delete-volumes.
    Destroy(DestroyArgs),
    /// Run the values as a local cluster: etcd, Patroni and PostgreSQL 17 on 127.0.0.1.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Show the members of a cluster: role, state, lag, timeline, pending restart,
    /// the leader, etcd's health and whether failover is paused.
    Status(StatusArgs),
    /// Hand the lead to a healthy replica with the shortest write gap: checks the
    /// candidate, checkpoints, switches over, waits until it accepts writes.
    Switchover(SwitchoverArgs),
    /// Promote a member of a cluster that has no healthy leader.
    Failover(FailoverArgs),
    /// Restart PostgreSQL: replicas first, then one switchover, then the old leader.
    Restart(RestartArgs),
    /// Change the number of PostgreSQL members: the HA rules first; a scale-down
    /// never removes the leader and drops the removed members' slots; a scale-up
    /// waits until the new members stream.
    Scale(ScaleArgs),
    /// Change a password with no failed client transaction: the values' user, or
    /// `superuser`, `replication`, `rewind`, `restapi`. Journaled: an interrupted
    /// run leaves the old or the new password working, and a rerun finishes it.
    RotatePassword(RotateArgs),
    /// Carry a changed values file out on a running cluster: Patroni and PostgreSQL
    /// settings (a rolling restart for those read only at start), the password, the
    /// member count. `--dry-run` shows the difference and the plan.
    Apply(ApplyArgs),
    /// Make every member re-read its configuration.
    Reload(OperateArgs),
    /// Turn automatic failover off (maintenance): a failed leader is not replaced.
    Pause(OperateArgs),
    /// Turn automatic failover back on.
    Resume(OperateArgs),
    /// Rebuild a replica from the leader (its data directory is replaced).
    Reinit(ReinitArgs),
    /// Print a libpq connection string for the leader, a replica or any member.
    Dsn(DsnArgs),
    /// Print the JSON Schema of the values file (draft 2020-12).
    Schema,
    /// Explain a diagnostic code: what it checks, why, an example and the fix.
    Explain(ExplainArgs),
    /// Open a values file in the browser editor: live checks, a form for the main
    /// settings, the rendered resources. Saves write the file back (the previous text
    /// kept as FILE.bak).
    ///
    /// Serves on 127.0.0.1 only; the printed link works once.
    Edit(EditArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The values file to edit.
    pub file: PathBuf,
    /// Print the link without opening a browser.
    #[arg(long)]
    pub no_open: bool,
    /// Port on 127.0.0.1; 0 takes a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The built editor (`scripts/build-editor.sh` writes web-editor/dist). Default:
    /// beside the executable, or the checkout's build.
    #[arg(long, env = "CPLN_POSTGRES_HA_EDITOR", value_name = "DIR")]
    pub site: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Values files to check; `-` reads standard input. Default: ./values.yaml.
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Output format (`-o` / `--output` as in kubectl and cpln).
    #[arg(short = 'o', long, visible_alias = "output", value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// What a column counts in JSON output: characters (`scalar`), UTF-16 code units
    /// (`utf16`, as JavaScript and editors do) or UTF-8 bytes (`utf8`). Human, SARIF and GitHub output
    /// count characters.
    #[arg(long, default_value = "scalar", value_parser = encoding_parser())]
    pub position_encoding: postgres_ha_core::Encoding,
    /// When to colour human output. `auto` honours `NO_COLOR` and whether stdout is a
    /// terminal.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, clap::Args)]
pub struct ImportValuesArgs {
    /// The template's values file; `-` reads standard input.
    pub file: PathBuf,
    /// Write the postgres-ha values here (mode 600 when it holds a password) instead
    /// of standard output.
    #[arg(short = 'o', long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style code frames.
    Human,
    /// `{"files":[{"file","diagnostics":[…]}]}`.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// GitHub Actions workflow annotations.
    Github,
}

/// Accepts exactly core's encoding names (`utf8`, `utf16`, `scalar`), listed in help.
fn encoding_parser() -> impl clap::builder::TypedValueParser<Value = postgres_ha_core::Encoding> {
    use clap::builder::TypedValueParser as _;
    use postgres_ha_core::Encoding;
    clap::builder::PossibleValuesParser::new(Encoding::ALL.map(Encoding::as_str))
        .map(|name| Encoding::from_name(&name).unwrap_or_default())
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Release name: lower-case letters, digits and `-`, at most 40 characters.
    pub name: String,
    /// The values file.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: PathBuf,
    /// The GVC to deploy into.
    #[arg(long, env = "CPLN_GVC")]
    pub gvc: String,
    /// The org (checked for form; links are rendered relative to it).
    #[arg(long, env = "CPLN_ORG")]
    pub org: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = RenderFormat::Yaml)]
    pub output: RenderFormat,
    /// File holding the generated superuser, replication, rewind and REST API
    /// passwords. Created (mode 600) on first render; keep it, since re-rendering must
    /// reuse the same passwords. Default: NAME.credentials.yaml beside the values file.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Print secret values even when standard output is a terminal.
    #[arg(long)]
    pub show_secrets: bool,
    /// Refuse to render when the values have warnings too.
    #[arg(long)]
    pub strict: bool,
}

/// Which Control Plane org, GVC and credentials: flags, then the `CPLN_*`
/// environment, then the cpln profile, as the cpln CLI decides.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ControlPlaneArgs {
    /// The org (else `CPLN_ORG`, else the profile's, else the service-account key's).
    #[arg(long)]
    pub org: Option<String>,
    /// The GVC (else `CPLN_GVC`, else the profile's).
    #[arg(long)]
    pub gvc: Option<String>,
    /// The cpln profile to use (else `CPLN_PROFILE`, else the default profile).
    #[arg(long)]
    pub profile: Option<String>,
    /// The API token (else `CPLN_TOKEN`, else the profile's). Prefer `CPLN_TOKEN`: a
    /// command line is visible to other users of the machine.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The API endpoint (else `CPLN_ENDPOINT`, else the profile's, else `https://api.cpln.io`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Release name: lower-case letters, digits and `-`.
    pub name: String,
    /// The values file.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: ControlPlaneArgs,
    /// Do not ask for confirmation (required when there is no terminal to ask on).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Return once the resources are applied, without waiting for readiness.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting for readiness after this many seconds.
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Release name.
    pub name: String,
    /// The values file.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: PathBuf,
    #[command(flatten)]
    pub target: ControlPlaneArgs,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// Release name.
    pub name: String,
    #[command(flatten)]
    pub target: ControlPlaneArgs,
    /// Delete the volume sets too: every member's data, irrecoverably.
    #[arg(long)]
    pub delete_volumes: bool,
    /// Keep the volume sets (the default; for scripts that say so explicitly).
    #[arg(long, conflicts_with = "delete_volumes")]
    pub keep_volumes: bool,
    /// Do not ask for confirmation (required when there is no terminal to ask on).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Give up waiting for deletions after this many seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Where local clusters and the runtime live.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalDirs {
    /// Directory holding the clusters' state. Default: $XDG_STATE_HOME/cpln-postgres-ha
    /// (for root without XDG variables: /var/lib/cpln-postgres-ha/state).
    #[arg(long, value_name = "DIR", env = "CPLN_POSTGRES_HA_STATE")]
    pub state_dir: Option<PathBuf>,
    /// Directory of the runtime (PostgreSQL 17.11, Patroni 4.1.5, etcd 3.4.23). Default:
    /// $XDG_DATA_HOME/cpln-postgres-ha/runtime (root: /var/lib/cpln-postgres-ha/runtime).
    #[arg(long, value_name = "DIR", env = "CPLN_POSTGRES_HA_RUNTIME")]
    pub runtime: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Install the pinned, checksum-verified runtime.
    Install {
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Start a local cluster (create it on first use); idempotent.
    Up {
        /// Cluster name (the release name).
        name: String,
        /// The values file.
        #[arg(short = 'f', long = "values", value_name = "FILE")]
        values: PathBuf,
        /// Give up waiting for the members after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Stop members of a running cluster and keep them down (etcd and the other
    /// members keep running) until `local start` or `local up`.
    Stop {
        name: String,
        /// Member to stop (`pg0`, `pg1`, …); repeat for several.
        #[arg(long = "member", value_name = "MEMBER", required = true)]
        members: Vec<String>,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Start members that `local stop` holds down.
    Start {
        name: String,
        /// Member to start (`pg0`, `pg1`, …); repeat for several.
        #[arg(long = "member", value_name = "MEMBER", required = true)]
        members: Vec<String>,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Stop a local cluster; `--purge` also deletes its data.
    Down {
        name: String,
        /// Delete the cluster's data and state too.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Same as `status NAME --local`.
    Status {
        name: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = StatusFormat::Table)]
        output: StatusFormat,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Print a libpq connection string that always reaches the leader.
    Dsn {
        name: String,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Print the logs of a cluster, or of one process (`pg0`, `etcd1`, `supervisor`).
    Logs {
        name: String,
        member: Option<String>,
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// List local clusters.
    List {
        #[command(flatten)]
        dirs: LocalDirs,
    },
    /// Run a cluster's supervisor in the foreground (`up` starts it in the background).
    #[command(hide = true)]
    Supervise {
        name: String,
        #[command(flatten)]
        dirs: LocalDirs,
    },
}

/// What every day-2 command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct OperateArgs {
    /// Cluster (release) name.
    pub name: String,
    /// Operate the local cluster of that name (else the release on Control Plane).
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub target: ControlPlaneArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = StatusFormat::Table)]
    pub output: StatusFormat,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when there is no terminal to ask on).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub dirs: LocalDirs,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// Refresh every two seconds until interrupted.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, clap::Args)]
pub struct SwitchoverArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// The member to hand the lead to. Default: the healthiest replica (a synchronous
    /// standby first, then the least behind).
    #[arg(long, value_name = "MEMBER")]
    pub candidate: Option<String>,
    /// When, as ISO 8601 with a zone (`2026-12-24T03:00:00+00:00`); Patroni carries
    /// it out then.
    #[arg(long, value_name = "TIME")]
    pub scheduled: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// The member to promote.
    #[arg(long, value_name = "MEMBER", required = true)]
    pub candidate: String,
}

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// Restart only this member (a leader is switched away from first).
    #[arg(long, value_name = "MEMBER")]
    pub member: Option<String>,
    /// Stop each member's processes and start them afresh instead of restarting
    /// PostgreSQL through Patroni: on Control Plane the platform recreates the replica,
    /// so it takes the secrets' current values (a secret edited by hand).
    #[arg(long)]
    pub recreate: bool,
}

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// The new number of PostgreSQL members.
    #[arg(long, value_name = "N", required = true)]
    pub replicas: u32,
    /// Delete the data of removed members (kept otherwise).
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// Whose password: the values' `postgres.username`, `superuser`, `replication`,
    /// `rewind` or `restapi`.
    #[arg(long, value_name = "USER", required = true)]
    pub user: String,
    /// Read the new password from standard input (one line).
    #[arg(long, conflicts_with = "generate")]
    pub password_stdin: bool,
    /// Generate a new password (32 random letters and digits).
    #[arg(long)]
    pub generate: bool,
    /// Print the new password.
    #[arg(long)]
    pub show_password: bool,
    /// Stop after this phase (preflight, prepare, database, members), as an
    /// interruption would: for testing resumption.
    #[arg(long, value_name = "PHASE", hide = true)]
    pub stop_after: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// The values file.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: PathBuf,
    /// Restart (rolling) when a changed setting needs it; without a terminal to ask
    /// on, the restart is otherwise left pending.
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReinitArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// The replica to rebuild.
    #[arg(long, value_name = "MEMBER", required = true)]
    pub member: String,
}

#[derive(Debug, clap::Args)]
pub struct DsnArgs {
    #[command(flatten)]
    pub common: OperateArgs,
    /// Which members the connection string reaches.
    #[arg(long, value_enum, default_value_t = DsnRole::Leader)]
    pub role: DsnRole,
    /// Include the application password (it is left out otherwise).
    #[arg(long)]
    pub show_password: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DsnRole {
    /// The member that accepts writes.
    Leader,
    /// A replica (any member when none is up).
    Replica,
    /// Whichever member answers first.
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// A table.
    Table,
    /// JSON: `{"cluster", "running", "leader", "paused", "members": [{name, role, state,
    /// host, port, api_port, lag_bytes, timeline, pending_restart, patroni_pid,
    /// postmaster_pid}], "etcd": [{name, port, healthy}]}`; for changes, the plan and
    /// its outcome.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    /// Multi-document YAML.
    Yaml,
    /// A JSON array.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A code (`R003`) or rule name (`etcd-even-members`); `--all` lists every code.
    #[arg(required_unless_present = "all")]
    pub code: Option<String>,
    /// List every code with its summary.
    #[arg(long, conflicts_with = "code")]
    pub all: bool,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    pub shell: clap_complete::Shell,
}
