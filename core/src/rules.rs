//! HA rules that JSON Schema cannot express: warnings, cross-field limits and checks
//! that need arithmetic.
//!
//! Rules read the values with defaults filled in and skip any value of the wrong
//! type (the schema pass has reported it), so they still run when another part of
//! the file is wrong.

use serde_json::Value;

use crate::codes::Code;
use crate::diagnostic::{MAX_DIAGNOSTICS, Reporter, Severity};
use crate::limits::{MAX_MIB_PER_MILLICORE, MIN_CPU_MILLICORES, MIN_MEMORY_MIB};
use crate::pg_parameters;
use crate::quantity::{cpu_millicores, memory_mebibytes};
use crate::render::patroni::{Override, parameter_override};
use crate::schema::{did_you_mean, dotted};
use crate::values::{MAX_IDENTIFIER_BYTES, TimingPreset, Values};
use crate::yaml::Document;

/// Passwords that are rejected as well-known defaults (compared case-insensitively).
const COMMON_PASSWORDS: &[&str] = &[
    "password", "postgres", "changeme", "admin", "secret", "123456", "12345678", "qwerty",
    "letmein", "welcome", "default",
];

/// Words that mark a password as a placeholder left from an example, wherever they
/// occur in it (compared without case, `-`, `_` or spaces).
const PLACEHOLDER_WORDS: &[&str] = &[
    "replaceme",
    "changeme",
    "example",
    "placeholder",
    "yourpassword",
    "mypassword",
    "password",
    "secret",
    "xxxx",
    "todo",
    "fixme",
    "dummy",
    "sample",
    "insert",
    "redacted",
];

/// Shortest password that is not flagged as weak.
pub const MIN_PASSWORD_CHARS: usize = 12;

struct Ctx<'a> {
    doc: &'a Document,
    merged: Value,
}

impl Ctx<'_> {
    fn get(&self, pointer: &str) -> Option<&Value> {
        self.merged.pointer(pointer)
    }

    fn u64(&self, pointer: &str) -> Option<u64> {
        self.get(pointer).and_then(Value::as_u64)
    }

    fn str(&self, pointer: &str) -> Option<&str> {
        self.get(pointer).and_then(Value::as_str)
    }

    fn bool(&self, pointer: &str) -> Option<bool> {
        self.get(pointer).and_then(Value::as_bool)
    }

    fn written(&self, pointer: &str) -> bool {
        self.doc.node(pointer).is_some()
    }
}

/// Runs every rule over `doc`.
pub(crate) fn check(doc: &Document, reporter: &mut Reporter<'_>) {
    let defaults = serde_json::to_value(Values::default()).unwrap_or(Value::Null);
    let ctx = Ctx {
        doc,
        merged: merge(defaults, &doc.value),
    };
    topology(&ctx, reporter);
    for resources in ["/resources", "/etcd/resources", "/proxy/resources"] {
        quantities(&ctx, resources, reporter);
    }
    for access in ["/internal_access", "/etcd/internal_access"] {
        access_rules(&ctx, access, reporter);
    }
    timing(&ctx, reporter);
    parameters(&ctx, reporter);
    password(&ctx, reporter);
    names(&ctx, reporter);
}

/// Role and database names within 63 bytes: JSON Schema counts characters, and
/// PostgreSQL would silently cut a longer UTF-8 name to a different one.
fn names(ctx: &Ctx<'_>, reporter: &mut Reporter<'_>) {
    for pointer in ["/postgres/username", "/postgres/database"] {
        if let Some(name) = ctx.str(pointer)
            && name.len() > MAX_IDENTIFIER_BYTES
            && name.chars().count() <= MAX_IDENTIFIER_BYTES
        {
            reporter.report(
                Code::InvalidIdentifier,
                pointer,
                ctx.doc.span_of(pointer),
                format!(
                    "{} cannot be a PostgreSQL name: it has {} bytes in UTF-8, and PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
                    dotted(pointer),
                    name.len()
                ),
                Some("shorten it; characters outside ASCII take 2 to 4 bytes each".into()),
            );
        }
    }
}

/// `overlay` written over `base`, mapping by mapping.
fn merge(base: Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(mut base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                let merged = match base.remove(key) {
                    Some(existing) => merge(existing, value),
                    None => value.clone(),
                };
                base.insert(key.clone(), merged);
            }
            Value::Object(base)
        }
        (_, overlay) => overlay.clone(),
    }
}

