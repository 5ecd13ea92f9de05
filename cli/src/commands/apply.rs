//! `apply`: carries a changed values file out on a running cluster — Patroni's
//! dynamic configuration, a rolling restart for settings PostgreSQL reads only at
//! start, a password rotation, a scale — and records the values it now runs with.

use std::io::IsTerminal;
use std::time::Instant;

use postgres_ha_core::operate::{
    ClusterView, Condition, Diff, Effect, On, Plan, Request, RotationUser, ScaleInput, Step,
    diff_values, plan_restart, plan_scale,
};
use serde_json::Value;

use super::operate::{Done, confirm_steps, execute, open, policy, report, running_senders};
use super::rotate::run_rotation;
use crate::ExitStatus;
use crate::args::ApplyArgs;
use crate::input::{Privacy, read};
use crate::local::lifecycle::recorded_values;
use crate::report::checked_values;

pub(crate) fn apply(args: &ApplyArgs) -> anyhow::Result<ExitStatus> {
    let bytes = read(&args.values, Privacy::Any)?;
    // The values' own verdict first: errors stop here, as in `validate`.
    let Some(new) = checked_values(&args.values, &bytes, false)? else {
        return Ok(ExitStatus::Failure);
    };
    let target = open(&args.common)?;
    let transport = &*target.transport;
    let (recorded, new) = match target.local() {
        Ok(local) => (recorded_values(&local.cluster)?, new),
        Err(_) => remote_values(
            &target,
            new,
            postgres_ha_core::check(&bytes).password_written,
        )?,
    };
    let config = transport.config()?;
    let view = transport.view()?;
    let ordered = transport.members();
    let diff = diff_values(&recorded, &new, &config, ordered.len());
    if !diff.refused.is_empty() {
        anyhow::bail!(
            "refused: the values change what a running cluster cannot take; nothing was changed:\n  - {}",
            diff.refused.join("\n  - ")
        );
    }
    let policy = policy(transport)?;

    let mut notes = Vec::new();
    // A restart-needing change: a rolling restart when asked with --restart, or when
    // a person confirms the plan on a terminal; else it stays pending.
    let interactive = !args.common.yes && std::io::stdin().is_terminal();
    let mut steps = settings_steps(
        &diff,
        &config,
        &view,
        &ordered,
        args.restart || interactive,
        &if target.is_local() {
            format!("restart {} --local", target.name)
        } else {
            format!("restart {}", target.name)
        },
        &mut notes,
    )?;
    if let Some(replicas) = diff.replicas {
        let input = ScaleInput {
            ordered: &ordered,
            target: replicas,
            max_wal_senders: running_senders(&config),
            purge: false,
            synchronous_node_count: config["synchronous_node_count"].as_u64().unwrap_or(1),
        };
        steps.extend(
            plan_scale(&view, &input, &policy)
                .map_err(|r| anyhow::anyhow!("refused: {r}"))?
                .steps,
        );
    }
    let plan = Plan {
        summary: match (diff.is_empty(), steps.is_empty()) {
            (true, true) => "nothing to apply: the cluster runs these values".to_owned(),
            (true, false) => "restart the members a changed setting waits for".to_owned(),
            (false, _) => format!("apply {} change(s)", diff.changes.len()),
        },
        steps,
    };
    let mut lines: Vec<String> = diff.changes.iter().map(|c| format!("change {c}")).collect();
    lines.extend(plan.steps.iter().map(ToString::to_string));
    if diff.password {
        lines.push("rotate the application password (rotate-password's phases)".into());
    }
    lines.extend(notes.iter().map(|n| format!("note: {n}")));
    if !confirm_steps(&args.common, &plan.summary, &lines, None)? {
        return Ok(ExitStatus::Success);
    }
    let started = Instant::now();
    let handovers = execute(&target, &plan.steps, &policy)?;
    if diff.password {
        run_rotation(
            &target,
            RotationUser::App,
            &new.postgres.password,
            Vec::new(),
            None,
        )?;
    }
    if let Ok(local) = target.local() {
        // The cluster runs these values now: later `up`, `dsn` and scale use them.
        crate::secrets::write_atomic(
            &local.cluster.values(),
            &String::from_utf8_lossy(&bytes),
            0o600,
        )?;
        crate::local::process::hand_over(&local.cluster.values())?;
    }
    for change in diff.changes.iter().filter(|c| c.effect == Effect::None) {
        notes.push(if target.is_local() {
            format!(
                "{} changed: it describes Control Plane resources and has no effect on a local cluster",
                change.what
            )
        } else {
            format!(
                "{} changed: Control Plane resources change with `deploy {}`",
                change.what, target.name
            )
        });
    }
    report(
        &target,
        &args.common,
        &Done {
            summary: &plan.summary,
            steps: &lines,
            handovers: &handovers,
            seconds: started.elapsed().as_secs_f64(),
            notes: &notes,
        },
    )
}

