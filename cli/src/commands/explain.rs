//! `explain CODE`: a rule's documentation.

use std::fmt::Write;

use postgres_ha_core::Code;

use crate::ExitStatus;
use crate::args::ExplainArgs;
use crate::report::write_stdout;

pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<ExitStatus> {
    if args.all {
        let mut out = String::new();
        for code in Code::ALL {
            let _ = writeln!(
                out,
                "{}  {:<8} {:<30} {}",
                code.as_str(),
                code.severity().as_str(),
                code.name(),
                code.summary()
            );
        }
        write_stdout(&out)?;
        return Ok(ExitStatus::Success);
    }
    let wanted = args.code.as_deref().unwrap_or_default();
    let Some(code) = Code::lookup(wanted) else {
        anyhow::bail!("unknown code `{wanted}`; `cpln-postgres-ha explain --all` lists every code");
    };
    write_stdout(&format!(
        "# {} ({}): {}\n\nSeverity: {}\n\n{}\n",
        code.as_str(),
        code.name(),
        code.summary(),
        code.severity().as_str(),
        code.documentation()
    ))?;
    Ok(ExitStatus::Success)
}
