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
    /// Print the Control Plane resources of a release as YAML for `cpln apply -f -`.
    ///
    /// Refuses to render when the values have errors. Resources come in apply order
    /// (secret, identity, volumeset, policy, workload) and are identical for the same
    /// values and credentials file.
    Render(RenderArgs),
    /// Print the JSON Schema of the values file (draft 2020-12).
    Schema,
    /// Explain a diagnostic code: what it checks, why, an example and the fix.
    Explain(ExplainArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Values files to check; `-` reads standard input. Default: ./values.yaml.
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// When to colour human output. `auto` honours `NO_COLOR` and whether stdout is a
    /// terminal.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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
