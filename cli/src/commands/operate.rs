//! Day-2 commands: `status`, `switchover`, `failover`, `restart`, `reload`, `pause`,
//! `resume`, `reinit`, `dsn`. Each is glue: read the cluster through a transport,
//! plan in core, confirm, carry the plan out, report.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use postgres_ha_core::local::{Reach, dsn};
use postgres_ha_core::operate::{
    ClusterView, Condition, FAST_DEMOTE_MARKER, HANDOVER_WAIT, HandoverAnswer, MemberStatus, On,
    Plan, Policy, RECREATE_WAIT, REINIT_WAIT, Refusal, Request, ScaleInput, Sql, Step,
    choose_candidate, fast_demote_marker, leader_is, plan_failover, plan_pause, plan_recreate,
    plan_reinit, plan_reload, plan_restart, plan_scale, plan_switchover,
};
use serde_json::{Value, json};

use super::local::existing;
use crate::ExitStatus;
use crate::args::{
    DsnArgs, DsnRole, FailoverArgs, OperateArgs, ReinitArgs, RestartArgs, ScaleArgs, StatusArgs,
    StatusFormat, SwitchoverArgs,
};
use crate::local::api;
use crate::local::lifecycle::{recorded_values, supervisor_running};
use crate::local::loopback::Loopback;
use crate::local::state::{Cluster, ClusterFile};
use crate::report::write_stdout;
use crate::transport::Transport;

/// A running cluster and the transport that reaches it.
pub(super) struct Target {
    pub(super) name: String,
    pub(super) transport: Box<dyn Transport>,
    local: Option<LocalCluster>,
    /// Where an interrupted password rotation is recorded (mode 600: it holds the
    /// new password), when the target has one.
    journal: Option<std::path::PathBuf>,
}

/// What only the local target has: its directory and recorded state.
pub(super) struct LocalCluster {
    pub(super) cluster: Cluster,
    pub(super) file: ClusterFile,
}

impl Target {
    /// A release on Control Plane, reached through `transport`.
    pub(super) fn remote(name: &str, transport: Box<dyn Transport>) -> Self {
        Self {
            name: name.to_owned(),
            transport,
            local: None,
            journal: None,
        }
    }

    /// The rotation journal's path.
    pub(super) fn journal(&self) -> anyhow::Result<&std::path::Path> {
        self.journal
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("this target keeps no rotation journal"))
    }

    pub(super) fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The local cluster behind this target; on Control Plane, an error saying the
    /// operation is not available there yet.
    pub(super) fn local(&self) -> anyhow::Result<&LocalCluster> {
        self.local.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "this operation on Control Plane is not available yet; it runs on a local \
                 cluster (--local)"
            )
        })
    }
}

/// The cluster the arguments name: the local one with `--local`, else the release
/// on Control Plane (org, GVC and credentials as the cpln CLI finds them).
pub(super) fn open(common: &OperateArgs) -> anyhow::Result<Target> {
    if !common.local {
        let conn = crate::cpln::connect(&common.target)?;
        let transport = crate::cpln::ControlPlane::open(conn, &common.name)?;
        // Beside the local clusters, under a name no cluster can have.
        let journal = crate::local::state::state_base(common.dirs.state_dir.as_deref())
            .join(".control-plane")
            .join(&transport.place().org)
            .join(&transport.place().gvc)
            .join(&common.name)
            .join("rotation.json");
        return Ok(Target {
            name: common.name.clone(),
            transport: Box::new(transport),
            local: None,
            journal: Some(journal),
        });
    }
    let cluster = existing(&common.name, &common.dirs)?;
    let file = cluster.load()?;
    anyhow::ensure!(
        supervisor_running(&cluster),
        "{} is not running; `local up {} -f VALUES` starts it",
        common.name,
        common.name
    );
    let transport = Loopback::new(&cluster, &file)?;
    Ok(Target {
        name: common.name.clone(),
        transport: Box::new(transport),
        journal: Some(cluster.dir.join("rotation.json")),
        local: Some(LocalCluster { cluster, file }),
    })
}

/// Who may take over, from the configuration the cluster runs with.
pub(super) fn policy(transport: &dyn Transport) -> anyhow::Result<Policy> {
    let config = transport.config()?;
    let synchronous_mode = match &config["synchronous_mode"] {
        Value::Bool(on) => *on,
        Value::String(mode) => matches!(mode.as_str(), "on" | "true" | "quorum"),
        _ => false,
    };
    Ok(Policy {
        synchronous_mode,
        maximum_lag: config["maximum_lag_on_failover"]
            .as_u64()
            .unwrap_or(1_048_576),
    })
}

