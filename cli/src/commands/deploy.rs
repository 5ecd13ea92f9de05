//! `deploy`, `diff` and `destroy` on Control Plane. The plan comes from core (what to
//! create, update or leave, in apply order); this module reads, asks, sends and waits.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use postgres_ha_core::cpln::{
    Change, Kind, Place, Readiness, Step, leftovers, plan_deploy, plan_destroy, plan_prune,
    readiness, reads,
};
use postgres_ha_core::operate::{Effect, Policy, Step as OperateStep, all_streaming, diff_values};
use postgres_ha_core::render::{self, CredentialKey, Credentials, Names, Release};
use postgres_ha_core::{Code, Values};
use serde_json::Value;

use super::apply::settings_steps;
use super::operate::{Target, ask, execute, policy};
use crate::ExitStatus;
use crate::args::{ControlPlaneArgs, DeployArgs, DestroyArgs, DiffArgs};
use crate::cpln::{Connection, ControlPlane, connect};
use crate::input::{Privacy, read};
use crate::report::{report_to_stderr, write_stdout};
use crate::secrets::random_password;
use crate::transport::Transport as _;

/// How often readiness and deletions are polled.
const POLL: Duration = Duration::from_secs(2);

/// What a running cluster's Patroni and PostgreSQL settings need, carried out with
/// `apply`'s steps through the exec socket.
struct Settings {
    target: Target,
    policy: Policy,
    steps: Vec<OperateStep>,
    /// The changes, for the plan.
    lines: Vec<String>,
}

/// A release's plan against what exists.
struct Prepared {
    conn: Connection,
    steps: Vec<Step>,
    settings: Option<Settings>,
    /// The release's workloads, in apply order.
    workloads: Vec<String>,
    /// PostgreSQL members the values ask for.
    replicas: usize,
    notes: Vec<String>,
}

pub(crate) fn deploy(args: &DeployArgs) -> anyhow::Result<ExitStatus> {
    let Some(prepared) = prepare(&args.name, &args.values, &args.target, true)? else {
        return Ok(ExitStatus::Failure);
    };
    let Prepared {
        conn,
        steps,
        settings,
        workloads,
        replicas,
        notes,
    } = prepared;
    print_plan(&args.name, &conn.place, &steps, settings.as_ref(), &notes)?;
    let mut changes: Vec<String> = steps
        .iter()
        .filter(|s| s.change != Change::Unchanged)
        .map(|s| format!("{} {} {}", s.change.as_str(), s.kind, s.name))
        .collect();
    changes.extend(settings.iter().flat_map(|s| s.lines.iter().cloned()));
    if args.dry_run {
        write_stdout("(dry run: nothing was changed)\n")?;
        return Ok(ExitStatus::Success);
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    if !changes.is_empty() {
        ask(
            &format!("deploy {} to {}", args.name, where_(&conn.place)),
            &changes,
            args.yes,
            None,
        )?;
        apply(&conn, &steps, deadline)?;
    }
    if let Some(settings) = settings.filter(|s| !s.steps.is_empty()) {
        let handovers = execute(&settings.target, &settings.steps, &settings.policy)?;
        let mut text = format!("settings applied: {}\n", settings.lines.join("; "));
        for handover in &handovers {
            let _ = writeln!(text, "{handover}");
        }
        write_stdout(&text)?;
    }
    if args.no_wait {
        return Ok(ExitStatus::Success);
    }
    wait_ready(&conn, &workloads, deadline)?;
    wait_healthy(&conn, &args.name, replicas, deadline)?;
    Ok(ExitStatus::Success)
}

pub(crate) fn diff(args: &DiffArgs) -> anyhow::Result<ExitStatus> {
    let Some(prepared) = prepare(&args.name, &args.values, &args.target, false)? else {
        return Ok(ExitStatus::Error);
    };
    print_plan(
        &args.name,
        &prepared.conn.place,
        &prepared.steps,
        prepared.settings.as_ref(),
        &prepared.notes,
    )?;
    let changed = prepared.steps.iter().any(|s| s.change != Change::Unchanged)
        || prepared.settings.is_some_and(|s| !s.lines.is_empty());
    Ok(if changed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

pub(crate) fn destroy(args: &DestroyArgs) -> anyhow::Result<ExitStatus> {
    render::check_name("release", &args.name, render::MAX_RELEASE_NAME)?;
    let conn = connect(&args.target)?;
    let names = Names::new(&args.name);
    let deletions = plan_destroy(&conn.place, &names.resources(), !args.delete_volumes);
    let steps: Vec<String> = deletions
        .iter()
        .map(|s| format!("delete {} {}", s.kind, s.name))
        .collect();
    let summary = format!(
        "destroy {} in {}{}",
        args.name,
        where_(&conn.place),
        if args.delete_volumes {
            " with its volume sets: every member's data is lost"
        } else {
            " (its volume sets, the data, are kept)"
        }
    );
    // Deleting data asks for the release's name, not a y.
    ask(
        &summary,
        &steps,
        args.yes,
        args.delete_volumes.then_some(args.name.as_str()),
    )?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut out = std::io::stderr();
    for step in &deletions {
        let gone = delete(&conn, step, deadline)?;
        let _ = writeln!(
            out,
            "{} {} {}",
            if gone { "absent " } else { "deleted" },
            step.kind,
            step.name
        );
    }
    write_stdout(&format!("destroyed {}\n", args.name))?;
    Ok(ExitStatus::Success)
}

/// Carries out a deletion step and, for a kind the API removes later, waits until it
/// is gone, as the cpln CLI does between kinds. `true` when it was already absent.
fn delete(conn: &Connection, step: &Step, deadline: Instant) -> anyhow::Result<bool> {
    let Some(request) = &step.request else {
        return Ok(false);
    };
    let reply = conn.api.send(request)?;
    if reply.status == 404 {
        return Ok(true);
    }
    if step.kind.deleted_later() {
        while conn.api.get(&request.path)?.is_some() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} {} is still being deleted; run the command again to go on",
                step.kind,
                step.name
            );
            std::thread::sleep(POLL);
        }
    }
    Ok(false)
}