/// What a release on Control Plane runs with, as far as `apply` compares it: the
/// role, database and application password its secret holds (the rest is what the
/// Control Plane resources say, which `deploy` changes). A values file without a
/// password keeps the release's.
fn remote_values(
    target: &super::operate::Target,
    mut new: postgres_ha_core::Values,
    password_written: bool,
) -> anyhow::Result<(postgres_ha_core::Values, postgres_ha_core::Values)> {
    let transport = &*target.transport;
    let kept = postgres_ha_core::check(&transport.app_values()?)
        .values
        .ok_or_else(|| anyhow::anyhow!("the release's secret names no valid role or database"))?;
    let mut recorded = new.clone();
    recorded.postgres.username = kept.postgres.username;
    recorded.postgres.database = kept.postgres.database;
    recorded.postgres.password =
        transport.stored_password(postgres_ha_core::render::CredentialKey::App)?;
    if !password_written {
        new.postgres
            .password
            .clone_from(&recorded.postgres.password);
    }
    Ok((recorded, new))
}

/// The steps that bring a running cluster's Patroni and PostgreSQL settings to what
/// `diff` found: `PATCH /config` on the leader and a settle, then, with `restart`,
/// a rolling restart for settings PostgreSQL reads only at start (replicas first,
/// one switchover); without, a note saying how to restart later. A restart an
/// earlier change left pending counts too.
pub(super) fn settings_steps(
    diff: &Diff,
    config: &Value,
    view: &ClusterView,
    ordered: &[String],
    restart: bool,
    restart_command: &str,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    if let Some(patch) = &diff.patch {
        steps.push(Step::Patroni {
            on: On::Leader,
            request: Request::patch_config(patch.clone()),
        });
        let loop_wait = config["loop_wait"]
            .as_u64()
            .max(patch["loop_wait"].as_u64())
            .unwrap_or(10);
        steps.push(Step::Settle {
            seconds: u32::try_from(loop_wait + 1).unwrap_or(u32::MAX),
        });
    }
    let pending = view.members.iter().any(|m| m.pending_restart);
    if !(diff.restart || pending) {
        return Ok(steps);
    }
    if restart {
        if diff.restart {
            let mut until = Condition::PendingRestart(ordered[0].clone());
            for member in &ordered[1..] {
                until = until.and(Condition::PendingRestart(member.clone()));
            }
            steps.push(Step::Wait {
                until,
                seconds: postgres_ha_core::operate::HANDOVER_WAIT,
            });
        }
        steps.extend(
            plan_restart(view, None)
                .map_err(|r| anyhow::anyhow!("refused: {r}"))?
                .steps,
        );
    } else {
        let changed: Vec<&str> = diff
            .changes
            .iter()
            .filter(|c| c.effect == Effect::Restart)
            .map(|c| c.what.as_str())
            .collect();
        notes.push(format!(
            "a restart is left pending{}; run `{restart_command}` (rolling, one short write \
             gap) or apply again with --restart",
            if changed.is_empty() {
                String::new()
            } else {
                format!(" for {}", changed.join(", "))
            },
        ));
    }
    Ok(steps)
}