/// The running `max_wal_senders` (Patroni keeps numbers or strings).
pub(super) fn running_senders(config: &Value) -> u64 {
    let senders = &config["postgresql"]["parameters"]["max_wal_senders"];
    senders
        .as_u64()
        .or_else(|| senders.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(10)
}

pub(super) fn refused(refusal: &Refusal) -> anyhow::Error {
    anyhow::anyhow!("refused: {}\n  what to do: {}", refusal.reason, refusal.fix)
}

// ---------------------------------------------------------------------------------
// status

pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<ExitStatus> {
    if !args.common.local {
        let conn = crate::cpln::connect(&args.common.target)?;
        return watch(args, || {
            print_remote_status(&conn, &args.common.name, args.common.output)
        });
    }
    let cluster = existing(&args.common.name, &args.common.dirs)?;
    let file = cluster.load()?;
    watch(args, || print_status(&cluster, &file, args.common.output))
}

/// Prints once, or every two seconds until interrupted with `--watch`.
fn watch(
    args: &StatusArgs,
    print: impl Fn() -> anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    if !args.watch {
        return print();
    }
    let interrupted = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&interrupted))?;
    }
    let clear = std::io::stdout().is_terminal() && args.common.output == StatusFormat::Table;
    while !interrupted.load(Ordering::Relaxed) {
        if clear {
            write_stdout("\x1b[2J\x1b[H")?;
        }
        print()?;
        let next = Instant::now() + Duration::from_secs(2);
        while Instant::now() < next && !interrupted.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(ExitStatus::Success)
}

/// The status as JSON: the cluster view with the local processes, and etcd.
fn status_json(cluster: &Cluster, file: &ClusterFile) -> Value {
    let running = supervisor_running(cluster);
    let view = if running {
        api::view(&api::client(), &file.api_ports())
    } else {
        None
    };
    let pids = cluster.load_pids();
    let members: Vec<Value> = view
        .iter()
        .flat_map(|v| &v.members)
        .map(|member| {
            let index = postgres_ha_core::local::member_index(&cluster.name, &member.name);
            member_json(
                member,
                &json!({
                    "api_port": index.and_then(|i| file.ports.members.get(i)).map(|p| p.1),
                    "patroni_pid": index.and_then(|i| pids.patroni.get(i).copied().flatten()),
                    "postmaster_pid": index.and_then(|i| crate::local::process::postmaster(&cluster.postmaster_pid(i))),
                }),
            )
        })
        .collect();
    let client = api::client();
    let etcd: Vec<Value> = file
        .etcd_client_ports()
        .iter()
        .enumerate()
        .map(|(i, port)| {
            json!({
                "name": postgres_ha_core::local::etcd_name(&cluster.name, i),
                "port": port,
                "healthy": running && api::etcd_healthy(&client, *port),
            })
        })
        .collect();
    status_document(&cluster.name, running, view.as_ref(), &members, &etcd)
}

/// One member in `status -o json`: Patroni's view of it, then what only the target
/// knows (`api_port`, `patroni_pid`, `postmaster_pid`; `null` where it knows nothing).
fn member_json(member: &postgres_ha_core::operate::Member, target: &Value) -> Value {
    let mut entry = json!({
        "name": member.name,
        "role": member.role.as_str(),
        "state": member.state.as_str(),
        "host": member.host,
        "port": member.port,
        "api_port": null,
        "lag_bytes": member.lag.bytes(),
        "timeline": member.timeline,
        "pending_restart": member.pending_restart,
        "patroni_pid": null,
        "postmaster_pid": null,
    });
    for (key, value) in target.as_object().into_iter().flatten() {
        entry[key.as_str()] = value.clone();
    }
    entry
}

/// The document `status -o json` prints for either target.
fn status_document(
    name: &str,
    running: bool,
    view: Option<&ClusterView>,
    members: &[Value],
    etcd: &[Value],
) -> Value {
    json!({
        "cluster": name,
        "running": running,
        "leader": view.and_then(ClusterView::healthy_leader).map(|m| m.name.clone()),
        "paused": view.is_some_and(|v| v.paused),
        "members": members,
        "etcd": etcd,
    })
}

/// The status of a cluster on Control Plane, as its members' Patroni sees it.
fn remote_status_json(name: &str, transport: Option<&dyn Transport>) -> Value {
    let view = transport.and_then(|t| t.view().ok());
    let members: Vec<Value> = view
        .iter()
        .flat_map(|v| &v.members)
        .map(|member| member_json(member, &Value::Null))
        .collect();
    status_document(name, view.is_some(), view.as_ref(), &members, &[])
}