/// Validates, renders with the passwords the release keeps (generating what is
/// missing), reads what exists and plans. `None` when the values were refused (the
/// diagnostics are on stderr).
fn prepare(
    name: &str,
    values_path: &std::path::Path,
    target: &ControlPlaneArgs,
    deploying: bool,
) -> anyhow::Result<Option<Prepared>> {
    render::check_name("release", name, render::MAX_RELEASE_NAME)?;
    let bytes = read(values_path, Privacy::Any)?;
    let checked = postgres_ha_core::check(&bytes);
    let weak = checked
        .diagnostics
        .iter()
        .any(|d| d.code == Code::WeakPassword);
    let values = checked.values.clone();
    let errors = checked.has_errors();
    let written = checked.password_written;
    report_to_stderr(values_path, checked)?;
    let Some(mut values) = values.filter(|_| !errors) else {
        return Ok(None);
    };
    if deploying && weak && written {
        let _ = writeln!(
            std::io::stderr(),
            "error: deploy refuses a weak or default postgres.password (C001): set a long \
             random one, or leave the key out and deploy generates one"
        );
        return Ok(None);
    }
    let conn = connect(target)?;
    let release = Release {
        name: name.to_owned(),
        gvc: conn.place.gvc.clone(),
        org: Some(conn.place.org.clone()),
    };
    render::check_release(&release)?;
    let names = Names::new(name);
    let mut notes = Vec::new();
    let credentials = passwords(&conn, &names, &mut values, written, &mut notes)?;
    conn.api.hide(
        CredentialKey::INTERNAL
            .into_iter()
            .filter_map(|k| credentials.get(k).map(str::to_owned))
            .chain([values.postgres.password.clone()]),
    );
    let rendered = render::render(&values, &release, &credentials)?;
    let mut existing = Vec::with_capacity(rendered.len());
    for read in reads(&conn.place, &rendered)? {
        existing.push(conn.api.get(&read.path)?);
    }
    // A running release changes its member count through `scale` only: the platform
    // would remove the highest members whatever they are, the leader among them.
    let running_count = rendered
        .iter()
        .zip(&existing)
        .find(|(r, _)| r["kind"] == "workload" && r["name"] == names.postgres.as_str())
        .and_then(|(_, found)| found.as_ref())
        .and_then(|found| found["spec"]["defaultOptions"]["autoscaling"]["minScale"].as_u64());
    if let Some(count) = running_count.filter(|c| *c != u64::from(values.replicas)) {
        let message = format!(
            "the values ask for {} members and the release runs {count}: change it with \
             `scale {name} --replicas {}` first",
            values.replicas, values.replicas
        );
        anyhow::ensure!(!deploying, "refused: {message}; nothing was changed");
        notes.push(message);
    }
    let mut steps = plan_deploy(&conn.place, &rendered, &existing)?;
    let all = names.resources();
    let mut stale = Vec::new();
    for (kind, name) in leftovers(&all, &rendered) {
        if conn.api.get(&kind.item(&conn.place, name))?.is_some() {
            stale.push((kind, name));
        }
    }
    steps.extend(plan_prune(&conn.place, &stale));
    let running = steps.iter().any(|s| {
        s.kind == Kind::Workload && s.name == names.postgres && s.change != Change::Create
    });
    let settings = if running {
        running_settings(&conn, name, &values, &mut notes)?
    } else {
        None
    };
    if running
        && steps.iter().any(|s| {
            s.kind == Kind::Workload && s.name == names.postgres && s.change == Change::Update
        })
    {
        notes.push(format!(
            "updating workload {} restarts its members in the platform's rollout (highest \
             index first, each a short write gap when it leads)",
            names.postgres
        ));
    }
    let workloads = steps
        .iter()
        .filter(|s| s.kind == Kind::Workload && s.change != Change::Delete)
        .map(|s| s.name.clone())
        .collect();
    Ok(Some(Prepared {
        conn,
        steps,
        settings,
        workloads,
        replicas: values.replicas as usize,
        notes,
    }))
}

