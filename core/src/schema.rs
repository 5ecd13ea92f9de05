//! `values.schema.json`: generated from [`Values`], and the JSON Schema pass of
//! validation.
//!
//! Schema errors are turned into diagnostics here. Where a schema constraint is the
//! encoding of an HA rule (odd etcd members, quantity forms, workload links), the
//! error is attributed to that rule's code, so a user sees `R003`, not a generic
//! "not" failure, and the schema stays the single source of those constraints.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::codes::Code;
use crate::diagnostic::Reporter;
use crate::quantity::{suggest_cpu, suggest_memory};
use crate::secrets::is_secret_key;
use crate::values::Values;
use crate::yaml::{Document, type_phrase};

/// The `$id` of the schema, so editors can cache it.
pub(crate) const SCHEMA_ID: &str = "https://postgres-ha.invalid/values.schema.json";

/// The generated schema as a JSON value.
#[must_use]
pub(crate) fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = SchemaSettings::draft2020_12().into_generator();
        let mut generated = generator.into_root_schema_for::<Values>().to_value();
        unwrap_descriptions(&mut generated);
        // Identification first, so the file reads like a schema from its first lines.
        let mut ordered = serde_json::Map::new();
        ordered.insert("$id".into(), Value::String(SCHEMA_ID.into()));
        if let Value::Object(rest) = generated {
            for key in ["$schema", "title", "description"] {
                if let Some(value) = rest.get(key) {
                    ordered.insert(key.into(), value.clone());
                }
            }
            for (key, value) in rest {
                ordered.entry(key).or_insert(value);
            }
        }
        Value::Object(ordered)
    })
}

/// Doc comments wrap at 90 columns; editors show descriptions verbatim, so join
/// wrapped lines and keep only paragraph breaks.
fn unwrap_descriptions(node: &mut Value) {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "description"
                    && let Value::String(text) = value
                {
                    *text = text
                        .split("\n\n")
                        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                        .collect::<Vec<_>>()
                        .join("\n\n");
                } else {
                    unwrap_descriptions(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The schema as checked in: pretty JSON with a final newline.
#[must_use]
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(schema()).unwrap_or_default();
    text.push('\n');
    text
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // The schema is generated from our own types and covered by tests; failing to
        // compile it is a build defect, not an input error.
        jsonschema::validator_for(schema()).expect("generated schema compiles")
    })
}

/// Every property name the schema knows, at any depth (`password`, `replicas`, …).
#[must_use]
pub(crate) fn is_known_key(key: &str) -> bool {
    static KEYS: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        fn walk(node: &Value, keys: &mut std::collections::HashSet<String>) {
            match node {
                Value::Object(map) => {
                    if let Some(Value::Object(properties)) = map.get("properties") {
                        keys.extend(properties.keys().cloned());
                    }
                    map.values().for_each(|v| walk(v, keys));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
                _ => {}
            }
        }
        let mut keys = std::collections::HashSet::new();
        walk(schema(), &mut keys);
        keys
    })
    .contains(key)
}

/// Validates `doc` against the schema, reporting every violation.
pub(crate) fn check(doc: &Document, reporter: &mut Reporter<'_>) {
    let report = |f: Finding, reporter: &mut Reporter<'_>| {
        let span = if f.at_key {
            doc.key_span_of(&f.pointer)
        } else {
            doc.span_of(&f.pointer)
        };
        reporter.report(f.code, &f.pointer, span, f.message, f.help);
    };
    // A value can break a generic constraint and a rule at once (a number where the
    // `workload-list` branch wants a list): keep the more specific finding only.
    // Specific findings are reported at once; generic ones wait until every
    // specific pointer is known. Both sets grow linearly with the errors.
    let mut specific = std::collections::HashSet::new();
    let mut generic = Vec::new();
    for error in validator().iter_errors(&doc.value) {
        let pointer = error.instance_path().as_str().to_owned();
        let from_then = error.schema_path().as_str().contains("/then/");
        for f in describe(doc, &pointer, error.kind(), from_then) {
            if f.code.as_str().starts_with('S') {
                generic.push(f);
            } else {
                specific.insert(f.pointer.clone());
                report(f, reporter);
            }
        }
    }
    for f in generic {
        if !specific.contains(&f.pointer) {
            report(f, reporter);
        }
    }
}

