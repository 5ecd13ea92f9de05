//! Kubernetes-style CPU and memory quantities, as Control Plane accepts them.
//!
//! Values files may write `cpu: 1` (a YAML number); the model keeps every quantity as
//! the string Control Plane expects, so rendering never sends a number.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Pattern of a CPU quantity: cores (`1`, `0.5`) or whole millicores (`500m`).
pub(crate) const CPU_PATTERN: &str = "^([0-9]+(\\.[0-9]+)?|[0-9]+m)$";
/// Pattern of a memory quantity: bytes with an optional binary or decimal suffix.
pub(crate) const MEMORY_PATTERN: &str = "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$";

macro_rules! quantity_type {
    ($name:ident, $pattern:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a quantity string without checking it (checks happen in validation).
            #[must_use]
            pub fn new(text: &str) -> Self {
                Self(text.to_owned())
            }

            /// The quantity as Control Plane receives it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // A YAML number (`cpu: 1`) is accepted and kept in its shortest text form.
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    Text(String),
                    Number(serde_json::Number),
                }
                Ok(match Raw::deserialize(deserializer)? {
                    Raw::Text(text) => Self(text),
                    Raw::Number(number) => Self(number.to_string()),
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": $doc,
                    "anyOf": [
                        {"type": "string", "pattern": $pattern},
                        {"type": "number", "exclusiveMinimum": 0}
                    ]
                })
            }
        }
    };
}

quantity_type!(
    CpuQuantity,
    CPU_PATTERN,
    "CPU quantity: cores (`\"1\"`, `\"0.5\"`) or millicores (`\"500m\"`)."
);
quantity_type!(
    MemoryQuantity,
    MEMORY_PATTERN,
    "Memory quantity: `\"512Mi\"`, `\"2Gi\"` (binary) or `\"1G\"` (decimal); a bare number is bytes."
);

/// CPU in millicores, or `None` when the text is not a CPU quantity.
#[must_use]
pub(crate) fn cpu_millicores(text: &str) -> Option<f64> {
    if let Some(milli) = text.strip_suffix('m') {
        return (!milli.is_empty() && milli.bytes().all(|b| b.is_ascii_digit()))
            .then(|| milli.parse::<f64>().ok())
            .flatten();
    }
    decimal(text).map(|cores| cores * 1000.0)
}

/// Memory in MiB, or `None` when the text is not a memory quantity.
#[must_use]
pub(crate) fn memory_mebibytes(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((text, 1.0));
    decimal(number).map(|n| n * factor / (1024.0 * 1024.0))
}

/// A plain non-negative decimal (`1`, `0.5`); no signs, exponents or spaces.
fn decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction))
        .then(|| text.parse().ok())
        .flatten()
}

/// A corrected spelling for a memory quantity written the way people often do
/// (`2GB`, `512 mb`, `1.5GiB`), or `None` if no obvious fix exists.
#[must_use]
pub(crate) fn suggest_memory(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let split = compact
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(compact.len());
    let (number, unit) = compact.split_at(split);
    decimal(number)?;
    let prefix = match unit.to_ascii_lowercase().as_str() {
        "b" | "bytes" => return Some(number.to_owned()),
        "k" | "kb" | "kib" | "ki" => "Ki",
        "m" | "mb" | "mib" | "mi" => "Mi",
        "g" | "gb" | "gib" | "gi" => "Gi",
        "t" | "tb" | "tib" | "ti" => "Ti",
        _ => return None,
    };
    let suggestion = format!("{number}{prefix}");
    (suggestion != text && memory_mebibytes(&suggestion).is_some()).then_some(suggestion)
}

/// A corrected spelling for a CPU quantity (`500 m`, `0.5 cores`, `1cpu`, `500mcpu`).
#[must_use]
pub(crate) fn suggest_cpu(text: &str) -> Option<String> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let split = compact
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(compact.len());
    let (number, unit) = compact.split_at(split);
    decimal(number)?;
    let suggestion = match unit {
        "" | "core" | "cores" | "cpu" | "cpus" | "vcpu" | "vcpus" => number.to_owned(),
        "m" | "mcpu" | "millicores" | "millicpu" if !number.contains('.') => format!("{number}m"),
        _ => return None,
    };
    (suggestion != text).then_some(suggestion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu() {
        assert_eq!(cpu_millicores("500m"), Some(500.0));
        assert_eq!(cpu_millicores("1"), Some(1000.0));
        assert_eq!(cpu_millicores("0.25"), Some(250.0));
        assert_eq!(cpu_millicores("1.5m"), None);
        assert_eq!(cpu_millicores("m"), None);
        assert_eq!(cpu_millicores("-1"), None);
        assert_eq!(cpu_millicores("1e3"), None);
    }

    #[test]
    fn parses_memory() {
        assert_eq!(memory_mebibytes("2Gi"), Some(2048.0));
        assert_eq!(memory_mebibytes("512Mi"), Some(512.0));
        assert_eq!(memory_mebibytes("1048576"), Some(1.0));
        assert!((memory_mebibytes("1G").unwrap() - 953.674).abs() < 0.001);
        assert_eq!(memory_mebibytes("2GB"), None);
        assert_eq!(memory_mebibytes("Gi"), None);
    }

    #[test]
    fn suggests_fixes() {
        assert_eq!(suggest_memory("2GB").as_deref(), Some("2Gi"));
        assert_eq!(suggest_memory("512 mb").as_deref(), Some("512Mi"));
        assert_eq!(suggest_memory("1.5GiB").as_deref(), Some("1.5Gi"));
        assert_eq!(suggest_memory("lots"), None);
        assert_eq!(suggest_memory("2Gi"), None);
        assert_eq!(suggest_cpu("500 m").as_deref(), Some("500m"));
        assert_eq!(suggest_cpu("2 cores").as_deref(), Some("2"));
        assert_eq!(suggest_cpu("fast"), None);
    }

    #[test]
    fn numbers_become_strings() {
        let cpu: CpuQuantity = serde_json::from_value(serde_json::json!(1)).unwrap();
        assert_eq!(cpu.as_str(), "1");
        let cpu: CpuQuantity = serde_json::from_value(serde_json::json!(0.5)).unwrap();
        assert_eq!(
            serde_json::to_value(&cpu).unwrap(),
            serde_json::json!("0.5")
        );
    }
}