/// The release's status on Control Plane: its workloads' readiness (and what the
/// deployments say when one is not ready), then Patroni's view through the exec
/// socket.
fn print_remote_status(
    conn: &crate::cpln::Connection,
    name: &str,
    output: StatusFormat,
) -> anyhow::Result<ExitStatus> {
    let names = postgres_ha_core::render::Names::new(name);
    let mut workloads = Vec::new();
    for workload in [&names.etcd, &names.postgres, &names.proxy] {
        if let Some(state) = super::deploy::workload_readiness(conn, workload)? {
            workloads.push(json!({
                "name": workload,
                "ready": state.ready,
                "ready_latest": state.ready_latest,
                "messages": state.messages,
            }));
        }
    }
    anyhow::ensure!(
        !workloads.is_empty(),
        "release {name} has no workloads in GVC {} (`deploy` creates them)",
        conn.place.gvc
    );
    let transport = crate::cpln::ControlPlane::open(conn.clone(), name);
    let mut status = remote_status_json(name, transport.as_ref().ok().map(|t| t as &dyn Transport));
    status["workloads"] = Value::Array(workloads);
    let stopped = match &transport {
        Ok(_) => "no member's Patroni answers".to_owned(),
        Err(error) => format!("{error:#}"),
    };
    if output == StatusFormat::Table {
        write_stdout(&workloads_table(&status))?;
    }
    print_status_json(&status, output, &stopped)
}

fn workloads_table(status: &Value) -> String {
    let mut text = String::new();
    for w in status["workloads"].as_array().into_iter().flatten() {
        let state = match (w["ready_latest"] == true, w["ready"] == true) {
            (true, _) => "ready",
            (false, true) => "ready (an update is rolling out)",
            (false, false) => "NOT READY",
        };
        let _ = writeln!(
            text,
            "workload {}: {state}",
            w["name"].as_str().unwrap_or("?")
        );
        for message in w["messages"].as_array().into_iter().flatten() {
            let _ = writeln!(text, "  {}", message.as_str().unwrap_or_default());
        }
    }
    text
}

pub(crate) fn print_status(
    cluster: &Cluster,
    file: &ClusterFile,
    output: StatusFormat,
) -> anyhow::Result<ExitStatus> {
    let status = status_json(cluster, file);
    print_status_json(
        &status,
        output,
        &format!("{} is stopped (`local up` starts it)", cluster.name),
    )
}

fn print_status_json(
    status: &Value,
    output: StatusFormat,
    stopped: &str,
) -> anyhow::Result<ExitStatus> {
    let running = status["running"] == true;
    match output {
        StatusFormat::Json => {
            let mut text = serde_json::to_string_pretty(status)?;
            text.push('\n');
            write_stdout(&text)?;
        }
        StatusFormat::Table => {
            if !running {
                write_stdout(&format!("{stopped}\n"))?;
                return Ok(ExitStatus::Failure);
            }
            write_stdout(&status_table(status))?;
        }
    }
    Ok(if running {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn status_table(status: &Value) -> String {
    let cell = |value: &Value| match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut text = format!(
        "{:<16} {:<13} {:<10} {:<16} {:>6} {:>10} {:>3} {:>7} {:>8} {:>10}\n",
        "MEMBER",
        "ROLE",
        "STATE",
        "ADDRESS",
        "API",
        "LAG",
        "TL",
        "RESTART",
        "PATRONI",
        "POSTMASTER"
    );
    for m in status["members"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "{:<16} {:<13} {:<10} {:<16} {:>6} {:>10} {:>3} {:>7} {:>8} {:>10}",
            cell(&m["name"]),
            cell(&m["role"]),
            cell(&m["state"]),
            format!("{}:{}", cell(&m["host"]), cell(&m["port"])),
            cell(&m["api_port"]),
            cell(&m["lag_bytes"]),
            cell(&m["timeline"]),
            if m["pending_restart"] == true {
                "pending"
            } else {
                "-"
            },
            cell(&m["patroni_pid"]),
            cell(&m["postmaster_pid"]),
        );
    }
    let etcd: Vec<String> = status["etcd"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                cell(&e["name"]),
                if e["healthy"] == true {
                    "healthy"
                } else {
                    "UNHEALTHY"
                }
            )
        })
        .collect();
    if !etcd.is_empty() {
        let _ = writeln!(text, "etcd: {}", etcd.join(", "));
    }
    let _ = writeln!(
        text,
        "leader: {}{}",
        cell(&status["leader"]),
        if status["paused"] == true {
            " (PAUSED: automatic failover is off; `resume` turns it on)"
        } else {
            ""
        }
    );
    text
}

