//! PostgreSQL server parameters: which names exist, and which values PostgreSQL 17
//! accepts for them, so `postgres.parameters` is refused here rather than by a member
//! that cannot start. The table itself is generated from the pinned server
//! (`pg_settings.rs`).

use serde_json::Value;

use crate::pg_settings::SETTINGS;

/// A parameter's type, as `pg_settings.vartype` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Integer,
    Real,
    Enum,
    String,
}

/// One row of `pg_settings`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Setting {
    pub name: &'static str,
    pub kind: Kind,
    /// Base unit (`8kB`, `kB`, `MB`, `B`, `ms`, `s`, `min`) or empty.
    pub unit: &'static str,
    pub min: &'static str,
    pub max: &'static str,
    pub choices: &'static [&'static str],
    /// `internal` parameters are fixed when PostgreSQL is built and cannot be set.
    pub context: &'static str,
}

/// The setting named `name`, compared without case as PostgreSQL does.
#[must_use]
pub(crate) fn lookup(name: &str) -> Option<&'static Setting> {
    let lower = name.to_ascii_lowercase();
    SETTINGS
        .binary_search_by(|s| s.name.to_ascii_lowercase().cmp(&lower))
        .ok()
        .map(|i| &SETTINGS[i])
}

/// PostgreSQL's own spelling of a parameter name (`DateStyle` for `datestyle`).
#[must_use]
pub(crate) fn canonical_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|s| s.name)
}

/// Every parameter name, for "did you mean".
#[must_use]
pub(crate) fn names() -> Vec<String> {
    SETTINGS.iter().map(|s| s.name.to_owned()).collect()
}

/// Custom parameters (`extension.name`) are the extension's to check.
#[must_use]
pub(crate) fn is_custom(name: &str) -> bool {
    name.contains('.')
}

/// The words PostgreSQL reads as a boolean: `on`/`off`, `true`/`false`, `yes`/`no`,
/// `1`/`0`, and unique prefixes of them.
fn parses_as_bool(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    if t.is_empty() {
        return false;
    }
    matches!(t.as_str(), "on" | "off" | "of" | "1" | "0")
        || ["true", "false", "yes", "no"]
            .iter()
            .any(|w| w.starts_with(t.as_str()))
}

/// Size of one unit in the smallest unit of its class (bytes, or microseconds).
fn unit_size(unit: &str) -> Option<(bool, f64)> {
    let memory = |n: f64| Some((true, n));
    let time = |n: f64| Some((false, n));
    match unit {
        "B" => memory(1.0),
        "kB" => memory(1024.0),
        "8kB" => memory(8192.0),
        "MB" => memory(1024.0 * 1024.0),
        "GB" => memory(1024.0 * 1024.0 * 1024.0),
        "TB" => memory(1024.0 * 1024.0 * 1024.0 * 1024.0),
        "us" => time(1.0),
        "ms" => time(1e3),
        "s" => time(1e6),
        "min" => time(60e6),
        "h" => time(3600e6),
        "d" => time(86_400e6),
        _ => None,
    }
}

/// Splits `128MB` into `(128.0, "MB")`; a bare number has an empty unit.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let parsed = number.parse::<f64>().ok().or_else(|| {
        let hex = number.strip_prefix("0x")?;
        i32::from_str_radix(hex, 16).ok().map(f64::from)
    });
    parsed.filter(|n| n.is_finite()).map(|n| (n, unit.trim()))
}

/// Why `value` is not a valid value of `setting`, if it is not.
#[must_use]
pub(crate) fn value_problem(setting: &Setting, value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None, // the schema reports other types
    };
    match setting.kind {
        Kind::String => None,
        Kind::Bool => {
            (!parses_as_bool(&text)).then(|| "is not a boolean (use `on` or `off`)".to_owned())
        }
        Kind::Enum => {
            let lower = text.trim().to_ascii_lowercase();
            let known = setting
                .choices
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&lower));
            // Enums with on/off take every boolean spelling too (hidden aliases).
            let boolean = setting.choices.contains(&"on") && parses_as_bool(&lower);
            (!known && !boolean).then(|| {
                format!(
                    "is not one of {}",
                    setting
                        .choices
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        }
        Kind::Integer | Kind::Real => numeric_problem(setting, &text),
    }
}

