//! Patroni's REST API and etcd's v3 HTTP gateway, on loopback.

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postgres_ha_core::operate::ClusterView;
use postgres_ha_core::render::{ETCD_ROOT_USER, EtcdUser, already_done, auth_steps};
use serde_json::{Value, json};

pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .unwrap_or_default()
}

/// The cluster as the first answering member sees it.
pub(crate) fn view(client: &reqwest::blocking::Client, api_ports: &[u16]) -> Option<ClusterView> {
    api_ports.iter().find_map(|port| {
        let response = client
            .get(format!("http://127.0.0.1:{port}/cluster"))
            .send()
            .ok()?;
        ClusterView::from_json(&response.text().ok()?).ok()
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

/// An etcd authentication token for `user`, from the first member that gives one.
pub(crate) fn etcd_token(
    client: &reqwest::blocking::Client,
    etcd_ports: &[u16],
    user: &str,
    password: &str,
) -> Option<(u16, String)> {
    etcd_ports.iter().find_map(|port| {
        let answer: Value = client
            .post(format!("http://127.0.0.1:{port}/v3/auth/authenticate"))
            .json(&json!({"name": user, "password": password}))
            .send()
            .ok()?
            .json()
            .ok()?;
        Some((*port, answer["token"].as_str()?.to_owned()))
    })
}

/// Turns etcd authentication on (users, a role limited to the cluster's keys, then
/// `auth enable`), unless `root` can already log in. Every step tolerates having been
/// done before, so an interrupted set-up completes on the next start.
pub(crate) fn enable_etcd_auth(
    client: &reqwest::blocking::Client,
    etcd_ports: &[u16],
    scope: &str,
    password: &dyn Fn(EtcdUser) -> String,
) -> anyhow::Result<()> {
    if etcd_token(
        client,
        etcd_ports,
        ETCD_ROOT_USER,
        &password(EtcdUser::Root),
    )
    .is_some()
    {
        return Ok(());
    }
    let port = *etcd_ports.first().context("no etcd member")?;
    for step in auth_steps(scope) {
        let (path, body) = step.request(password);
        let answer: Value = client
            .post(format!("http://127.0.0.1:{port}{path}"))
            .json(&body)
            .send()
            .and_then(reqwest::blocking::Response::json)
            .with_context(|| format!("etcd did not answer {path}"))?;
        if let Some(error) = answer["error"].as_str().or(answer["message"].as_str())
            && !already_done(error)
        {
            anyhow::bail!("etcd refused {path}: {error}");
        }
    }
    anyhow::ensure!(
        etcd_token(
            client,
            etcd_ports,
            ETCD_ROOT_USER,
            &password(EtcdUser::Root)
        )
        .is_some(),
        "etcd authentication was set up, but root cannot log in"
    );
    Ok(())
}

/// Deletes `key`, as the Patroni etcd user (whose role may change only the cluster's
/// keys).
pub(crate) fn delete_key(
    client: &reqwest::blocking::Client,
    etcd_ports: &[u16],
    credentials: (&str, &str),
    key: &str,
) -> anyhow::Result<()> {
    let (port, token) = etcd_token(client, etcd_ports, credentials.0, credentials.1)
        .context("no etcd member gives the Patroni user a token")?;
    let answer: Value = client
        .post(format!("http://127.0.0.1:{port}/v3/kv/deleterange"))
        .header("Authorization", token)
        .json(&json!({"key": STANDARD.encode(key)}))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .context("etcd did not answer a delete")?;
    if let Some(error) = answer["error"].as_str() {
        anyhow::bail!("etcd refused to delete {key}: {error}");
    }
    Ok(())
}

/// Deletes the leader key if, and only if, it still names `member` (one etcd
/// transaction: compare the value, then delete), as the Patroni etcd user. Returns
/// whether it was deleted.
pub(crate) fn release_leader(
    client: &reqwest::blocking::Client,
    etcd_ports: &[u16],
    credentials: (&str, &str),
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
    let Some((port, token)) = etcd_token(client, etcd_ports, credentials.0, credentials.1) else {
        return false;
    };
    client
        .post(format!("http://127.0.0.1:{port}/v3/kv/txn"))
        .header("Authorization", token)
        .json(&body)
        .send()
        .ok()
        .and_then(|r| r.json::<Value>().ok())
        .is_some_and(|v| v["succeeded"] == true)
}