fn topology(ctx: &Ctx<'_>, reporter: &mut Reporter<'_>) {
    let replicas = ctx.u64("/replicas");
    if let Some(n @ 1..=2) = replicas {
        reporter.report(
            Code::ReplicasNotHa,
            "/replicas",
            ctx.doc.span_of("/replicas"),
            format!(
                "replicas is {n}: {}",
                if n == 1 {
                    "nothing takes over when the only member fails"
                } else {
                    "after one failure the survivor has no standby"
                }
            ),
            Some("use 3 members for automatic failover with a standby to spare".into()),
        );
    }
    // R005 (more than 7 members) is retired: the schema caps etcd at 5 (R007).
    if ctx.u64("/etcd/replicas") == Some(1) {
        reporter.report(
            Code::EtcdNotHa,
            "/etcd/replicas",
            ctx.doc.span_of("/etcd/replicas"),
            "a single etcd member: losing it stops leader election and demotes the primary",
            Some("use 3 etcd members".into()),
        );
    }
    let strict = ctx.bool("/patroni/synchronous_mode").unwrap_or(false)
        && ctx
            .bool("/patroni/synchronous_mode_strict")
            .unwrap_or(false);
    if strict && replicas == Some(1) {
        let at = if ctx.written("/patroni/synchronous_mode_strict") {
            "/patroni/synchronous_mode_strict"
        } else {
            "/replicas"
        };
        reporter.report(
            Code::StrictWithoutStandby,
            at,
            ctx.doc.span_of(at),
            "strict synchronous mode with a single member: every write would wait forever",
            Some("use `replicas: 3`, or set `synchronous_mode_strict: false`".into()),
        );
    }
}