fn numeric_problem(setting: &Setting, text: &str) -> Option<String> {
    let Some((number, unit)) = number_and_unit(text) else {
        return Some(format!(
            "is not a number{}",
            if setting.unit.is_empty() {
                String::new()
            } else {
                format!(
                    " (with an optional unit; the base unit is {})",
                    setting.unit
                )
            }
        ));
    };
    let base = unit_size(setting.unit);
    let in_base = if unit.is_empty() {
        number
    } else {
        let (Some((memory, size)), Some((base_memory, base_size))) = (unit_size(unit), base) else {
            return Some(if setting.unit.is_empty() {
                format!("takes no unit, but `{unit}` is given")
            } else {
                format!("has the unknown unit `{unit}`")
            });
        };
        if memory != base_memory {
            return Some(format!(
                "takes a {} unit, but `{unit}` is given",
                if base_memory { "memory" } else { "time" }
            ));
        }
        number * size / base_size
    };
    let in_base = if setting.kind == Kind::Integer {
        in_base.round()
    } else {
        in_base
    };
    let bound = |b: &str| b.parse::<f64>().ok();
    let unit_note = if setting.unit.is_empty() {
        String::new()
    } else {
        format!(" (in {})", setting.unit)
    };
    if let Some(min) = bound(setting.min)
        && in_base < min
    {
        return Some(format!(
            "is below PostgreSQL's minimum of {}{unit_note}",
            setting.min
        ));
    }
    if let Some(max) = bound(setting.max)
        && in_base > max
    {
        return Some(format!(
            "is above PostgreSQL's maximum of {}{unit_note}",
            setting.max
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[allow(clippy::needless_pass_by_value)] // reads better with json! literals
    fn problem(name: &str, value: Value) -> Option<String> {
        value_problem(lookup(name).unwrap(), &value)
    }

    #[test]
    fn table_is_sorted_for_lookup() {
        assert!(
            SETTINGS
                .windows(2)
                .all(|w| { w[0].name.to_ascii_lowercase() < w[1].name.to_ascii_lowercase() })
        );
        assert_eq!(canonical_name("datestyle"), Some("DateStyle"));
        assert!(lookup("max_connection").is_none());
    }

    #[test]
    fn values_are_checked_like_postgresql() {
        assert_eq!(problem("shared_buffers", json!("128MB")), None);
        assert_eq!(problem("shared_buffers", json!(16384)), None);
        assert!(
            problem("shared_buffers", json!("128XB"))
                .unwrap()
                .contains("unknown unit")
        );
        assert!(
            problem("shared_buffers", json!("1s"))
                .unwrap()
                .contains("memory unit")
        );
        assert!(
            problem("shared_buffers", json!("64kB"))
                .unwrap()
                .contains("minimum")
        );
        assert_eq!(problem("statement_timeout", json!("5min")), None);
        assert_eq!(problem("statement_timeout", json!(0)), None);
        assert_eq!(problem("max_connections", json!(200)), None);
        assert!(
            problem("max_connections", json!(0))
                .unwrap()
                .contains("minimum")
        );
        assert!(
            problem("max_connections", json!("many"))
                .unwrap()
                .contains("not a number")
        );
        assert!(
            problem("max_connections", json!("10MB"))
                .unwrap()
                .contains("takes no unit")
        );
        assert_eq!(problem("random_page_cost", json!(1.1)), None);
        assert_eq!(problem("jit", json!("off")), None);
        assert_eq!(problem("jit", json!(false)), None);
        assert!(problem("jit", json!("maybe")).is_some());
        assert_eq!(problem("wal_level", json!("LOGICAL")), None);
        assert!(
            problem("wal_level", json!("archive-ish"))
                .unwrap()
                .contains("`logical`")
        );
        assert_eq!(problem("synchronous_commit", json!("remote_apply")), None);
        assert_eq!(problem("huge_pages", json!("try")), None);
        assert_eq!(problem("application_name", json!("anything")), None);
    }
}