struct Finding {
    code: Code,
    pointer: String,
    message: String,
    help: Option<String>,
    /// Underline the key rather than the value (unknown and missing keys).
    at_key: bool,
}

impl Finding {
    fn new(code: Code, pointer: &str, message: String, help: Option<String>) -> Self {
        Self {
            code,
            pointer: pointer.to_owned(),
            message,
            help,
            at_key: false,
        }
    }
}

/// Dotted form of a pointer for messages: `/etcd/replicas` → `etcd.replicas`.
#[must_use]
pub(crate) fn dotted(pointer: &str) -> String {
    let dotted = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                format!("[{s}]")
            } else {
                format!(".{}", s.replace("~1", "/").replace("~0", "~"))
            }
        })
        .collect::<String>();
    let dotted = dotted.trim_start_matches('.');
    if dotted.is_empty() {
        "the document".to_owned()
    } else {
        dotted.to_owned()
    }
}

/// Whether the value at `pointer` is, or could hold, a secret: under a secret key, or
/// text that equals or contains a secret written elsewhere (an alias of it).
fn is_secret(doc: &Document, pointer: &str, value: Option<&Value>) -> bool {
    pointer.split('/').any(is_secret_key)
        || match value {
            Some(Value::String(s)) => doc.secrets.touches(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => doc.secrets.is_secret(&v.to_string()),
            _ => false,
        }
}

/// The value for a message: quoted, shortened, or "the value" when it is hidden.
fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) if s.chars().count() > 40 => {
            format!("`{}…`", s.chars().take(40).collect::<String>())
        }
        Some(Value::String(s)) => format!("`{s}`"),
        Some(v) => format!("`{v}`"),
        None => "the value".to_owned(),
    }
}

fn last_segment(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or("")
}

