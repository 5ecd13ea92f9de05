//! Checks rendered resources against Control Plane's constraints (names and lengths,
//! quantities and ratios, reserved ports and paths, volume URI forms, enums, links)
//! and Patroni's timer rule. Every render runs it; a finding is a postgres-ha defect.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cpln::Kind;
use crate::limits;
use crate::quantity::{CPU_PATTERN, MEMORY_PATTERN, cpu_millicores, memory_mebibytes};

const RESERVED_PORTS: [u64; 11] = [
    8012, 8022, 9090, 9091, 15000, 15001, 15006, 15020, 15021, 15090, 41000,
];
const RESERVED_CONTAINERS: [&str; 7] = [
    "istio-proxy",
    "queue-proxy",
    "istio-validation",
    "cpln-envoy-assassin",
    "cpln-writer-proxy",
    "cpln-reader-proxy",
    "cpln-dbaas-config",
];
const RESERVED_PATHS: [&str; 5] = ["/dev", "/dev/log", "/tmp", "/var", "/var/log"];
const VOLUME_SCHEMES: [&str; 7] = ["s3", "gs", "azureblob", "azurefs", "cpln", "scratch", "k8s"];

/// Every constraint broken by `resources`, as sentences; empty when all hold.
#[must_use]
pub fn lint(resources: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut report = |at: &str, message: String| problems.push(format!("{at}: {message}"));
    let secrets: Vec<&Value> = resources.iter().filter(|r| r["kind"] == "secret").collect();
    let mut previous: Option<Kind> = None;
    let mut seen = BTreeSet::new();
    for resource in resources {
        let kind = resource["kind"].as_str().unwrap_or_default();
        let name = resource["name"].as_str().unwrap_or_default();
        let at = format!("{kind} {name}");
        // The API's kinds and their apply order and scope have one owner: cpln::Kind.
        let Some(typed) = Kind::parse(kind) else {
            report(&at, format!("unexpected kind `{kind}`"));
            continue;
        };
        if previous.is_some_and(|p| typed < p) {
            let order: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            report(&at, format!("out of apply order ({})", order.join(", ")));
        }
        previous = Some(typed);
        if !seen.insert((kind, name)) {
            report(&at, "rendered twice".into());
        }
        let max = match kind {
            "workload" => limits::MAX_WORKLOAD_NAME,
            "volumeset" => limits::MAX_VOLUMESET_NAME,
            _ => limits::MAX_NAME,
        };
        if !valid_name(name) || name.len() > max {
            report(
                &at,
                format!("name is not a valid Control Plane name of at most {max} characters"),
            );
        }
        let tags = resource["tags"].as_object();
        if tags.is_none_or(|t| t.len() > 50) {
            report(&at, "tags missing or more than 50".into());
        }
        for tag in [
            "app.cpln.io/instance",
            "app.cpln.io/name",
            "app.cpln.io/managed-by",
        ] {
            if tags.is_none_or(|t| !t.contains_key(tag)) {
                report(&at, format!("tag `{tag}` missing"));
            }
        }
        if let Some(description) = resource["description"].as_str()
            && (description.len() > 250 || description.trim() != description)
        {
            report(
                &at,
                "description longer than 250 characters or padded".into(),
            );
        }
        if typed.in_gvc() != resource.get("gvc").is_some() {
            report(&at, "`gvc` must be set exactly on GVC-scoped kinds".into());
        }
        match kind {
            "secret" => secret(resource, &mut report, &at),
            "volumeset" => volumeset(resource, &mut report, &at),
            "policy" => policy(resource, resources, &mut report, &at),
            "workload" => workload(resource, resources, &secrets, &mut report, &at),
            _ => {}
        }
    }
    problems
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn pattern_matches(pattern: &str, text: &str) -> bool {
    // The quantity patterns are simple enough to check with the parsers that back them.
    match pattern {
        CPU_PATTERN => cpu_millicores(text).is_some(),
        MEMORY_PATTERN => memory_mebibytes(text).is_some(),
        _ => false,
    }
}

fn secret(resource: &Value, report: &mut impl FnMut(&str, String), at: &str) {
    match resource["type"].as_str() {
        Some("dictionary") => {
            for key in resource["data"]
                .as_object()
                .into_iter()
                .flat_map(|d| d.keys())
            {
                if key.is_empty()
                    || !key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                {
                    report(
                        at,
                        format!("dictionary key `{key}` is not of the form [-._a-zA-Z0-9]+"),
                    );
                }
            }
        }
        Some("opaque") => {
            if resource["data"]["payload"]
                .as_str()
                .is_none_or(str::is_empty)
                || !matches!(
                    resource["data"]["encoding"].as_str(),
                    Some("plain" | "base64")
                )
            {
                report(at, "opaque secret needs a payload and an encoding".into());
            }
            if resource["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-patroni-config"))
            {
                patroni_timers(resource, report, at);
            }
        }
        other => report(at, format!("unexpected secret type {other:?}")),
    }
}