// ---------------------------------------------------------------------------------
// changes

pub(crate) fn switchover(args: &SwitchoverArgs) -> anyhow::Result<ExitStatus> {
    let target = open(&args.common)?;
    let policy = policy(&*target.transport)?;
    let view = target.transport.current_view()?;
    let candidate = args.candidate.as_deref().map(|m| member_name(&target, m));
    let plan = plan_switchover(
        &view,
        candidate.as_deref(),
        args.scheduled.as_deref(),
        &policy,
    )
    .map_err(|r| refused(&r))?;
    carry_out(&target, &args.common, &plan, &policy, None)
}

pub(crate) fn failover(args: &FailoverArgs) -> anyhow::Result<ExitStatus> {
    let target = open(&args.common)?;
    let policy = policy(&*target.transport)?;
    let view = target.transport.view()?;
    let candidate = member_name(&target, &args.candidate);
    let leader_writable = view
        .healthy_leader()
        .is_some_and(|l| writable(&*target.transport, &l.name));
    let plan = plan_failover(&view, &candidate, leader_writable).map_err(|r| refused(&r))?;
    // Promoting by hand can lose writes the candidate has not received: the user
    // types the member's name.
    carry_out(
        &target,
        &args.common,
        &plan,
        &policy,
        Some(candidate.as_str()),
    )
}

pub(crate) fn restart(args: &RestartArgs) -> anyhow::Result<ExitStatus> {
    let target = open(&args.common)?;
    let policy = policy(&*target.transport)?;
    let view = target.transport.view()?;
    let member = args.member.as_deref().map(|m| member_name(&target, m));
    let plan = if args.recreate {
        plan_recreate(&view, member.as_slice())
    } else {
        plan_restart(&view, member.as_deref())
    }
    .map_err(|r| refused(&r))?;
    carry_out(&target, &args.common, &plan, &policy, None)
}

pub(crate) fn scale(args: &ScaleArgs) -> anyhow::Result<ExitStatus> {
    let target = open(&args.common)?;
    // The HA rules first, on the values as they would be: refused here exactly
    // when `validate` would refuse the file with this count. On Control Plane the
    // release keeps no values file: its role and database, and the replication mode
    // it runs with, stand for it.
    let recorded = if let Ok(local) = target.local() {
        std::fs::read(local.cluster.values())?
    } else {
        let mut values: Value = serde_json::from_slice(&target.transport.app_values()?)?;
        let config = target.transport.config()?;
        if let Value::Bool(on) = config["synchronous_mode"] {
            values["patroni"] = json!({"synchronous_mode": on});
        }
        serde_json::to_vec_pretty(&values)?
    };
    let checked =
        postgres_ha_core::check_changed(&recorded, &[("/replicas", json!(args.replicas))]);
    let mut problems = String::new();
    for d in &checked.diagnostics {
        let _ = writeln!(
            problems,
            "  {} [{}] {}",
            d.severity.as_str(),
            d.code.as_str(),
            d.message
        );
    }
    if checked.has_errors() {
        anyhow::bail!(
            "refused: replicas: {} breaks the HA rules:\n{problems}  what to do: pick another count",
            args.replicas
        );
    }
    if !problems.is_empty() {
        writeln!(
            std::io::stderr(),
            "with replicas: {}:\n{problems}",
            args.replicas
        )?;
    }
    let policy = policy(&*target.transport)?;
    let config = target.transport.config()?;
    let max_wal_senders = running_senders(&config);
    let view = target.transport.view()?;
    let ordered = target.transport.members();
    let input = ScaleInput {
        ordered: &ordered,
        target: args.replicas as usize,
        max_wal_senders,
        purge: args.purge,
        synchronous_node_count: config["synchronous_node_count"].as_u64().unwrap_or(1),
    };
    let plan = plan_scale(&view, &input, &policy).map_err(|r| refused(&r))?;
    carry_out(&target, &args.common, &plan, &policy, None)
}

pub(crate) fn reload(args: &OperateArgs) -> anyhow::Result<ExitStatus> {
    let target = open(args)?;
    let policy = policy(&*target.transport)?;
    let view = target.transport.view()?;
    carry_out(&target, args, &plan_reload(&view), &policy, None)
}

pub(crate) fn pause(args: &OperateArgs, paused: bool) -> anyhow::Result<ExitStatus> {
    let target = open(args)?;
    let policy = policy(&*target.transport)?;
    let view = target.transport.view()?;
    let plan = plan_pause(&view, paused).map_err(|r| refused(&r))?;
    carry_out(&target, args, &plan, &policy, None)
}

