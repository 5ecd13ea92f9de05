//! Patroni's REST API and etcd's v3 HTTP gateway, on loopback.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .unwrap_or_default()
}

/// One member as Patroni's `GET /cluster` reports it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) state: String,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) api_url: Option<String>,
    pub(crate) timeline: Option<u64>,
    /// Bytes behind the leader; Patroni says "unknown" when it cannot tell.
    pub(crate) lag: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ClusterView {
    members: Vec<Member>,
}

/// The cluster as the first answering member sees it.
pub(crate) fn cluster(
    client: &reqwest::blocking::Client,
    api_ports: &[u16],
) -> Option<Vec<Member>> {
    api_ports.iter().find_map(|port| {
        let response = client
            .get(format!("http://127.0.0.1:{port}/cluster"))
            .send()
            .ok()?;
        response.json::<ClusterView>().ok().map(|view| view.members)
    })
}

/// Whether an etcd member answers its health check.
pub(crate) fn etcd_healthy(client: &reqwest::blocking::Client, port: u16) -> bool {
    client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .ok()
        .and_then(|r| r.json::<Value>().ok())
        .is_some_and(|v| v["health"] == "true" || v["health"] == true)
}

/// Deletes the leader key if, and only if, it still names `member` (one etcd
/// transaction: compare the value, then delete). Returns whether it was deleted.
pub(crate) fn release_leader(
    client: &reqwest::blocking::Client,
    etcd_ports: &[u16],
    key: &str,
    member: &str,
) -> bool {
    let body = json!({
        "compare": [{
            "key": STANDARD.encode(key),
            "result": "EQUAL",
            "target": "VALUE",
            "value": STANDARD.encode(member),
        }],
        "success": [{"request_delete_range": {"key": STANDARD.encode(key)}}],
    });
    etcd_ports.iter().any(|port| {
        client
            .post(format!("http://127.0.0.1:{port}/v3/kv/txn"))
            .json(&body)
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["succeeded"] == true)
    })
}