fn patroni_timers(resource: &Value, report: &mut impl FnMut(&str, String), at: &str) {
    let payload = resource["data"]["payload"].as_str().unwrap_or_default();
    let Ok(config) = serde_yaml::from_str::<Value>(payload) else {
        report(at, "Patroni configuration is not YAML".into());
        return;
    };
    let dcs = &config["bootstrap"]["dcs"];
    let timer = |key: &str| dcs[key].as_u64().unwrap_or(0);
    let (ttl, loop_wait, retry) = (timer("ttl"), timer("loop_wait"), timer("retry_timeout"));
    if ttl < 20 || loop_wait < 1 || retry < 3 || loop_wait + 2 * retry > ttl {
        report(
            at,
            format!(
                "Patroni timers ttl {ttl} / loop_wait {loop_wait} / retry_timeout {retry} break the rule"
            ),
        );
    }
    if !config["etcd3"]["hosts"].is_array() || config["etcd3"].get("host").is_some() {
        report(
            at,
            "etcd3 must list `hosts`, never a comma-joined `host`".into(),
        );
    }
}

fn volumeset(resource: &Value, report: &mut impl FnMut(&str, String), at: &str) {
    let spec = &resource["spec"];
    if !spec["initialCapacity"].as_u64().is_some_and(|c| {
        (u64::from(limits::MIN_VOLUME_GIB)..=u64::from(limits::MAX_VOLUME_GIB)).contains(&c)
    }) {
        report(
            at,
            format!(
                "initialCapacity must be an integer from {} to {}",
                limits::MIN_VOLUME_GIB,
                limits::MAX_VOLUME_GIB
            ),
        );
    }
    if !matches!(
        spec["performanceClass"].as_str(),
        Some("general-purpose-ssd" | "high-throughput-ssd" | "shared")
    ) {
        report(at, "performanceClass is not a known class".into());
    }
    if !matches!(
        spec["fileSystemType"].as_str(),
        Some("ext4" | "xfs" | "shared")
    ) {
        report(at, "fileSystemType is not ext4, xfs or shared".into());
    }
}

fn policy(resource: &Value, resources: &[Value], report: &mut impl FnMut(&str, String), at: &str) {
    let targets: BTreeSet<&str> = resource["targetLinks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if targets.is_empty() || targets.len() > 200 {
        report(at, "targetLinks must hold 1 to 200 links".into());
    }
    // `reveal` on exactly the secrets the workloads use: no more, no fewer.
    let used: BTreeSet<String> = resources
        .iter()
        .filter(|r| r["kind"] == "workload")
        .flat_map(secret_references)
        .map(|name| format!("//secret/{name}"))
        .collect();
    let used: BTreeSet<&str> = used.iter().map(String::as_str).collect();
    if targets != used {
        report(
            at,
            format!("reveals {targets:?} but the workloads use {used:?}"),
        );
    }
    for binding in resource["bindings"].as_array().into_iter().flatten() {
        for principal in binding["principalLinks"].as_array().into_iter().flatten() {
            let link = principal.as_str().unwrap_or_default();
            let parts: Vec<&str> = link.split('/').collect();
            // An identity link without its GVC is silently ignored by the platform.
            if !(parts.len() == 6 && parts[2] == "gvc" && parts[4] == "identity") {
                report(
                    at,
                    format!("principal `{link}` is not //gvc/GVC/identity/NAME"),
                );
            }
        }
    }
}

