//! One module per subcommand.

use crate::ExitStatus;
use crate::args::{Args, Command};

mod explain;
mod local;
mod render;
mod validate;

pub(crate) fn dispatch(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Validate(args) => validate::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Local(command) => local::run(command),
        Command::Status(args) => local::status_command(&args),
        Command::Schema => {
            crate::report::write_stdout(&postgres_ha_core::schema::schema_json())?;
            Ok(ExitStatus::Success)
        }
        Command::Explain(args) => explain::run(&args),
        Command::Completions(args) => {
            let mut command = <Args as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut command, "cpln-postgres-ha", &mut out);
            crate::report::write_stdout(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Success)
        }
    }
}