fn describe(
    doc: &Document,
    pointer: &str,
    kind: &ValidationErrorKind,
    from_then: bool,
) -> Vec<Finding> {
    let value = doc.value.pointer(pointer);
    // What messages may quote: nothing, when the value is or could be a secret.
    let visible = value.filter(|v| !is_secret(doc, pointer, Some(v)));
    let name = dotted(pointer);
    if let Some(finding) = attribute(pointer, &name, value, visible, kind, from_then) {
        return vec![finding];
    }
    let generic = |code, message| vec![Finding::new(code, pointer, message, None)];
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let child = format!("{}/{}", pointer, crate::yaml::escape_segment(key));
                let allowed = allowed_keys(pointer);
                let help = if key == "<<" {
                    Some("YAML merge keys are not supported; write the keys out".to_owned())
                } else {
                    did_you_mean(key, &allowed).map_or_else(
                        || Some(format!("known keys here: {}", allowed.join(", "))),
                        |best| Some(format!("did you mean `{best}`?")),
                    )
                };
                Finding {
                    at_key: true,
                    ..Finding::new(
                        Code::UnknownKey,
                        &child,
                        format!("unknown key `{key}` in {name}"),
                        help,
                    )
                }
            })
            .collect(),
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => article(&t.to_string()).to_owned(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| article(&t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let found = value.map_or("missing", type_phrase);
            let help = visible.and_then(Value::as_str).and_then(|text| {
                let word = text.to_ascii_lowercase();
                if expected == "a boolean"
                    && matches!(word.as_str(), "yes" | "no" | "on" | "off" | "y" | "n")
                {
                    let truth = matches!(word.as_str(), "yes" | "on" | "y");
                    Some(format!(
                        "YAML 1.2 reads `{text}` as a string (only YAML 1.1 called it a boolean); write `{truth}`"
                    ))
                } else if expected.contains("integer") || expected.contains("number") {
                    let digits = text.trim_start_matches(['-', '+']);
                    (digits.starts_with(|c: char| c.is_ascii_digit())
                        && text.parse::<f64>().is_ok_and(f64::is_infinite))
                    .then(|| format!("`{text}` is too large to be a number"))
                } else {
                    None
                }
            });
            vec![Finding::new(
                Code::InvalidType,
                pointer,
                format!("{name} must be {expected}, but it is {found}"),
                help,
            )]
        }
        ValidationErrorKind::Enum { options } => {
            let choices = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| format!("`{}`", o.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let mut finding = Finding::new(
                Code::InvalidEnum,
                pointer,
                format!("{} is not a valid {name}", shown(visible)),
                Some(format!("use one of {choices}")),
            );
            if let (Some(Value::String(given)), Some(options)) = (visible, options.as_array()) {
                let options: Vec<String> = options
                    .iter()
                    .filter_map(|o| o.as_str().map(str::to_owned))
                    .collect();
                if let Some(best) = did_you_mean(given, &options) {
                    finding.help = Some(format!("did you mean `{best}`?"));
                }
            }
            vec![finding]
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => generic(
            Code::OutOfRange,
            format!("{name} is {}, below the minimum of {limit}", shown(visible)),
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => generic(
            Code::OutOfRange,
            format!("{name} is {}, above the maximum of {limit}", shown(visible)),
        ),
        ValidationErrorKind::Pattern { pattern } => generic(
            Code::InvalidFormat,
            format!(
                "{} is not a valid {name} (expected the form `{pattern}`)",
                shown(visible)
            ),
        ),
        ValidationErrorKind::MinLength { limit } => generic(
            Code::InvalidFormat,
            format!(
                "{name} must have at least {limit} character{}",
                plural(*limit)
            ),
        ),
        ValidationErrorKind::MaxLength { limit } => generic(
            Code::InvalidFormat,
            format!("{name} must have at most {limit} characters"),
        ),
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or("?");
            vec![Finding {
                at_key: true,
                ..Finding::new(
                    Code::MissingKey,
                    pointer,
                    format!("{name} is missing the key `{key}`"),
                    Some(format!(
                        "add `{key}:`; `cpln-postgres-ha schema` describes it"
                    )),
                )
            }]
        }
        _ => generic(
            Code::SchemaViolation,
            format!("{name} is not valid here ({})", kind.keyword()),
        ),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A JSON Schema type name in the words of YAML users.
fn article(type_name: &str) -> &'static str {
    match type_name {
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "boolean" => "a boolean",
        "array" => "a list",
        "object" => "a mapping",
        _ => "empty",
    }
}

/// Errors that encode a specific rule get that rule's code and wording.
fn attribute(
    pointer: &str,
    name: &str,
    value: Option<&Value>,
    visible: Option<&Value>,
    kind: &ValidationErrorKind,
    from_then: bool,
) -> Option<Finding> {
    use ValidationErrorKind as K;
    let last = last_segment(pointer);
    let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
    let finding = |code, message: String, help: Option<String>| {
        Some(Finding::new(code, pointer, message, help))
    };
    match (last, kind) {
        ("replicas", K::Minimum { .. }) if matches!(pointer, "/replicas" | "/etcd/replicas") => {
            finding(
                Code::ReplicasBelowOne,
                format!(
                    "{name} is {}; at least 1 member is needed",
                    shown(visible)
                ),
                Some("use 3 members for high availability".into()),
            )
        }
        ("replicas", K::Not { .. }) if pointer == "/etcd/replicas" => finding(
            Code::EtcdEven,
            format!(
                "etcd.replicas is {}, an even number; etcd needs an odd member count",
                shown(visible)
            ),
            visible.and_then(Value::as_u64).map(|n| {
                format!(
                    "use {} (same failure tolerance, one fewer vote needed) or {}",
                    n.saturating_sub(1).max(1),
                    n + 1
                )
            }),
        ),
        ("cpu" | "memory", _) if parent.ends_with("/resources") => {
            let memory = last == "memory";
            let suggestion = match visible {
                Some(Value::String(s)) if memory => suggest_memory(s),
                Some(Value::String(s)) => suggest_cpu(s),
                _ => None,
            };
            let help = suggestion.map_or_else(
                || {
                    Some(if memory {
                        "write bytes with a suffix, e.g. \"512Mi\" or \"2Gi\"".to_owned()
                    } else {
                        "write cores or millicores, e.g. \"1\", \"0.5\" or \"500m\"".to_owned()
                    })
                },
                |s| Some(format!("did you mean \"{s}\"?")),
            );
            finding(
                Code::InvalidQuantity,
                format!(
                    "{} is not a valid {} quantity for {name}",
                    shown(visible),
                    if memory { "memory" } else { "CPU" }
                ),
                help,
            )
        }
        ("retention", K::Pattern { .. }) if parent == "/etcd/compaction" => finding(
            Code::CompactionRetention,
            if from_then {
                format!(
                    "{} is not a whole number of revisions",
                    shown(visible)
                )
            } else {
                format!("{} is not a duration with a unit", shown(visible))
            },
            Some(match visible.and_then(Value::as_str) {
                Some(s) if !from_then && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("etcd would read `{s}` as {s} hours; write `{s}h` or `{s}m`")
                }
                _ if from_then => "write a count such as `1000`".to_owned(),
                _ => "write a duration such as `30m` or `1h`".to_owned(),
            }),
        ),
        ("capacity", K::Minimum { .. } | K::Maximum { .. }) if parent.ends_with("/volumeset") => {
            finding(
                Code::CapacityOutOfRange,
                format!(
                    "{name} is {} GiB; volume sets hold 10 to 65536 GiB",
                    shown(visible)
                ),
                None,
            )
        }
        ("ttl" | "loop_wait" | "retry_timeout", K::Minimum { limit })
            if parent == "/patroni/timing" =>
        {
            finding(
                Code::TimingBelowMinimum,
                format!(
                    "{name} is {} s, below Patroni's minimum of {limit} s",
                    shown(visible)
                ),
                None,
            )
        }
        (_, K::Pattern { .. }) if parent.ends_with("/internal_access/workloads") => finding(
            Code::InvalidWorkloadLink,
            format!("{} is not a workload link", shown(visible)),
            Some(match visible.and_then(Value::as_str) {
                Some(s) if !s.contains('/') => {
                    format!("write the full link, e.g. `//gvc/GVC/workload/{s}`")
                }
                Some(s) if fixed_link(s).is_some() => format!(
                    "Control Plane names are lower-case letters, digits and `-`: `{}`",
                    fixed_link(s).unwrap_or_default()
                ),
                _ => "links have the form `//gvc/GVC/workload/NAME`".to_owned(),
            }),
        ),
        ("workloads", _) if from_then => finding(
            Code::WorkloadListEmpty,
            if matches!(value, Some(Value::Array(_) | Value::Null)) {
                format!(
                    "{} is `workload-list` but lists no workloads",
                    dotted(parent)
                )
            } else {
                format!(
                    "{name} must list workload links because {}.type is `workload-list`",
                    dotted(parent)
                )
            },
            Some("list the workloads allowed to connect, e.g. `- //gvc/GVC/workload/NAME`".into()),
        ),
        (_, K::AnyOf { .. }) if parent == "/postgres/parameters" => finding(
            Code::InvalidType,
            format!(
                "{name} must be a string, a number or a boolean, but it is {}",
                value.map_or("missing", type_phrase)
            ),
            None,
        ),
        ("internal_access", K::Required { .. }) if from_then => Some(Finding {
            at_key: true,
            ..Finding::new(
                Code::WorkloadListEmpty,
                pointer,
                format!("{name} is `workload-list` but has no `workloads`"),
                Some("add `workloads:` with the links allowed to connect".into()),
            )
        }),
        ("username" | "database", K::Pattern { .. } | K::MinLength { .. } | K::MaxLength { .. })
            if parent == "/postgres" =>
        {
            let why = match kind {
                K::Pattern { .. } => "it contains a NUL character",
                K::MinLength { .. } => "it is empty",
                _ => "it is longer than 63 characters, and PostgreSQL keeps at most 63 bytes",
            };
            finding(
                Code::InvalidIdentifier,
                format!("{name} cannot be a PostgreSQL name: {why}"),
                Some("use 1 to 63 bytes without NUL; any other character is fine, names are quoted".into()),
            )
        }
        ("password", K::Pattern { .. }) if parent == "/postgres" => finding(
            Code::InvalidPassword,
            "postgres.password contains a NUL character, which PostgreSQL cannot store in a password".into(),
            Some("remove the NUL (`\\0` in a quoted string)".into()),
        ),
        ("replicas", K::Maximum { limit }) if matches!(pointer, "/replicas" | "/etcd/replicas") => {
            finding(
                Code::ReplicasAbovePlatformLimit,
                format!(
                    "{name} is {}, above {limit}: Control Plane gives per-member addresses to at most {} replicas",
                    shown(visible),
                    crate::limits::MAX_REPLICA_DIRECT
                ),
                Some(if pointer == "/replicas" {
                    "use 3 members (or up to 6)".into()
                } else {
                    "use 3 or 5 etcd members".into()
                }),
            )
        }
        ("username" | "database", K::Not { .. }) if parent == "/postgres" => finding(
            Code::ReservedName,
            format!(
                "{} is reserved and cannot be used as {name}",
                shown(visible)
            ),
            Some("choose an application name, e.g. `app`".into()),
        ),
        _ => None,
    }
}

/// A workload link with its names made valid (lower case, `_` and other characters
/// as `-`), if that gives a valid link.
fn fixed_link(link: &str) -> Option<String> {
    let parts: Vec<&str> = link.split('/').collect();
    let [_, _, "gvc", gvc, "workload", name] = parts.as_slice() else {
        return None;
    };
    let fix = |name: &str| {
        let mut out: String = name
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        while out.contains("--") {
            out = out.replace("--", "-");
        }
        out.trim_matches('-').to_owned()
    };
    let fixed = format!("//gvc/{}/workload/{}", fix(gvc), fix(name));
    let valid = is_workload_link(&fixed);
    (valid && fixed != link).then_some(fixed)
}

/// Whether `link` matches [`crate::values::WORKLOAD_LINK_PATTERN`], checked with the
/// same validator the schema uses.
fn is_workload_link(link: &str) -> bool {
    static LINK: OnceLock<jsonschema::Validator> = OnceLock::new();
    LINK.get_or_init(|| {
        jsonschema::validator_for(&serde_json::json!({
            "type": "string",
            "pattern": crate::values::WORKLOAD_LINK_PATTERN
        }))
        .expect("the link pattern compiles")
    })
    .is_valid(&Value::String(link.to_owned()))
}

/// The property names the schema allows at an instance pointer.
fn allowed_keys(pointer: &str) -> Vec<String> {
    let root = schema();
    let mut node = root;
    for segment in pointer.split('/').skip(1) {
        node = resolve(root, node);
        node = match node.get("properties").and_then(|p| p.get(segment)) {
            Some(child) => child,
            None => match node.get("items") {
                Some(items) => items,
                None => return Vec::new(),
            },
        };
    }
    resolve(root, node)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Follows a local `$ref` (`#/$defs/Name`).
fn resolve<'s>(root: &'s Value, node: &'s Value) -> &'s Value {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
        .unwrap_or(node)
}

/// The closest candidate to a misspelt word, if one is close enough to suggest.
#[must_use]
pub(crate) fn did_you_mean(given: &str, candidates: &[String]) -> Option<String> {
    let given_lower = given.to_lowercase().replace('-', "_");
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&given_lower, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in `values.schema.json` must match the model. Run with
    /// `UPDATE_SCHEMA=1` to rewrite it after changing `values.rs`.
    #[test]
    fn checked_in_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../values.schema.json");
        let expected = schema_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &expected).unwrap();
            return;
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "values.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p postgres-ha-core checked_in_schema_is_current`"
        );
    }

    #[test]
    fn merge_keys_get_a_specific_hint() {
        let checked = crate::check_str("base: &b {cpu: 1}\nresources:\n  <<: *b\n");
        let merge = checked
            .diagnostics
            .iter()
            .find(|d| d.path == "/resources/<<")
            .unwrap();
        assert_eq!(merge.code, Code::UnknownKey);
        assert_eq!(
            merge.help.as_deref(),
            Some("YAML merge keys are not supported; write the keys out")
        );
    }

    fn only(text: &str, code: Code) -> crate::Diagnostic {
        let checked = crate::check_str(text);
        let mut found: Vec<_> = checked
            .diagnostics
            .into_iter()
            .filter(|d| d.code == code)
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        found.remove(0)
    }

    #[test]
    fn attributed_messages_say_what_is_wrong() {
        let d = only(
            "internal_access: {type: workload-list, workloads: 5}\n",
            Code::WorkloadListEmpty,
        );
        assert!(
            d.message.contains("must list workload links"),
            "{}",
            d.message
        );
        let d = only(
            "internal_access: {type: workload-list, workloads: []}\n",
            Code::WorkloadListEmpty,
        );
        assert!(d.message.contains("lists no workloads"), "{}", d.message);
        let d = only(
            "internal_access: {type: workload-list, workloads: [\"//gvc/A/workload/b\"]}\n",
            Code::InvalidWorkloadLink,
        );
        assert_eq!(
            d.help.as_deref(),
            Some(
                "Control Plane names are lower-case letters, digits and `-`: `//gvc/a/workload/b`"
            )
        );
        let d = only(
            "internal_access: {type: workload-list, workloads: [\"//gvc/prod/workload/Web_App\"]}\n",
            Code::InvalidWorkloadLink,
        );
        assert_eq!(
            d.help.as_deref(),
            Some(
                "Control Plane names are lower-case letters, digits and `-`: `//gvc/prod/workload/web-app`"
            )
        );
        let d = only(
            "postgres: {parameters: {shared_buffers: [1]}}\n",
            Code::InvalidType,
        );
        assert_eq!(
            d.message,
            "postgres.parameters.shared_buffers must be a string, a number or a boolean, but it is a list"
        );
        let d = only("internal_access: {workloads: 5}\n", Code::InvalidType);
        assert_eq!(
            d.message,
            "internal_access.workloads must be empty or a list, but it is an integer"
        );
    }

    #[test]
    fn suggests_close_keys_only() {
        let keys: Vec<String> = ["replicas", "resources", "postgres"]
            .map(String::from)
            .into();
        assert_eq!(did_you_mean("replica", &keys).as_deref(), Some("replicas"));
        assert_eq!(did_you_mean("Postgres", &keys).as_deref(), Some("postgres"));
        assert_eq!(did_you_mean("zzz", &keys), None);
    }

    #[test]
    fn dotted_paths_read_naturally() {
        assert_eq!(dotted("/etcd/replicas"), "etcd.replicas");
        assert_eq!(
            dotted("/internal_access/workloads/2"),
            "internal_access.workloads[2]"
        );
        assert_eq!(dotted(""), "the document");
    }
}
