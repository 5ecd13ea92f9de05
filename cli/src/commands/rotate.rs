//! `rotate-password`: the journaled protocol of `core::operate::rotate`, carried out
//! through the transport. Phases: preflight, prepare (the journal), database
//! (`ALTER ROLE` on the leader), members (stored, configured, reloaded), verify (new
//! in, old out). Every phase may run again; a rerun after an interruption resumes
//! with the recorded password.

use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use postgres_ha_core::internal_password_problem;
use postgres_ha_core::operate::{
    Journal, Phase, Pickup, Request, RotationUser, Sql, Step, plan_recreate,
};
use postgres_ha_core::render::CredentialKey;
use serde_json::json;

use super::operate::{Target, confirm_steps, execute, open, policy, refused};
use crate::ExitStatus;
use crate::args::{RotateArgs, StatusFormat};
use crate::report::write_stdout;
use crate::secrets::random_password;

fn journal_path(target: &Target) -> anyhow::Result<PathBuf> {
    Ok(target.journal()?.to_path_buf())
}

/// The application role, from the values the target keeps.
fn app_user(values_text: &[u8]) -> anyhow::Result<String> {
    postgres_ha_core::check(values_text)
        .values
        .map(|v| v.postgres.username)
        .context("the cluster's recorded values no longer validate")
}

fn load_journal(target: &Target) -> anyhow::Result<Option<Journal>> {
    let path = journal_path(target)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("{} is damaged", path.display())
            })?))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Records the journal before the next phase acts (mode 600: it holds the password).
