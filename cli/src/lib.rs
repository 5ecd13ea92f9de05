//! `cpln-postgres-ha`: validate, render, deploy and operate highly available
//! PostgreSQL 17 on Control Plane or on a local cluster.
//!
//! The library exists so the pre-commit hook binary (root package) and this binary
//! share one entry point; everything user-facing goes through [`main`].

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

pub mod args;
mod commands;
mod cpln;
mod input;
mod local;
mod report;
mod secrets;
mod transport;

pub use args::Args;

/// Documented exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command succeeded; for `validate`, no errors (and no warnings with `--strict`).
    Success,
    /// `validate` found errors (or warnings with `--strict`).
    Failure,
    /// Bad usage, an unreadable file, or an internal failure.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

/// Runs the CLI with the process's arguments.
#[must_use]
pub fn main() -> ExitCode {
    run(std::env::args_os()).into()
}

/// Runs the CLI with the given arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(error) => {
            // clap prints help/version to stdout and usage errors to stderr itself.
            let _ = error.print();
            return if error.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Success
            };
        }
    };
    match commands::dispatch(args) {
        Ok(status) => status,
        Err(error) => {
            if is_broken_pipe(&error) {
                // `cpln-postgres-ha validate … | head` is not a failure.
                return ExitStatus::Success;
            }
            let _ = writeln!(io::stderr(), "error: {error:#}");
            ExitStatus::Error
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
