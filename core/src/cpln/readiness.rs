//! Whether a workload's latest version runs everywhere it should, by the rule the cpln
//! CLI applies for `apply --ready`, and why not: the reasons the API only gives in its
//! deployments (a missing secret wedges a deployment silently otherwise).

use serde_json::Value;

/// A workload's readiness across its locations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Some location runs a ready version.
    pub ready: bool,
    /// Every location that should run the workload runs its latest version, ready.
    pub ready_latest: bool,
    /// What the deployments say about versions and containers that are not ready,
    /// without repeats.
    pub messages: Vec<String>,
}

/// `workload`: the workload as GET returns it; `deployments`: its `/deployment` list.
#[must_use]
pub fn readiness(workload: &Value, deployments: &Value) -> Readiness {
    let version = workload["version"].as_u64().unwrap_or(0);
    let items = deployments["items"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let synced = |d: &Value| {
        d["status"]["ready"] == Value::Bool(true)
            && d["status"]["internal"]["syncFailed"] != Value::Bool(true)
    };
    let latest = |d: &Value| {
        let status = &d["status"];
        let expected = &status["expectedDeploymentVersion"];
        synced(d)
            && status["lastProcessedVersion"].as_u64().unwrap_or(0) >= version
            && status["versions"].as_array().is_some_and(|versions| {
                versions
                    .iter()
                    .any(|v| &v["workload"] == expected && v["ready"] == Value::Bool(true))
            })
    };
    let wanted = locations_that_run(workload, items);
    let mut messages = Vec::new();
    let mut note = |text: &Value| {
        if let Some(text) = text.as_str().filter(|t| !t.is_empty())
            && !messages.iter().any(|m| m == text)
        {
            messages.push(text.to_owned());
        }
    };
    for d in items {
        note(&d["status"]["message"]);
        for v in d["status"]["versions"].as_array().into_iter().flatten() {
            if v["ready"] != Value::Bool(true) {
                note(&v["message"]);
                for c in v["containers"]
                    .as_object()
                    .into_iter()
                    .flat_map(|c| c.values())
                {
                    note(&c["message"]);
                }
            }
        }
    }
    Readiness {
        ready: items.iter().any(synced),
        ready_latest: !items.is_empty() && items.iter().filter(|d| latest(d)).count() >= wanted,
        messages,
    }
}

/// How many locations should run the workload: all its deployments but those whose
/// local options suspend it or scale it to zero.
fn locations_that_run(workload: &Value, deployments: &[Value]) -> usize {
    let stopped = |location: &str| {
        workload["spec"]["localOptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| {
                o["location"]
                    .as_str()
                    .is_some_and(|l| l.rsplit('/').next() == Some(location))
            })
            .any(|o| {
                o["suspend"] == Value::Bool(true)
                    || (o["autoscaling"]["minScale"] == 0 && o["autoscaling"]["maxScale"] == 0)
            })
    };
    deployments
        .iter()
        .filter(|d| !stopped(d["name"].as_str().unwrap_or_default()))
        .count()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(location: &str, processed: u64, expected: u64, ready: bool) -> Value {
        json!({"name": location, "status": {
        "ready": true, "lastProcessedVersion": processed,
        "expectedDeploymentVersion": expected,
        "versions": [
            {"workload": expected - 1, "ready": true},
            {"workload": expected, "ready": ready,
             "message": if ready { "" } else { "secret db-credentials not found" },
             "containers": {"pg": {"ready": ready, "message": if ready { "" } else { "waiting" }}}}
        ]}})
    }

    #[test]
    fn the_latest_version_must_be_ready_in_every_running_location() {
        let workload = json!({"version": 7, "spec": {"localOptions": [
            {"location": "//location/aws-eu-central-1", "suspend": true}]}});
        let both = json!({"items": [deployment("aws-us-east-2", 7, 7, true),
                                    deployment("gcp-us-east1", 7, 7, true)]});
        let r = readiness(&workload, &both);
        assert!(r.ready && r.ready_latest && r.messages.is_empty());

        let wedged = json!({"items": [deployment("aws-us-east-2", 7, 7, true),
                                      deployment("gcp-us-east1", 7, 7, false)]});
        let r = readiness(&workload, &wedged);
        assert!(r.ready && !r.ready_latest);
        assert_eq!(r.messages, ["secret db-credentials not found", "waiting"]);

        // The old version is ready but the new one not yet processed.
        let behind = json!({"items": [deployment("aws-us-east-2", 6, 7, true)]});
        assert!(!readiness(&workload, &behind).ready_latest);
        // A suspended location does not count.
        let with_suspended = json!({"items": [deployment("aws-us-east-2", 7, 7, true),
            {"name": "aws-eu-central-1", "status": {"ready": false}}]});
        assert!(readiness(&workload, &with_suspended).ready_latest);
        assert_eq!(readiness(&workload, &json!({})), Readiness::default());
    }
}