fn record(target: &Target, journal: &Journal) -> anyhow::Result<()> {
    if let Some(dir) = journal_path(target)?.parent() {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::secrets::write_atomic(
        &journal_path(target)?,
        &serde_json::to_string(journal)?,
        0o600,
    )
}

/// Why a new password is refused, if it is (never quoting it).
fn problem(
    user: RotationUser,
    password: &str,
    current: &str,
    values_text: &[u8],
) -> Option<String> {
    if password == current {
        return Some("it is the current password".into());
    }
    if user == RotationUser::App {
        // The values' own rules, on the values as they would be.
        let checked = postgres_ha_core::check_changed(
            values_text,
            &[("/postgres/password", json!(password))],
        );
        let findings: Vec<String> = checked
            .diagnostics
            .iter()
            .filter(|d| d.path.starts_with("/postgres/password"))
            .map(|d| format!("[{}] {}", d.code.as_str(), d.message))
            .collect();
        return (!findings.is_empty()).then(|| findings.join("; "));
    }
    internal_password_problem(password)
}

pub(crate) fn rotate(args: &RotateArgs) -> anyhow::Result<ExitStatus> {
    let target = open(&args.common)?;
    let values_text = target.transport.app_values()?;
    let app_user = app_user(&values_text)?;
    let user = RotationUser::parse(&args.user, &app_user).with_context(|| {
        format!(
            "unknown user `{}`: rotate `{app_user}` (the values' user) or one of {}",
            args.user,
            RotationUser::WORDS.join(", ")
        )
    })?;
    let transport = &*target.transport;
    let key = user.key();
    let journal = load_journal(&target)?;
    let resuming = journal.is_some();
    let restarted = journal
        .as_ref()
        .map(|j| j.restarted.clone())
        .unwrap_or_default();
    let password = match journal {
        Some(journal) => {
            anyhow::ensure!(
                journal.user == user.word(),
                "a rotation of the {} password was interrupted (after {}); finish it first: \
                 rerun with --user {}",
                journal.user,
                journal.done,
                journal.user
            );
            if args.password_stdin {
                let given = read_password()?;
                anyhow::ensure!(
                    given == journal.password,
                    "an interrupted rotation of this password used another new password; \
                     rerun without --password-stdin to finish it"
                );
            }
            journal.password
        }
        None if args.generate => random_password()?,
        None if args.password_stdin => read_password()?,
        None => {
            anyhow::bail!("say where the new password comes from: --generate, or --password-stdin")
        }
    };
    let old = transport.stored_password(key)?;
    // A resumed rotation may already have stored the new password.
    let stored_new = old == password;
    if !stored_new && let Some(why) = problem(user, &password, &old, &values_text) {
        anyhow::bail!("refused: the new password is unusable: {why}");
    }
    let steps: Vec<String> = Phase::ALL
        .iter()
        .map(|p| format!("{p}: {}", p.describe(user, transport.pickup())))
        .collect();
    let summary = format!(
        "{} the {} password{}",
        if resuming {
            "finish rotating"
        } else {
            "rotate"
        },
        user.word(),
        if user == RotationUser::App {
            format!(" (role {app_user})")
        } else {
            String::new()
        }
    );
    if !confirm_steps(&args.common, &summary, &steps, None)? {
        return Ok(ExitStatus::Success);
    }

    let stop_after = args.stop_after.as_deref().and_then(Phase::parse);
    if let Some(phase) = run_rotation(&target, user, &password, restarted, stop_after)? {
        writeln!(
            std::io::stderr(),
            "stopped after the {phase} phase, as asked; run the command again to finish"
        )?;
        return Ok(ExitStatus::Failure);
    }

    let shown = args.show_password.then_some(password.as_str());
    if args.common.output == StatusFormat::Json {
        let mut report = json!({
            "cluster": target.name,
            "user": user.word(),
            "role": user.role(&app_user),
            "resumed": resuming,
            "phases": Phase::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        });
        if let Some(password) = shown {
            report["password"] = json!(password);
        }
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        let mut text = format!("done: {summary}; the old password is refused now\n");
        if let Some(password) = shown {
            let _ = writeln!(text, "new password: {password}");
        } else if args.generate && key == CredentialKey::App {
            text.push_str(if target.is_local() {
                "the new password is kept with the cluster's values \
                 (`dsn --show-password` prints a connection string with it)\n"
            } else {
                "the new password is kept only in the release's credentials secret\n"
            });
        }
        write_stdout(&text)?;
    }
    Ok(ExitStatus::Success)
}

/// Carries a rotation out, phase by phase, recording each before the next acts;
/// `Some(phase)` when `stop_after` stopped it there. `restarted`: the members an
/// interrupted run already restarted with the new password.
pub(super) fn run_rotation(
    target: &Target,
    user: RotationUser,
    password: &str,
    restarted: Vec<String>,
    stop_after: Option<Phase>,
) -> anyhow::Result<Option<Phase>> {
    let transport = &*target.transport;
    let key = user.key();
    let app_user = app_user(&transport.app_values()?)?;
    let old = transport.stored_password(key)?;
    let stored_new = old == password;
    let password = password.to_owned();
    let done = |phase: Phase| stop_after == Some(phase);
    // preflight
    let view = transport.view()?;
    let leader = view
        .healthy_leader()
        .map(|m| m.name.clone())
        .context("refused: no member leads and accepts writes; rotate on a healthy cluster")?;
    if done(Phase::Preflight) {
        return Ok(Some(Phase::Preflight));
    }
    // prepare
    let mut journal = Journal {
        user: user.word().to_owned(),
        done: Phase::Prepare,
        password: password.clone(),
        restarted,
    };
    record(target, &journal)?;
    transport.also_accept(key, &password);
    if done(Phase::Prepare) {
        return Ok(Some(Phase::Prepare));
    }
    // database
    if let Some(role) = user.role(&app_user) {
        transport.sql(&leader, &Sql::set_password(role, password.clone()))?;
    }
    journal.done = Phase::Database;
    record(target, &journal)?;
    if done(Phase::Database) {
        return Ok(Some(Phase::Database));
    }
    // members
    transport.store_password(key, &password)?;
    if user != RotationUser::App {
        match transport.pickup() {
            Pickup::Reload => {
                for member in transport.members() {
                    let answer = transport.patroni(&member, &Request::reload())?;
                    anyhow::ensure!(
                        (200..300).contains(&answer.status),
                        "{member}'s Patroni refused the reload: {}",
                        answer.status
                    );
                }
                // Patroni rewrites .pgpass (which replicas connect with) on its next loop.
                let loop_wait = transport.config()?["loop_wait"].as_u64().unwrap_or(10);
                std::thread::sleep(Duration::from_secs(loop_wait + 1));
            }
            Pickup::Restart => restart_members(target, &mut journal)?,
        }
    }
    journal.done = Phase::Members;
    record(target, &journal)?;
    if done(Phase::Members) {
        return Ok(Some(Phase::Members));
    }
    // verify: the new password logs in everywhere it must, the old one nowhere.
    let login = user.login(&app_user);
    let members = if user == RotationUser::RestApi {
        transport.members()
    } else {
        vec![leader.clone()]
    };
    for member in &members {
        anyhow::ensure!(
            transport.try_login(member, &login, &password)?,
            "verify: the new {} password does not log in on {member}; rerun to retry",
            user.word()
        );
        if !stored_new {
            anyhow::ensure!(
                !transport.try_login(member, &login, &old)?,
                "verify: the old {} password still logs in on {member}; rerun to retry",
                user.word()
            );
        }
    }
    std::fs::remove_file(journal_path(target)?)?;
    Ok(None)
}

/// Restarts, in the rolling order, every member the journal does not record as
/// restarted, recording each one as it comes back streaming.
fn restart_members(target: &Target, journal: &mut Journal) -> anyhow::Result<()> {
    let transport = &*target.transport;
    let pending: Vec<String> = transport
        .members()
        .into_iter()
        .filter(|m| !journal.restarted.contains(m))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let plan = plan_recreate(&transport.view()?, &pending).map_err(|r| refused(&r))?;
    let policy = policy(transport)?;
    for step in &plan.steps {
        execute(target, std::slice::from_ref(step), &policy)?;
        if let Step::Recreate { member } = step {
            journal.restarted.push(member.clone());
            record(target, journal)?;
        }
    }
    Ok(())
}

/// The new password from standard input: one line, its line ending dropped.
fn read_password() -> anyhow::Result<String> {
    anyhow::ensure!(
        !std::io::stdin().is_terminal(),
        "--password-stdin reads a pipe or a file, not the terminal"
    );
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    anyhow::ensure!(!password.is_empty(), "standard input held no password");
    Ok(password.to_owned())
}