pub(crate) fn reinit(args: &ReinitArgs) -> anyhow::Result<ExitStatus> {
    let target = open(&args.common)?;
    let policy = policy(&*target.transport)?;
    let view = target.transport.view()?;
    let member = member_name(&target, &args.member);
    let plan = plan_reinit(&view, &member).map_err(|r| refused(&r))?;
    carry_out(&target, &args.common, &plan, &policy, None)
}

pub(crate) fn dsn_command(args: &DsnArgs) -> anyhow::Result<ExitStatus> {
    let reach = match args.role {
        DsnRole::Leader => Reach::Leader,
        DsnRole::Replica => Reach::Replica,
        DsnRole::Any => Reach::Any,
    };
    if !args.common.local {
        // Addresses inside the GVC: for workloads the release's firewall admits.
        let conn = crate::cpln::connect(&args.common.target)?;
        let transport = crate::cpln::ControlPlane::open(conn, &args.common.name)?;
        let kept = postgres_ha_core::check(&transport.app_values()?)
            .values
            .ok_or_else(|| {
                anyhow::anyhow!("the release's secret names no valid role or database")
            })?;
        let password = if args.show_password {
            Some(transport.stored_password(postgres_ha_core::render::CredentialKey::App)?)
        } else {
            None
        };
        write_stdout(&format!(
            "{}\n",
            postgres_ha_core::local::connection_string(
                &transport.client_hosts(reach)?,
                &kept.postgres.database,
                &kept.postgres.username,
                reach,
                password.as_deref(),
            )
        ))?;
        return Ok(ExitStatus::Success);
    }
    let cluster = existing(&args.common.name, &args.common.dirs)?;
    let file = cluster.load()?;
    let values = recorded_values(&cluster)?;
    let password = args
        .show_password
        .then_some(values.postgres.password.as_str());
    write_stdout(&format!("{}\n", dsn(&values, &file.ports, reach, password)))?;
    Ok(ExitStatus::Success)
}

/// A member named in full (`db-pg1`) or short (`pg1`), in full.
fn member_name(target: &Target, name: &str) -> String {
    let Ok(local) = target.local() else {
        return name.to_owned();
    };
    postgres_ha_core::local::member_index(&local.cluster.name, name)
        .filter(|i| *i < local.file.ports.members.len())
        .map_or_else(
            || name.to_owned(),
            |i| postgres_ha_core::local::member_name(&local.cluster.name, i),
        )
}

/// Shows the plan and asks before changing anything: `y`, or the member's name for a
/// failover; without a terminal, only `--yes` goes ahead. `false` when there is
/// nothing to do: a dry run (the plan printed) or an empty plan.
pub(super) fn confirm_steps(
    common: &OperateArgs,
    summary: &str,
    steps: &[String],
    type_to_confirm: Option<&str>,
) -> anyhow::Result<bool> {
    if common.dry_run || steps.is_empty() {
        if common.output == StatusFormat::Json {
            write_stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({
                    "cluster": common.name,
                    "summary": summary,
                    "dry_run": common.dry_run,
                    "steps": steps,
                }))?
            ))?;
        } else {
            let mut text = format!("{summary}{}\n", if steps.is_empty() { "" } else { ":" });
            for step in steps {
                let _ = writeln!(text, "  - {step}");
            }
            if common.dry_run && !steps.is_empty() {
                text.push_str("(dry run: nothing was changed)\n");
            }
            write_stdout(&text)?;
        }
        return Ok(false);
    }
    ask(summary, steps, common.yes, type_to_confirm)
}

/// Asks on the terminal whether to go ahead with `steps` (`yes` skips asking); an
/// error when there is no terminal to ask on or the answer is not yes.
pub(super) fn ask(
    summary: &str,
    steps: &[String],
    yes: bool,
    type_to_confirm: Option<&str>,
) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        "refusing to {summary} without confirmation: there is no terminal to ask on; pass \
         --yes (or --dry-run to see the plan)"
    );
    let mut stderr = std::io::stderr();
    writeln!(stderr, "{summary}:")?;
    for step in steps {
        writeln!(stderr, "  - {step}")?;
    }
    match type_to_confirm {
        Some(word) => write!(stderr, "Type {word} to go ahead: ")?,
        None => write!(stderr, "Go ahead? [y/N] ")?,
    }
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim();
    let yes = match type_to_confirm {
        Some(word) => answer == word,
        None => matches!(answer, "y" | "Y" | "yes"),
    };
    anyhow::ensure!(yes, "nothing was changed");
    Ok(true)
}

