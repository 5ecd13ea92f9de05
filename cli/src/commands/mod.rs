//! One module per subcommand.

use crate::ExitStatus;
use crate::args::{Args, Command};

mod apply;
mod deploy;
mod edit;
mod explain;
mod import;
mod local;
mod operate;
mod render;
mod rotate;
mod validate;

pub(crate) fn dispatch(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Validate(args) => validate::run(&args),
        Command::ImportValues(args) => import::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Deploy(args) => deploy::deploy(&args),
        Command::Diff(args) => deploy::diff(&args),
        Command::Destroy(args) => deploy::destroy(&args),
        Command::Local(command) => local::run(command),
        Command::Status(args) => operate::status(&args),
        Command::Switchover(args) => operate::switchover(&args),
        Command::Failover(args) => operate::failover(&args),
        Command::Restart(args) => operate::restart(&args),
        Command::Scale(args) => operate::scale(&args),
        Command::RotatePassword(args) => rotate::rotate(&args),
        Command::Apply(args) => apply::apply(&args),
        Command::Reload(args) => operate::reload(&args),
        Command::Pause(args) => operate::pause(&args, true),
        Command::Resume(args) => operate::pause(&args, false),
        Command::Reinit(args) => operate::reinit(&args),
        Command::Dsn(args) => operate::dsn_command(&args),
        Command::Schema => {
            crate::report::write_stdout(&postgres_ha_core::schema_json())?;
            Ok(ExitStatus::Success)
        }
        Command::Explain(args) => explain::run(&args),
        Command::Edit(args) => edit::run(&args),
        Command::Completions(args) => {
            crate::report::write_stdout(&completions(args.shell))?;
            Ok(ExitStatus::Success)
        }
    }
}

const BIN: &str = "cpln-postgres-ha";

/// The completion script for `shell`, without hidden commands and arguments.
///
/// `clap_complete`'s bash generator names its functions inconsistently when the
/// program name has a `-` (the dispatcher looks for functions it never defined, so
/// completion stops after the first word): generate under a name without one and
/// register the script for the real name.
fn completions(shell: clap_complete::Shell) -> String {
    let stand_in = BIN.replace('-', "_");
    let mut command = visible(&<Args as clap::CommandFactory>::command()).name(stand_in.clone());
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, stand_in.clone(), &mut out);
    let script = String::from_utf8_lossy(&out);
    match shell {
        clap_complete::Shell::Bash => {
            script
                .lines()
                .map(|line| match line.strip_suffix(&format!(" {stand_in}")) {
                    Some(head) if line.trim_start().starts_with("complete ") => {
                        format!("{head} {BIN}")
                    }
                    _ => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        _ => script.replace(&stand_in, BIN),
    }
}

/// A copy of `command` without hidden subcommands and arguments (`clap_complete` would
/// otherwise offer `local supervise`, which only `local up` runs).
fn visible(command: &clap::Command) -> clap::Command {
    let mut copy = clap::Command::new(command.get_name().to_owned())
        .args(
            command
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .cloned(),
        )
        .subcommands(
            command
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible),
        );
    if let Some(about) = command.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        copy = copy.version(version.to_owned());
    }
    copy
}