/// For a running release: what its Patroni and PostgreSQL settings need, compared
/// with the running configuration through the exec socket.
fn running_settings(
    conn: &Connection,
    name: &str,
    values: &Values,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<Settings>> {
    let reached = ControlPlane::open(conn.clone(), name).and_then(|transport| {
        let config = transport.config()?;
        let view = transport.view()?;
        Ok((transport, config, view))
    });
    let (transport, config, view) = match reached {
        Ok(reached) => reached,
        Err(error) => {
            notes.push(format!(
                "Patroni cannot be reached ({error:#}); its settings were not compared"
            ));
            return Ok(None);
        }
    };
    let ordered = transport.members();
    // The values against themselves: only what the running cluster holds differs. A
    // member count change was refused (or noted) already, from the workload.
    let diff = diff_values(values, values, &config, ordered.len());
    let lines: Vec<String> = diff
        .changes
        .iter()
        .filter(|c| matches!(c.effect, Effect::Reload | Effect::Restart))
        .map(|c| format!("setting {c}"))
        .collect();
    let steps = settings_steps(
        &diff,
        &config,
        &view,
        &ordered,
        true,
        &format!("restart {name}"),
        notes,
    )?;
    let policy = policy(&transport)?;
    Ok(Some(Settings {
        target: Target::remote(name, Box::new(transport)),
        policy,
        steps,
        lines,
    }))
}

/// The release's passwords: those its credentials secret already holds, new ones for
/// what it lacks. The application's comes from the values when they set it, else
/// from the secret, else it is generated; it is kept only in the secret.
fn passwords(
    conn: &Connection,
    names: &Names,
    values: &mut Values,
    written: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<Credentials> {
    let found = conn
        .api
        .get(&Kind::Secret.read(&conn.place, &names.credentials))?;
    let (mut credentials, app) = match &found {
        Some(secret) => Credentials::from_secret_data(&secret["data"]),
        None => (Credentials::default(), None),
    };
    for key in credentials.missing() {
        credentials.set(key, random_password()?);
    }
    match (written, app) {
        (true, Some(current)) if current != values.postgres.password => {
            let running = conn
                .api
                .get(&Kind::Workload.item(&conn.place, &names.postgres))?
                .is_some();
            anyhow::ensure!(
                !running,
                "postgres.password differs from the password the running release uses; \
                 a deploy would change the secret but not the role. Change it with \
                 `rotate-password` (no failed transaction), then deploy"
            );
        }
        (true, _) => {}
        (false, Some(current)) => values.postgres.password = current,
        (false, None) => {
            values.postgres.password = random_password()?;
            notes.push(format!(
                "postgres.password is not set: generated one, kept only in secret {}",
                names.credentials
            ));
        }
    }
    Ok(credentials)
}

fn where_(place: &Place) -> String {
    format!("org {} GVC {}", place.org, place.gvc)
}

fn print_plan(
    name: &str,
    place: &Place,
    steps: &[Step],
    settings: Option<&Settings>,
    notes: &[String],
) -> anyhow::Result<()> {
    let mut text = format!("release {name} in {}:\n", where_(place));
    let count = |change| steps.iter().filter(|s| s.change == change).count();
    let deleted = count(Change::Delete);
    for step in steps {
        let _ = writeln!(
            text,
            "  {:<9} {} {}",
            step.change.as_str(),
            step.kind,
            step.name
        );
    }
    let _ = writeln!(
        text,
        "{} to create, {} to update, {} unchanged{}",
        count(Change::Create),
        count(Change::Update),
        count(Change::Unchanged),
        if deleted > 0 {
            format!(", {deleted} to delete")
        } else {
            String::new()
        }
    );
    for line in settings.iter().flat_map(|s| &s.lines) {
        let _ = writeln!(text, "  {line}");
    }
    for note in notes {
        let _ = writeln!(text, "note: {note}");
    }
    write_stdout(&text)?;
    Ok(())
}

/// Sends the plan's requests in order (apply order: secrets before what refers to
/// them). A rerun after an interruption sends what is still missing.
fn apply(conn: &Connection, steps: &[Step], deadline: Instant) -> anyhow::Result<()> {
    let progress = progress(steps.len() as u64);
    for step in steps {
        let Some(request) = &step.request else {
            progress.inc(1);
            continue;
        };
        progress.set_message(format!(
            "{} {} {}",
            step.change.as_str(),
            step.kind,
            step.name
        ));
        let done = if step.change == Change::Delete {
            delete(conn, step, deadline)?;
            "deleted"
        } else if conn.api.send(request)?.status == 201 {
            "created"
        } else {
            "updated"
        };
        progress.println(format!("{done} {} {}", step.kind, step.name));
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}

fn progress(length: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Where a workload of the release stands: `None` when it does not exist.
pub(super) fn workload_readiness(
    conn: &Connection,
    name: &str,
) -> anyhow::Result<Option<Readiness>> {
    let path = Kind::Workload.item(&conn.place, name);
    let Some(workload) = conn.api.get(&path)? else {
        return Ok(None);
    };
    let deployments = conn
        .api
        .get(&format!("{path}/deployment"))?
        .unwrap_or(Value::Null);
    let mut state = readiness(&workload, &deployments);
    for message in &mut state.messages {
        *message = conn.api.redact(message);
    }
    Ok(Some(state))
}

/// Waits until every workload runs its latest version everywhere (the cpln CLI's
/// rule), showing what the deployments say meanwhile: a wedged deployment's only
/// explanation is there.
fn wait_ready(conn: &Connection, workloads: &[String], deadline: Instant) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = spinner();
    let mut shown: Vec<String> = Vec::new();
    loop {
        let mut waiting = Vec::new();
        for name in workloads {
            let state = workload_readiness(conn, name)?
                .ok_or_else(|| anyhow::anyhow!("workload {name} is gone"))?;
            if !state.ready_latest {
                for message in state.messages {
                    let line = format!("{name}: {message}");
                    if !shown.contains(&line) {
                        progress.println(format!("  {line}"));
                        shown.push(line);
                    }
                }
                waiting.push(name.clone());
            }
        }
        if waiting.is_empty() {
            progress.finish_and_clear();
            write_stdout(&format!(
                "ready: {} ({} s)\n",
                workloads.join(", "),
                started.elapsed().as_secs()
            ))?;
            return Ok(());
        }
        if Instant::now() >= deadline {
            progress.finish_and_clear();
            let mut why = String::new();
            for line in &shown {
                let _ = write!(why, "\n  {line}");
            }
            anyhow::bail!(
                "not ready in time: {}{}",
                waiting.join(", "),
                if why.is_empty() {
                    String::from(
                        "\n  (the deployments give no reason; see `cpln workload get-deployments`)",
                    )
                } else {
                    why
                }
            );
        }
        progress.set_message(format!("waiting for {}", waiting.join(", ")));
        std::thread::sleep(POLL);
    }
}

/// Waits until Patroni reports a leader that accepts writes and every other member
/// streaming from it, asking the members through the exec socket.
fn wait_healthy(
    conn: &Connection,
    name: &str,
    members: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = spinner();
    let until = all_streaming(members);
    let mut missing = String::from("no member's Patroni answers yet");
    loop {
        // The replica list fills as members start: reopen until it is whole.
        if let Ok(transport) = ControlPlane::open(conn.clone(), name) {
            match transport.view() {
                Ok(view) => {
                    let unmet = until.unmet(&view);
                    if unmet.is_empty() {
                        progress.finish_and_clear();
                        let leader = view
                            .healthy_leader()
                            .map(|m| m.name.clone())
                            .unwrap_or_default();
                        write_stdout(&format!(
                            "healthy: {leader} leads, {} streaming ({} s)\n",
                            members - 1,
                            started.elapsed().as_secs()
                        ))?;
                        return Ok(());
                    }
                    missing = unmet.join(", ");
                }
                Err(error) => missing = format!("{error:#}"),
            }
        }
        progress.set_message(format!("waiting for Patroni: {missing}"));
        if Instant::now() >= deadline {
            progress.finish_and_clear();
            anyhow::bail!(
                "the cluster is not healthy in time: {missing} (`status {name}` shows it)"
            );
        }
        std::thread::sleep(POLL);
    }
}

fn spinner() -> ProgressBar {
    let progress = ProgressBar::new_spinner();
    if !std::io::stderr().is_terminal() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress.enable_steady_tick(Duration::from_millis(100));
    progress
}