impl std::fmt::Display for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.scheduled, self.write_gap) {
            (Some(at), _) => write!(
                f,
                "switchover from {} to {} scheduled at {at}",
                self.from, self.to
            ),
            (None, Some(gap)) => write!(
                f,
                "{} now leads (was {}); writes paused for {gap:.2} s",
                self.to, self.from
            ),
            (None, None) => write!(f, "{} now leads (was {})", self.to, self.from),
        }
    }
}

/// One switchover as carried out.
pub(super) struct Handover {
    from: String,
    to: String,
    /// Seconds in which neither member accepted a write, as the probe saw it.
    write_gap: Option<f64>,
    scheduled: Option<String>,
}

fn carry_out(
    target: &Target,
    common: &OperateArgs,
    plan: &Plan,
    policy: &Policy,
    type_to_confirm: Option<&str>,
) -> anyhow::Result<ExitStatus> {
    let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
    if !confirm_steps(common, &plan.summary, &steps, type_to_confirm)? {
        return Ok(ExitStatus::Success);
    }
    let started = Instant::now();
    let handovers = execute(target, &plan.steps, policy)?;
    report(
        target,
        common,
        &Done {
            summary: &plan.summary,
            steps: &steps,
            handovers: &handovers,
            seconds: started.elapsed().as_secs_f64(),
            notes: &[],
        },
    )
}

/// Carries the steps out, with progress; the switchovers made.
pub(super) fn execute(
    target: &Target,
    steps: &[Step],
    policy: &Policy,
) -> anyhow::Result<Vec<Handover>> {
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(100));
    let mut handovers = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for step in steps {
            progress.set_message(step.to_string());
            match step {
                Step::Sql { on, sql } => {
                    let member = resolve(&*target.transport, on, &progress)?;
                    target.transport.sql(&member, sql)?;
                }
                Step::Patroni { on, request } => {
                    let member = resolve(&*target.transport, on, &progress)?;
                    patroni_step(&*target.transport, &member, request)?;
                }
                Step::Wait { until, seconds } => {
                    wait_for(&*target.transport, until, *seconds, &progress)?;
                }
                Step::Settle { seconds } => {
                    std::thread::sleep(Duration::from_secs(u64::from(*seconds)));
                }
                Step::Reinitialize { member } => {
                    reinitialize(&*target.transport, member, &progress)?;
                }
                Step::Recreate { member } => {
                    recreate(&*target.transport, member, &progress)?;
                }
                Step::AddMembers { count } => {
                    target.transport.add_members(*count)?;
                }
                Step::RemoveMembers { members, purge } => {
                    target.transport.remove_members(members, *purge)?;
                }
                Step::Switchover {
                    leader,
                    candidate,
                    among,
                    scheduled,
                } => handovers.push(switch_over(
                    &*target.transport,
                    &Handing {
                        leader,
                        candidate: candidate.as_deref(),
                        among,
                        scheduled: scheduled.as_deref(),
                    },
                    policy,
                    &progress,
                )?),
            }
        }
        Ok(())
    })();
    progress.finish_and_clear();
    result.map(|()| handovers)
}

/// What a finished operation reports.
pub(super) struct Done<'a> {
    pub(super) summary: &'a str,
    pub(super) steps: &'a [String],
    pub(super) handovers: &'a [Handover],
    pub(super) seconds: f64,
    /// Lines for the reader (a restart left pending, …).
    pub(super) notes: &'a [String],
}

pub(super) fn report(
    target: &Target,
    common: &OperateArgs,
    done: &Done<'_>,
) -> anyhow::Result<ExitStatus> {
    let elapsed = done.seconds;
    if common.output == StatusFormat::Json {
        let report = json!({
            "cluster": target.name,
            "summary": done.summary,
            "dry_run": false,
            "steps": done.steps,
            "seconds": (elapsed * 1000.0).round() / 1000.0,
            "switchovers": done.handovers.iter().map(|h| json!({
                "from": h.from,
                "to": h.to,
                "write_gap_seconds": h.write_gap.map(|g| (g * 1000.0).round() / 1000.0),
                "scheduled": h.scheduled,
            })).collect::<Vec<_>>(),
            "notes": done.notes,
            "status": match &target.local {
                Some(local) => status_json(&local.cluster, &local.file),
                None => remote_status_json(&target.name, Some(&*target.transport)),
            },
        });
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        let mut text = format!("done: {} ({elapsed:.1} s)\n", done.summary);
        for handover in done.handovers {
            let _ = writeln!(text, "{handover}");
        }
        for note in done.notes {
            let _ = writeln!(text, "{note}");
        }
        write_stdout(&text)?;
    }
    Ok(ExitStatus::Success)
}