fn quantities(ctx: &Ctx<'_>, resources: &str, reporter: &mut Reporter<'_>) {
    let cpu_pointer = format!("{resources}/cpu");
    let memory_pointer = format!("{resources}/memory");
    let text = |pointer: &str| match ctx.get(pointer) {
        Some(Value::String(s)) => Some((s.clone(), false)),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f > 0.0) => {
            Some((n.to_string(), true))
        }
        _ => None,
    };
    let cpu = text(&cpu_pointer);
    let memory = text(&memory_pointer);
    for (pointer, quantity, what) in [
        (&cpu_pointer, &cpu, "cores"),
        (&memory_pointer, &memory, "bytes"),
    ] {
        if let Some((value, true)) = quantity
            && ctx.written(pointer)
        {
            reporter.report(
                Code::QuantityAsNumber,
                pointer,
                ctx.doc.span_of(pointer),
                format!(
                    "{} is a YAML number ({what}); it is sent as the string \"{value}\"",
                    dotted(pointer)
                ),
                Some(format!("quote it: \"{value}\"")),
            );
        }
    }
    let millicores = cpu.as_ref().and_then(|(t, _)| cpu_millicores(t));
    let mebibytes = memory.as_ref().and_then(|(t, _)| memory_mebibytes(t));
    if let Some(mc) = millicores
        && mc < MIN_CPU_MILLICORES
    {
        reporter.report(
            Code::CpuTooSmall,
            &cpu_pointer,
            ctx.doc.span_of(&cpu_pointer),
            format!(
                "{} is {mc}m, below Control Plane's minimum of 25m",
                dotted(&cpu_pointer)
            ),
            Some("use at least \"25m\"".into()),
        );
    }
    if let Some(mib) = mebibytes
        && mib < MIN_MEMORY_MIB
    {
        let bare = memory
            .as_ref()
            .is_some_and(|(t, _)| t.bytes().all(|b| b.is_ascii_digit()));
        reporter.report(
            Code::MemoryTooSmall,
            &memory_pointer,
            ctx.doc.span_of(&memory_pointer),
            format!(
                "{} is {}, below Control Plane's minimum of 32Mi",
                dotted(&memory_pointer),
                format_mib(mib)
            ),
            Some(if bare {
                "a bare number is bytes: add a suffix, e.g. \"2Gi\"".into()
            } else {
                "use at least \"32Mi\"".into()
            }),
        );
    }
    if let (Some(mc), Some(mib)) = (millicores, mebibytes)
        && mc >= MIN_CPU_MILLICORES
        && mib >= MIN_MEMORY_MIB
        && mib / mc > MAX_MIB_PER_MILLICORE
    {
        let at = if ctx.written(&memory_pointer) {
            &memory_pointer
        } else {
            &cpu_pointer
        };
        reporter.report(
            Code::MemoryCpuRatio,
            at,
            ctx.doc.span_of(at),
            format!(
                "{} MiB of memory for {mc}m of CPU is {:.1} MiB per millicore; Control Plane allows 8",
                format_number(mib),
                mib / mc
            ),
            Some(format!(
                "raise {} to at least \"{}m\" or lower {} to at most \"{}Mi\"",
                dotted(&cpu_pointer),
                (mib / MAX_MIB_PER_MILLICORE).ceil(),
                dotted(&memory_pointer),
                (mc * MAX_MIB_PER_MILLICORE).floor()
            )),
        );
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

fn format_mib(mib: f64) -> String {
    if mib < 1.0 {
        format!("{} bytes", format_number(mib * 1024.0 * 1024.0))
    } else {
        format!("{} MiB", format_number(mib))
    }
}

fn access_rules(ctx: &Ctx<'_>, access: &str, reporter: &mut Reporter<'_>) {
    let workloads = format!("{access}/workloads");
    let listed = ctx
        .get(&workloads)
        .and_then(Value::as_array)
        .is_some_and(|w| !w.is_empty());
    if ctx.str(&format!("{access}/type")) == Some("same-org") && listed {
        reporter.report(
            Code::WorkloadsIgnored,
            &workloads,
            ctx.doc.key_span_of(&workloads),
            format!(
                "{} is ignored because {}.type is `same-org`",
                dotted(&workloads),
                dotted(access)
            ),
            Some(
                "remove the list, or use `type: workload-list` to admit only these workloads"
                    .into(),
            ),
        );
    }
}

fn timing(ctx: &Ctx<'_>, reporter: &mut Reporter<'_>) {
    let preset = ctx
        .get("/patroni/timing/preset")
        .and_then(|p| serde_json::from_value::<TimingPreset>(p.clone()).ok());
    let Some(preset) = preset else { return };
    let base = preset.timers();
    let timer = |key: &str, default: u32| match ctx.get(&format!("/patroni/timing/{key}")) {
        None | Some(Value::Null) => Some(default),
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()),
    };
    let (Some(ttl), Some(loop_wait), Some(retry)) = (
        timer("ttl", base.ttl),
        timer("loop_wait", base.loop_wait),
        timer("retry_timeout", base.retry_timeout),
    ) else {
        return;
    };
    // Below-minimum timers are P001 (schema); the sum rule is only meaningful above them.
    if ttl < 20 || loop_wait < 1 || retry < 3 {
        return;
    }
    if u64::from(loop_wait) + 2 * u64::from(retry) > u64::from(ttl) {
        let at = ["retry_timeout", "loop_wait", "ttl"]
            .iter()
            .map(|k| format!("/patroni/timing/{k}"))
            .find(|p| ctx.written(p))
            .unwrap_or_else(|| "/patroni/timing".to_owned());
        let largest_retry = ttl.saturating_sub(loop_wait) / 2;
        let fix_retry = if largest_retry >= 3 {
            format!("lower retry_timeout to {largest_retry} or ")
        } else {
            String::new()
        };
        reporter.report(
            Code::TimingRule,
            &at,
            ctx.doc.span_of(&at),
            format!(
                "loop_wait + 2 × retry_timeout = {loop_wait} + 2 × {retry} = {} exceeds ttl = {ttl}",
                loop_wait + 2 * retry
            ),
            Some(format!("{fix_retry}raise ttl to {}", loop_wait + 2 * retry)),
        );
    }
}