/// Names of the secrets a workload mounts or references in its environment.
fn secret_references(workload: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for container in workload["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let env = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["value"]);
        let volumes = container["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| &v["uri"]);
        for text in env.chain(volumes).filter_map(Value::as_str) {
            if let Some(rest) = text.strip_prefix("cpln://secret/") {
                names.push(rest.split('.').next().unwrap_or_default().to_owned());
            }
        }
    }
    names
}

fn workload(
    resource: &Value,
    resources: &[Value],
    secrets: &[&Value],
    report: &mut impl FnMut(&str, String),
    at: &str,
) {
    let spec = &resource["spec"];
    let kind = spec["type"].as_str().unwrap_or_default();
    if !matches!(kind, "serverless" | "standard" | "stateful" | "cron") {
        report(at, format!("type `{kind}` is not a workload type"));
    }
    if resource["name"]
        .as_str()
        .is_some_and(|n| n.ends_with("-headless"))
    {
        report(at, "workload names must not end with -headless".into());
    }
    let gvc = resource["gvc"].as_str().unwrap_or_default();
    let identity = spec["identityLink"].as_str().unwrap_or_default();
    let identity_rendered = resources.iter().any(|r| {
        r["kind"] == "identity"
            && identity
                == format!(
                    "//gvc/{gvc}/identity/{}",
                    r["name"].as_str().unwrap_or_default()
                )
    });
    if !identity_rendered {
        report(
            at,
            format!("identityLink `{identity}` is not a rendered identity of this GVC"),
        );
    }
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() || containers.len() > 8 {
        report(at, "a workload has 1 to 8 containers".into());
    }
    let mut ports = BTreeSet::new();
    for container in &containers {
        container_checks(container, kind, secrets, resources, &mut ports, report, at);
    }
    let options = &spec["defaultOptions"];
    let scaling = &options["autoscaling"];
    if !matches!(
        scaling["metric"].as_str(),
        Some("concurrency" | "cpu" | "memory" | "rps" | "latency" | "keda" | "disabled")
    ) {
        report(at, "autoscaling.metric is not a known metric".into());
    }
    let (min, max) = (scaling["minScale"].as_u64(), scaling["maxScale"].as_u64());
    if min.is_none() || max.is_none() || min > max {
        report(
            at,
            "minScale and maxScale must be set with minScale ≤ maxScale".into(),
        );
    }
    if kind == "stateful" && options["capacityAI"] != Value::Bool(false) {
        report(at, "Capacity AI must be off for stateful workloads".into());
    }
    if kind == "stateful" && spec["rolloutOptions"]["scalingPolicy"] != "Parallel" {
        report(
            at,
            "stateful workloads must start members in parallel (OrderedReady can deadlock a cluster whose member 0 cannot lead)".into(),
        );
    }
    if spec["loadBalancer"]["replicaDirect"] == Value::Bool(true) {
        if kind != "stateful" {
            report(at, "replicaDirect is for stateful workloads only".into());
        }
        if max.is_some_and(|m| m > u64::from(limits::MAX_REPLICA_DIRECT)) {
            report(
                at,
                format!(
                    "replica-direct workloads are capped at {} replicas",
                    limits::MAX_REPLICA_DIRECT
                ),
            );
        }
    }
    let internal = &spec["firewallConfig"]["internal"];
    if !matches!(
        internal["inboundAllowType"].as_str(),
        Some("none" | "same-gvc" | "same-org" | "workload-list")
    ) {
        report(at, "inboundAllowType is not a known type".into());
    }
    for link in internal["inboundAllowWorkload"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let segments: Vec<&str> = link.as_str().unwrap_or_default().split('/').collect();
        if !(segments.len() == 6
            && segments[2] == "gvc"
            && segments[4] == "workload"
            && valid_name(segments[5]))
        {
            report(
                at,
                format!("inboundAllowWorkload entry {link} is not //gvc/GVC/workload/NAME"),
            );
        }
    }
    if spec["firewallConfig"]["external"]["inboundAllowCIDR"]
        .as_array()
        .is_none_or(|c| !c.is_empty())
    {
        report(at, "no external inbound access is rendered".into());
    }
    let rollout = &spec["rolloutOptions"];
    if kind == "stateful" && rollout.get("maxUnavailableReplicas").is_some() {
        report(
            at,
            "maxUnavailableReplicas is dropped by the API for stateful workloads".into(),
        );
    }
    if rollout["terminationGracePeriodSeconds"]
        .as_u64()
        .is_none_or(|g| g > 900)
    {
        report(at, "terminationGracePeriodSeconds must be 0 to 900".into());
    }
    let security = &spec["securityOptions"];
    for key in ["filesystemGroupId", "runAsUser"] {
        if let Some(id) = security.get(key)
            && !id
                .as_u64()
                .is_some_and(|id| (1..=65534).contains(&id) && id != 1337)
        {
            report(
                at,
                format!("securityOptions.{key} must be 1 to 65534 and not 1337"),
            );
        }
    }
}

fn container_checks(
    container: &Value,
    workload_type: &str,
    secrets: &[&Value],
    resources: &[Value],
    ports: &mut BTreeSet<u64>,
    report: &mut impl FnMut(&str, String),
    at: &str,
) {
    let name = container["name"].as_str().unwrap_or_default();
    let at = &format!("{at} container {name}");
    if !valid_name(name)
        || name.len() > 64
        || name.starts_with("cpln-")
        || name.starts_with("debugger-")
        || RESERVED_CONTAINERS.contains(&name)
    {
        report(at, "container name is invalid or reserved".into());
    }
    let (cpu, memory) = (&container["cpu"], &container["memory"]);
    match (cpu.as_str(), memory.as_str()) {
        (Some(cpu), Some(memory))
            if pattern_matches(CPU_PATTERN, cpu) && pattern_matches(MEMORY_PATTERN, memory) =>
        {
            let millicores = cpu_millicores(cpu).unwrap_or_default();
            let mebibytes = memory_mebibytes(memory).unwrap_or_default();
            if millicores < 25.0 || mebibytes < 32.0 || mebibytes / millicores > 8.0 {
                report(
                    at,
                    format!(
                        "cpu {cpu} / memory {memory} break the minimums or the 8 MiB per millicore ratio"
                    ),
                );
            }
        }
        _ => report(at, "cpu and memory must be quantity strings".into()),
    }
    for port in container["ports"].as_array().into_iter().flatten() {
        let number = port["number"].as_u64().unwrap_or(0);
        if !(80..=65535).contains(&number) || RESERVED_PORTS.contains(&number) {
            report(at, format!("port {number} is out of range or reserved"));
        }
        if !ports.insert(number) {
            report(at, format!("port {number} is used twice in the workload"));
        }
        if !matches!(
            port["protocol"].as_str(),
            Some("http" | "http2" | "grpc" | "tcp")
        ) {
            report(at, format!("port {number} has an unknown protocol"));
        }
    }
    for variable in container["env"].as_array().into_iter().flatten() {
        let key = variable["name"].as_str().unwrap_or_default();
        let value = variable["value"].as_str().unwrap_or_default();
        let key_ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || "-._".contains(c))
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            && key.len() <= 120
            && !key.starts_with("CPLN_")
            && !matches!(key, "K_SERVICE" | "K_CONFIGURATION" | "K_REVISION");
        if !key_ok || value.len() > 4096 {
            report(
                at,
                format!("environment variable `{key}` has an invalid name or value"),
            );
        }
        if let Some(reference) = value.strip_prefix("cpln://secret/") {
            let (secret_name, key) = reference.split_once('.').unwrap_or((reference, ""));
            let found = secrets.iter().find(|s| s["name"] == secret_name);
            if found.is_none_or(|s| s["data"].get(key).is_none()) {
                report(at, format!("`{value}` names no rendered secret key"));
            }
        }
    }
    let volumes = container["volumes"].as_array().cloned().unwrap_or_default();
    if volumes.len() > 15 {
        report(at, "more than 15 volumes".into());
    }
    let mut paths: Vec<&str> = Vec::new();
    for volume in &volumes {
        let uri = volume["uri"].as_str().unwrap_or_default();
        let path = volume["path"].as_str().unwrap_or_default();
        let scheme_ok = uri
            .split_once("://")
            .is_some_and(|(s, rest)| VOLUME_SCHEMES.contains(&s) && !rest.is_empty());
        if !scheme_ok {
            report(at, format!("volume URI `{uri}` has no known scheme"));
        }
        if let Some(set) = uri.strip_prefix("cpln://volumeset/") {
            if workload_type != "stateful" {
                report(at, "volume sets mount on stateful workloads only".into());
            }
            if !resources
                .iter()
                .any(|r| r["kind"] == "volumeset" && r["name"] == set)
            {
                report(at, format!("volume set `{set}` is not rendered"));
            }
        }
        if let Some(reference) = uri.strip_prefix("cpln://secret/") {
            let (secret_name, key) = reference.split_once('.').unwrap_or((reference, ""));
            if !secrets.iter().any(|s| {
                s["name"] == secret_name && (key.is_empty() || s["data"].get(key).is_some())
            }) {
                report(at, format!("`{uri}` names no rendered secret"));
            }
        }
        if !path.starts_with('/') || RESERVED_PATHS.contains(&path) {
            report(at, format!("mount path `{path}` is relative or reserved"));
        }
        for other in &paths {
            let nested = |a: &str, b: &str| a == b || b.starts_with(&format!("{a}/"));
            if nested(other, path) || nested(path, other) {
                report(
                    at,
                    format!("mount paths `{other}` and `{path}` are equal or nested"),
                );
            }
        }
        paths.push(path);
    }
    for probe_name in ["livenessProbe", "readinessProbe"] {
        let probe = &container[probe_name];
        if probe.is_null() {
            continue;
        }
        let kinds = ["exec", "grpc", "tcpSocket", "httpGet"]
            .iter()
            .filter(|k| probe.get(**k).is_some())
            .count();
        if kinds != 1 {
            report(
                at,
                format!("{probe_name} needs exactly one of exec, grpc, tcpSocket, httpGet"),
            );
        }
        for (key, range) in [
            ("initialDelaySeconds", 0..=600),
            ("periodSeconds", 1..=600),
            ("timeoutSeconds", 1..=600),
            ("successThreshold", 1..=20),
            (
                "failureThreshold",
                1..=u64::from(limits::MAX_PROBE_FAILURES),
            ),
        ] {
            if !probe[key].as_u64().is_some_and(|v| range.contains(&v)) {
                report(
                    at,
                    format!("{probe_name}.{key} must be set within {range:?}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Credentials, Release, render};
    use crate::values::Values;

    fn rendered() -> Vec<Value> {
        let credentials = Credentials::from_fn(|key| format!("test-{}", key.secret_key()));
        let release = Release {
            name: "db".into(),
            gvc: "prod".into(),
            org: None,
        };
        render(&Values::default(), &release, &credentials).unwrap()
    }

    /// The lint is only useful if it fails: each breakage must be caught.
    #[test]
    fn catches_broken_resources() {
        assert!(lint(&rendered()).is_empty(), "{:?}", lint(&rendered()));
        let container = "/spec/containers/0";
        let cases: [(&str, &str, String, Value); 10] = [
            ("name", "db-credentials", "/name".into(), "Bad_Name".into()),
            ("quantity", "db-proxy", format!("{container}/cpu"), 1.into()),
            (
                "ratio",
                "db-proxy",
                format!("{container}/memory"),
                "64Gi".into(),
            ),
            (
                "port",
                "db-proxy",
                format!("{container}/ports/0/number"),
                15000.into(),
            ),
            (
                "path",
                "db-proxy",
                format!("{container}/volumes/0/path"),
                "/tmp".into(),
            ),
            (
                "uri",
                "db-proxy",
                format!("{container}/volumes/0/uri"),
                "ftp://x".into(),
            ),
            (
                "secret ref",
                "db-postgres",
                format!("{container}/env/0/value"),
                "cpln://secret/db-credentials.nope".into(),
            ),
            (
                "enum",
                "db-proxy",
                "/spec/firewallConfig/internal/inboundAllowType".into(),
                "everyone".into(),
            ),
            (
                "stateful rollout",
                "db-postgres",
                "/spec/rolloutOptions/maxUnavailableReplicas".into(),
                "1".into(),
            ),
            (
                "policy",
                "db-secrets",
                "/targetLinks".into(),
                serde_json::json!(["//secret/db-credentials"]),
            ),
        ];
        for (what, name, pointer, value) in cases {
            let mut resources = rendered();
            let resource = resources.iter_mut().find(|r| r["name"] == name).unwrap();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            resource.pointer_mut(parent).unwrap()[key] = value;
            assert!(!lint(&resources).is_empty(), "lint missed a broken {what}");
        }
        let mut out_of_order = rendered();
        out_of_order.swap(0, 9);
        assert!(!lint(&out_of_order).is_empty(), "lint missed the order");
        let mut timers = rendered();
        let config = timers
            .iter_mut()
            .find(|s| s["name"] == "db-patroni-config")
            .unwrap();
        let text = config["data"]["payload"]
            .as_str()
            .unwrap()
            .replace("\"ttl\": 30", "\"ttl\": 21");
        config["data"]["payload"] = text.into();
        assert!(!lint(&timers).is_empty(), "lint missed the timer rule");
    }
}