/// The member a step acts on: the leader of the moment for `On::Leader`.
fn resolve(transport: &dyn Transport, on: &On, progress: &ProgressBar) -> anyhow::Result<String> {
    match on {
        On::Member(name) => Ok(name.clone()),
        On::Leader => Ok(wait_for(
            transport,
            &Condition::HealthyLeader,
            HANDOVER_WAIT,
            progress,
        )?
        .healthy_leader()
        .map(|m| m.name.clone())
        .unwrap_or_default()),
    }
}

fn patroni_step(transport: &dyn Transport, member: &str, request: &Request) -> anyhow::Result<()> {
    // Patroni answers 503 while the member is busy with another action (a demotion
    // finishing, a restart in progress): such answers are retried for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = transport.patroni(member, request)?;
        if request.path == "/failover" {
            if let HandoverAnswer::Refused { reason, fix } = answer.handover() {
                return Err(refused(&Refusal { reason, fix }));
            }
            return Ok(());
        }
        if (200..300).contains(&answer.status) {
            return Ok(());
        }
        anyhow::ensure!(
            answer.status == 503 && Instant::now() < deadline,
            "{member}'s Patroni refused {request}: {} {}",
            answer.status,
            answer.body.trim()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits until the cluster view shows `until`; on timeout, says what is missing.
fn wait_for(
    transport: &dyn Transport,
    until: &Condition,
    seconds: u32,
    progress: &ProgressBar,
) -> anyhow::Result<ClusterView> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds));
    loop {
        let missing = match transport.view() {
            Ok(view) => {
                let missing = until.unmet(&view);
                if missing.is_empty() {
                    return Ok(view);
                }
                missing.join(", ")
            }
            Err(_) => "no member's Patroni answers yet".to_owned(),
        };
        progress.set_message(format!("waiting: {missing}"));
        anyhow::ensure!(
            Instant::now() < deadline,
            "gave up after {seconds} s waiting until {until}; still missing: {missing} \
             (`status` shows the cluster)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn member_status(transport: &dyn Transport, member: &str) -> Option<MemberStatus> {
    let answer = transport.patroni(member, &Request::member_status()).ok()?;
    MemberStatus::from_json(&answer.body).ok()
}

/// Rebuilds a replica, and waits (asking the member itself, which is current) until
/// a new postmaster streams from the leader.
fn reinitialize(
    transport: &dyn Transport,
    member: &str,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let before = member_status(transport, member).and_then(|s| s.postmaster_start_time);
    patroni_step(transport, member, &Request::reinitialize())?;
    streams_anew(
        transport,
        member,
        before.as_deref(),
        REINIT_WAIT,
        "rebuilding",
        progress,
    )
    .map_err(|e| e.context(format!("{member} was not rebuilt; see its log")))
}

/// Stops a member so that it starts afresh, and waits until it streams again.
fn recreate(transport: &dyn Transport, member: &str, progress: &ProgressBar) -> anyhow::Result<()> {
    // The postmaster to see replaced. A leader just demoted may be between two: wait
    // a little for the second, or its start could pass for the new container's. (A
    // member whose Patroni cannot log in, its superuser password rotated, has none.)
    let settle = Instant::now() + Duration::from_secs(10);
    let before = loop {
        let known = member_status(transport, member).and_then(|s| s.postmaster_start_time);
        if known.is_some() || Instant::now() > settle {
            break known;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    progress.set_message(format!("stopping {member} so that it starts afresh"));
    transport.recreate(member)?;
    streams_anew(
        transport,
        member,
        before.as_deref(),
        RECREATE_WAIT,
        "restarting",
        progress,
    )
    .map_err(|e| e.context(format!("{member} did not come back; see its log")))
}

/// Waits (asking the member itself, which is current) until a postmaster other than
/// `before` streams from the leader.
fn streams_anew(
    transport: &dyn Transport,
    member: &str,
    before: Option<&str>,
    seconds: u32,
    doing: &str,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds));
    loop {
        let status = member_status(transport, member);
        if let Some(status) = &status
            && status.postmaster_start_time.is_some()
            && status.postmaster_start_time.as_deref() != before
            && status.is_streaming_replica()
        {
            return Ok(());
        }
        progress.set_message(format!(
            "{doing} {member}: {}",
            status.map_or_else(|| "no answer".to_owned(), |s| s.state.to_string())
        ));
        anyhow::ensure!(
            Instant::now() < deadline,
            "{member} does not stream with a new postmaster after {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `member` accepts a write right now.
fn writable(transport: &dyn Transport, member: &str) -> bool {
    transport
        .sql(member, &Sql::read_only())
        .is_ok_and(|out| out == "f")
}

/// A switchover: the candidate re-checked against the cluster as it is now, a
/// checkpoint so the old leader stops fast, the fast-demote marker, Patroni's
/// switchover (polling through its "status unknown" while the old leader stops),
/// then the wait until the candidate accepts writes. A probe samples both members
/// meanwhile to measure the write gap.
/// One switchover step, as planned.
struct Handing<'a> {
    leader: &'a str,
    candidate: Option<&'a str>,
    /// Only these may take over (any member when empty).
    among: &'a [String],
    scheduled: Option<&'a str>,
}

fn switch_over(
    transport: &dyn Transport,
    handing: &Handing<'_>,
    policy: &Policy,
    progress: &ProgressBar,
) -> anyhow::Result<Handover> {
    let Handing {
        leader,
        candidate,
        among,
        scheduled,
    } = *handing;
    // Right after members restart, synchronous mode may have no synchronous standby
    // for a moment: wait for a fit candidate rather than fail at once.
    let deadline = Instant::now() + Duration::from_secs(u64::from(HANDOVER_WAIT));
    let chosen = loop {
        let mut view = transport.current_view()?;
        let current = view.healthy_leader().map(|m| m.name.clone());
        anyhow::ensure!(
            current.as_deref() == Some(leader),
            "the leader changed meanwhile ({leader} planned, {} now); run the command again",
            current.as_deref().unwrap_or("none")
        );
        if !among.is_empty() {
            view.members
                .retain(|m| m.name == leader || among.contains(&m.name));
        }
        match choose_candidate(&view, candidate, policy) {
            Ok(member) => break member.name.clone(),
            Err(refusal) if Instant::now() > deadline => return Err(refused(&refusal)),
            Err(refusal) => progress.set_message(format!("waiting: {}", refusal.reason)),
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    if let Some(at) = scheduled {
        let answer = transport.patroni(
            leader,
            &Request::switchover(leader, Some(&chosen), Some(at)),
        )?;
        if let HandoverAnswer::Refused { reason, fix } = answer.handover() {
            return Err(refused(&Refusal { reason, fix }));
        }
        return Ok(Handover {
            from: leader.to_owned(),
            to: chosen,
            write_gap: None,
            scheduled: Some(at.to_owned()),
        });
    }
    progress.set_message(format!("checkpoint on {leader}"));
    transport.sql(leader, &Sql::checkpoint())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    transport.put_file(leader, FAST_DEMOTE_MARKER, &fast_demote_marker(leader, now))?;
    progress.set_message(format!("switching over from {leader} to {chosen}"));
    let done = AtomicBool::new(false);
    let (outcome, gap) = std::thread::scope(|scope| {
        let probe = scope.spawn(|| measure_gap(transport, leader, &chosen, &done));
        let outcome = (|| -> anyhow::Result<()> {
            // An error here may only mean the old leader dropped the connection
            // while it stopped: the cluster view tells the outcome.
            if let Ok(answer) =
                transport.patroni(leader, &Request::switchover(leader, Some(&chosen), None))
                && let HandoverAnswer::Refused { reason, fix } = answer.handover()
            {
                return Err(refused(&Refusal { reason, fix }));
            }
            wait_for(transport, &leader_is(&chosen), HANDOVER_WAIT, progress)?;
            let deadline = Instant::now() + Duration::from_secs(u64::from(HANDOVER_WAIT));
            while !writable(transport, &chosen) {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{chosen} leads but does not accept writes after {HANDOVER_WAIT} s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        })();
        done.store(true, Ordering::Relaxed);
        (outcome, probe.join().ok().flatten())
    });
    // Unused when the hook ran; a refused switchover must not leave it armed.
    let _ = transport.remove_file(leader, FAST_DEMOTE_MARKER);
    outcome?;
    Ok(Handover {
        from: leader.to_owned(),
        to: chosen,
        write_gap: gap,
        scheduled: None,
    })
}

/// Samples both members until the new one accepts writes: the time from the old
/// leader's last accepted sample to the new one's first.
fn measure_gap(transport: &dyn Transport, old: &str, new: &str, done: &AtomicBool) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(HANDOVER_WAIT) * 2);
    let mut last_old = Instant::now();
    while Instant::now() < deadline {
        let probe = Instant::now();
        if writable(transport, old) {
            last_old = probe;
        } else if writable(transport, new) {
            return Some(Instant::now().duration_since(last_old).as_secs_f64());
        } else if done.load(Ordering::Relaxed) {
            return None;
        }
    }
    None
}