fn parameters(ctx: &Ctx<'_>, reporter: &mut Reporter<'_>) {
    let Some(Value::Object(parameters)) = ctx.get("/postgres/parameters") else {
        return;
    };
    let members = ctx.u64("/replicas").unwrap_or(0);
    let synchronous = ctx.bool("/patroni/synchronous_mode").unwrap_or(false);
    let mut suggestions_left = MAX_DIAGNOSTICS;
    for (name, value) in parameters {
        let pointer = format!("/postgres/parameters/{}", crate::yaml::escape_segment(name));
        let key_span = ctx.doc.key_span_of(&pointer);
        if pg_parameters::is_custom(name) {
            continue;
        }
        let Some(setting) = pg_parameters::lookup(name) else {
            // Only the first problems are shown: suggest for those, not for a
            // file's worth of made-up names.
            let help = if suggestions_left > 0 && name.len() <= 63 {
                suggestions_left -= 1;
                did_you_mean(name, &pg_parameters::names())
                    .map(|best| format!("did you mean `{best}`?"))
            } else {
                None
            };
            reporter.report(
                Code::UnknownParameter,
                &pointer,
                key_span,
                format!("`{name}` is not a PostgreSQL 17 parameter"),
                Some(help.unwrap_or_else(|| {
                    "check the name; an extension's parameters have a dot (`pg_stat_statements.max`)"
                        .into()
                })),
            );
            continue;
        };
        if setting.context == "internal" {
            reporter.report(
                Code::UnknownParameter,
                &pointer,
                key_span,
                format!("`{name}` is fixed when PostgreSQL is built and cannot be set"),
                Some("remove it".into()),
            );
            continue;
        }
        let value_span = ctx.doc.span_of(&pointer);
        match parameter_override(name) {
            Some(Override::Never) => {
                reporter.report(
                    Code::ManagedParameter,
                    &pointer,
                    key_span,
                    format!(
                        "`{name}` is managed by Patroni and postgres-ha and cannot be set here"
                    ),
                    Some("remove it; the cluster sets it for replication and failover".into()),
                );
                continue;
            }
            Some(Override::Choices(choices)) => {
                let text = value.as_str().map(str::to_ascii_lowercase);
                if !text.as_deref().is_some_and(|t| choices.contains(&t)) {
                    reporter.report(
                        Code::UnsafeParameterValue,
                        &pointer,
                        value_span,
                        format!(
                            "{} must be {} for streaming replication",
                            dotted(&pointer),
                            choices
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        ),
                        Some(format!("use `{}` (the default) or remove it", choices[0])),
                    );
                    continue;
                }
            }
            Some(Override::AtLeastMembersPlus(extra)) => {
                let minimum = members + u64::from(extra);
                if let Some(n) = value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    && n < minimum
                {
                    reporter.report(
                        Code::UnsafeParameterValue,
                        &pointer,
                        value_span,
                        format!(
                            "{} is {n}; {members} members need at least {minimum} (one per member plus {extra} for a new member's base backup)",
                            dotted(&pointer)
                        ),
                        Some(format!("raise it to {minimum} or more, or remove it for the default")),
                    );
                    continue;
                }
            }
            Some(Override::Free) | None => {}
        }
        if let Some(problem) = pg_parameters::value_problem(setting, value) {
            reporter.report(
                Code::InvalidParameterValue,
                &pointer,
                value_span,
                format!("{} {problem}", dotted(&pointer)),
                Some("PostgreSQL would refuse to start with it; `SHOW ALL` in psql lists the accepted forms".into()),
            );
            continue;
        }
        let commits_locally = match value {
            Value::Bool(on) => !on,
            Value::String(v) => matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "off" | "of" | "local" | "false" | "f" | "no" | "n" | "0"
            ),
            _ => false,
        };
        if setting.name == "synchronous_commit" && synchronous && commits_locally {
            reporter.report(
                Code::SynchronousCommitWeakened,
                &pointer,
                value_span,
                format!(
                    "{} is off or local, so commits would not wait for the synchronous standby that `patroni.synchronous_mode` promises",
                    dotted(&pointer)
                ),
                Some("use `on`, `remote_write` or `remote_apply`, or set `patroni.synchronous_mode: false`".into()),
            );
        }
    }
}

fn password(ctx: &Ctx<'_>, reporter: &mut Reporter<'_>) {
    let Some(password) = ctx.str("/postgres/password") else {
        return;
    };
    if password.is_empty() {
        return; // the schema's minimum length reports it
    }
    let lower = password.to_lowercase();
    let squeezed: String = lower
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' ' | '.'))
        .collect();
    let reason = if COMMON_PASSWORDS.contains(&lower.as_str()) {
        Some("it is a well-known default".to_owned())
    } else if PLACEHOLDER_WORDS.iter().any(|w| squeezed.contains(w))
        || (password.starts_with('<') && password.ends_with('>'))
        || (password.starts_with("${") && password.ends_with('}'))
    {
        Some("it looks like a placeholder from an example".to_owned())
    } else if ctx
        .str("/postgres/username")
        .is_some_and(|u| u.eq_ignore_ascii_case(password))
    {
        Some("it equals the username".to_owned())
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(format!("it has fewer than {MIN_PASSWORD_CHARS} characters"))
    } else {
        None
    };
    if let Some(reason) = reason {
        let written = ctx.written("/postgres/password");
        reporter.report_with(
            Code::WeakPassword,
            Severity::Warning,
            "/postgres/password",
            ctx.doc.span_of("/postgres/password"),
            format!(
                "postgres.password is weak: {reason}{}",
                if written {
                    ""
                } else {
                    " (the default is used)"
                }
            ),
            Some("use a long random password, e.g. from `openssl rand -base64 24`".into()),
        );
    }
}
