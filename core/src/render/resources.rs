//! The Control Plane resources of a release, in apply order.

use serde_json::{Value, json};

use super::patroni::{
    CredentialKey, ETCD_PASSWORD_ENV, PASSWORD_ENV, Topology, etcd_env, patroni_config,
};
use super::scripts::{self, MEMBER_HOME, PGDATA, POSTGRES_DIR};
use super::{Credentials, PATRONI_PORT, POSTGRES_PORT, Release};
use crate::cpln::Kind;
use crate::values::{AccessType, Resources, Values};

/// Names of everything a release creates: the one place they are derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub postgres: String,
    pub etcd: String,
    pub proxy: String,
    pub postgres_volumes: String,
    pub etcd_volumes: String,
    pub identity: String,
    pub policy: String,
    pub credentials: String,
    pub patroni: String,
    pub postgres_start: String,
    pub postgres_pre_stop: String,
    pub postgres_before_stop: String,
    pub postgres_bootstrap: String,
    pub etcd_start: String,
    pub proxy_start: String,
    pub proxy_config: String,
}

impl Names {
    #[must_use]
    pub fn new(release: &str) -> Self {
        let name = |suffix: &str| format!("{release}-{suffix}");
        Self {
            postgres: name("postgres"),
            etcd: name("etcd"),
            proxy: name("proxy"),
            postgres_volumes: name("postgres-vs"),
            etcd_volumes: name("etcd-vs"),
            identity: name("identity"),
            policy: name("secrets"),
            credentials: name("credentials"),
            patroni: name("patroni-config"),
            postgres_start: name("postgres-start"),
            postgres_pre_stop: name("postgres-pre-stop"),
            postgres_before_stop: name("postgres-before-stop"),
            postgres_bootstrap: name("postgres-bootstrap"),
            etcd_start: name("etcd-start"),
            proxy_start: name("proxy-start"),
            proxy_config: name("proxy-config"),
        }
    }
}

impl Names {
    /// Every resource a release can have, with its kind: what `destroy` removes (one
    /// these values do not render is simply absent).
    #[must_use]
    pub fn resources(&self) -> Vec<(Kind, &str)> {
        let mut all: Vec<(Kind, &str)> = [
            &self.credentials,
            &self.patroni,
            &self.postgres_start,
            &self.postgres_pre_stop,
            &self.postgres_before_stop,
            &self.postgres_bootstrap,
            &self.etcd_start,
            &self.proxy_start,
            &self.proxy_config,
        ]
        .into_iter()
        .map(|name| (Kind::Secret, name.as_str()))
        .collect();
        all.push((Kind::Identity, &self.identity));
        all.push((Kind::VolumeSet, &self.postgres_volumes));
        all.push((Kind::VolumeSet, &self.etcd_volumes));
        all.push((Kind::Policy, &self.policy));
        for workload in [&self.etcd, &self.postgres, &self.proxy] {
            all.push((Kind::Workload, workload));
        }
        all
    }
}

fn tags(release: &Release, component: &str) -> Value {
    json!({
        "app.cpln.io/component": component,
        "app.cpln.io/instance": release.name,
        "app.cpln.io/managed-by": "cpln-postgres-ha",
        "app.cpln.io/name": "postgres-ha",
    })
}

fn opaque(
    release: &Release,
    name: &str,
    component: &str,
    description: &str,
    payload: impl Into<String>,
) -> Value {
    let payload: String = payload.into();
    json!({
        "kind": "secret",
        "name": name,
        "description": description,
        "tags": tags(release, component),
        "type": "opaque",
        "data": {"encoding": "plain", "payload": payload},
    })
}

fn workload_link(gvc: &str, name: &str) -> String {
    format!("//gvc/{gvc}/workload/{name}")
}

/// `firewallConfig.internal` for a access type and its workload list (sorted and
/// de-duplicated, as the API stores it).
fn internal_firewall(access: AccessType, workloads: &[String]) -> Value {
    let kind = match access {
        AccessType::SameGvc => "same-gvc",
        AccessType::SameOrg => "same-org",
        AccessType::WorkloadList => "workload-list",
    };
    let mut list: Vec<&String> = if access == AccessType::SameOrg {
        Vec::new() // ignored by the platform; rule A003 warns about it
    } else {
        workloads.iter().collect()
    };
    list.sort();
    list.dedup();
    json!({
        "external": {"inboundAllowCIDR": [], "outboundAllowCIDR": []},
        "internal": {"inboundAllowType": kind, "inboundAllowWorkload": list},
    })
}

fn fixed_scale(replicas: u32) -> Value {
    // Fixed member count: autoscaling would add or drop database members on load.
    json!({
        "autoscaling": {"metric": "disabled", "minScale": replicas, "maxScale": replicas},
        "capacityAI": false,
    })
}

fn probe_http(
    path: &str,
    port: u16,
    initial: u32,
    period: u32,
    timeout: u32,
    failure: u32,
) -> Value {
    json!({
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "successThreshold": 1,
        "failureThreshold": failure,
    })
}

fn env(name: &str, value: impl Into<String>) -> Value {
    json!({"name": name, "value": value.into()})
}

fn container_resources(resources: &Resources) -> (String, String) {
    (
        resources.cpu.as_str().to_owned(),
        resources.memory.as_str().to_owned(),
    )
}

pub(crate) fn resources(
    values: &Values,
    release: &Release,
    credentials: &Credentials,
) -> Vec<Value> {
    let names = Names::new(&release.name);
    let gvc = release.gvc.as_str();
    let mut out = Vec::new();

    // Secrets: credentials (the only secret data), then scripts and configuration.
    let secret = |key: CredentialKey| match key {
        CredentialKey::App => values.postgres.password.clone(),
        other => credentials.get(other).unwrap_or_default().to_owned(),
    };
    let mut data = serde_json::Map::new();
    data.insert("database".into(), json!(values.postgres.database));
    for key in std::iter::once(CredentialKey::App).chain(CredentialKey::INTERNAL) {
        data.insert(key.secret_key().into(), json!(secret(key)));
    }
    data.insert("username".into(), json!(values.postgres.username));
    let mut sorted: Vec<(String, Value)> = data.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    out.push(json!({
        "kind": "secret",
        "name": names.credentials,
        "description": format!("postgres-ha {}: database credentials", release.name),
        "tags": tags(release, "credentials"),
        "type": "dictionary",
        "data": sorted.into_iter().collect::<serde_json::Map<_, _>>(),
    }));

    let etcd_hosts = (0..values.etcd.replicas)
        .map(|i| {
            format!(
                "{}:2379",
                super::replica_host(&i.to_string(), &names.etcd, "@LOCATION@", gvc)
            )
        })
        .collect();
    let member_address = super::replica_host("@INDEX@", &names.postgres, "@LOCATION@", gvc);
    let topology = Topology {
        scope: release.name.clone(),
        name: format!("{}-@INDEX@", names.postgres),
        restapi_listen: format!("0.0.0.0:{PATRONI_PORT}"),
        restapi_connect: format!("{member_address}:{PATRONI_PORT}"),
        postgres_listen: format!("0.0.0.0:{POSTGRES_PORT}"),
        postgres_connect: format!("{member_address}:{POSTGRES_PORT}"),
        etcd_hosts,
        data_dir: PGDATA.into(),
        bin_dir: None,
        pgpass: "/tmp/pgpass".into(),
        socket_dir: None,
        // The firewall decides who reaches PostgreSQL; pg_hba only demands SCRAM.
        client_networks: vec!["0.0.0.0/0".into(), "::/0".into()],
        post_bootstrap: format!("/bin/bash {POSTGRES_DIR}/post-bootstrap.sh"),
        before_stop: Some(format!(
            "/bin/bash {POSTGRES_DIR}/before-stop.sh {MEMBER_HOME} {}-@INDEX@ {PGDATA}",
            names.postgres
        )),
    };
    // JSON, not YAML: Patroni parses with YAML 1.1, where unquoted `on`/`off` are booleans;
    // JSON is YAML to it and keeps every string a string.
    let patroni_yaml =
        serde_json::to_string_pretty(&patroni_config(values, &topology)).unwrap_or_default() + "\n";
    out.push(opaque(
        release,
        &names.patroni,
        "postgres",
        "Patroni configuration template (no secrets)",
        patroni_yaml,
    ));
    out.push(opaque(
        release,
        &names.postgres_start,
        "postgres",
        "PostgreSQL member start-up",
        scripts::postgres_start(
            &names.postgres,
            values.patroni.timing.effective().hang_bound(),
            values.patroni.timing.effective().stopping_bound(),
        ),
    ));
    out.push(opaque(
        release,
        &names.postgres_pre_stop,
        "postgres",
        "hand over leadership before stopping",
        scripts::postgres_pre_stop(&names.postgres),
    ));
    out.push(opaque(
        release,
        &names.postgres_before_stop,
        "postgres",
        "stops PostgreSQL at once in a switchover this tool runs",
        scripts::before_stop(),
    ));
    out.push(opaque(
        release,
        &names.postgres_bootstrap,
        "postgres",
        "creates the application role and database",
        scripts::post_bootstrap(),
    ));
    out.push(opaque(
        release,
        &names.etcd_start,
        "etcd",
        "etcd member start-up",
        scripts::etcd_start(
            &names.etcd,
            &release.name,
            gvc,
            values.etcd.replicas,
            values,
        ),
    ));
    if values.proxy.enabled {
        out.push(opaque(
            release,
            &names.proxy_start,
            "proxy",
            "leader-routing proxy start-up",
            scripts::proxy_start(),
        ));
        out.push(opaque(
            release,
            &names.proxy_config,
            "proxy",
            "HAProxy configuration",
            scripts::haproxy_config(&names.postgres, gvc),
        ));
    }

    // Identity: what the workloads run as, so the policy can grant it `reveal`.
    out.push(json!({
        "kind": "identity",
        "name": names.identity,
        "description": format!("postgres-ha {}: workload identity", release.name),
        "tags": tags(release, "identity"),
        "gvc": gvc,
    }));

    // Volume sets: one volume per member.
    for (name, capacity, component) in [
        (
            &names.postgres_volumes,
            values.volumeset.capacity,
            "postgres",
        ),
        (&names.etcd_volumes, values.etcd.volumeset.capacity, "etcd"),
    ] {
        out.push(json!({
            "kind": "volumeset",
            "name": name,
            "description": format!("postgres-ha {}: {component} data", release.name),
            "tags": tags(release, component),
            "gvc": gvc,
            "spec": {
                "initialCapacity": capacity,
                "performanceClass": "general-purpose-ssd",
                "fileSystemType": "ext4",
                "snapshots": {"createFinalSnapshot": true, "retentionDuration": "7d"},
            },
        }));
    }

    // Policy: `reveal` on exactly the secrets the workloads mount or reference.
    let mut secret_links: Vec<String> = out
        .iter()
        .filter(|r| r["kind"] == "secret")
        .filter_map(|r| r["name"].as_str().map(|n| format!("//secret/{n}")))
        .collect();
    secret_links.sort();
    out.push(json!({
        "kind": "policy",
        "name": names.policy,
        "description": format!("postgres-ha {}: lets its workloads read their secrets", release.name),
        "tags": tags(release, "policy"),
        "targetKind": "secret",
        "targetLinks": secret_links,
        "bindings": [{
            "permissions": ["reveal"],
            "principalLinks": [format!("//gvc/{gvc}/identity/{}", names.identity)],
        }],
    }));

    out.push(etcd_workload(values, release, &names));
    out.push(postgres_workload(values, release, &names));
    if values.proxy.enabled {
        out.push(proxy_workload(values, release, &names));
    }
    out
}

fn secret_env(names: &Names) -> Vec<Value> {
    let reference = |key: &str| format!("cpln://secret/{}.{key}", names.credentials);
    let mut env_vars = vec![
        env(super::patroni::APP_DATABASE_ENV, reference("database")),
        env(super::patroni::APP_USERNAME_ENV, reference("username")),
    ];
    for (var, key) in PASSWORD_ENV {
        env_vars.push(env(var, reference(key.secret_key())));
    }
    for (var, value) in etcd_env() {
        env_vars.push(env(var, value));
    }
    env_vars.push(env("PGDATA", PGDATA));
    env_vars.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    env_vars
}

/// The etcd member's passwords (it sets up authentication), as secret references.
fn etcd_secret_env(names: &Names) -> Vec<Value> {
    let mut env_vars: Vec<Value> = ETCD_PASSWORD_ENV
        .iter()
        .map(|(var, key)| {
            env(
                var,
                format!("cpln://secret/{}.{}", names.credentials, key.secret_key()),
            )
        })
        .collect();
    env_vars.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    env_vars
}

fn secret_file(secret: &str, path: &str) -> Value {
    json!({"uri": format!("cpln://secret/{secret}.payload"), "path": path})
}

fn postgres_workload(values: &Values, release: &Release, names: &Names) -> Value {
    let liveness = values.patroni.timing.effective().liveness_probe();
    let gvc = release.gvc.as_str();
    let (cpu, memory) = container_resources(&values.resources);
    let mut admitted: Vec<String> = values.internal_access.workloads.clone().unwrap_or_default();
    if values.internal_access.access_type == AccessType::WorkloadList {
        // Members replicate from each other, and the proxy forwards clients to them.
        admitted.push(workload_link(gvc, &names.postgres));
        if values.proxy.enabled {
            admitted.push(workload_link(gvc, &names.proxy));
        }
    }
    json!({
        "kind": "workload",
        "name": names.postgres,
        "description": format!("postgres-ha {}: PostgreSQL 17 members under Patroni", release.name),
        "tags": tags(release, "postgres"),
        "gvc": gvc,
        "spec": {
            "type": "stateful",
            "identityLink": format!("//gvc/{gvc}/identity/{}", names.identity),
            "containers": [{
                "name": crate::cpln::exec::CONTAINER,
                "image": values.images.postgres,
                "cpu": cpu,
                "memory": memory,
                "command": "/bin/bash",
                "args": [format!("{POSTGRES_DIR}/start.sh")],
                "ports": [
                    {"number": POSTGRES_PORT, "protocol": "tcp"},
                    // tcp, not http: the platform's HTTP handling of the port got in
                    // the way of the members' own REST calls in the template.
                    {"number": PATRONI_PORT, "protocol": "tcp"},
                ],
                "env": secret_env(names),
                "volumes": [
                    {"uri": format!("cpln://volumeset/{}", names.postgres_volumes), "path": "/var/lib/postgresql/data"},
                    secret_file(&names.postgres_bootstrap, &format!("{POSTGRES_DIR}/post-bootstrap.sh")),
                    secret_file(&names.patroni, &format!("{POSTGRES_DIR}/patroni.yml")),
                    secret_file(&names.postgres_pre_stop, &format!("{POSTGRES_DIR}/pre-stop.sh")),
                    secret_file(&names.postgres_before_stop, &format!("{POSTGRES_DIR}/before-stop.sh")),
                    secret_file(&names.postgres_start, &format!("{POSTGRES_DIR}/start.sh")),
                ],
                // Within the hang bound: the platform restarts a member whose Patroni
                // stopped answering before its leader lease can expire.
                "livenessProbe": probe_http("/liveness", PATRONI_PORT, 30, liveness.0, liveness.1, liveness.2),
                "readinessProbe": probe_http("/readiness", PATRONI_PORT, 10, 5, 3, 3),
                // Patroni's own Prometheus metrics: role, lag, timeline, pending restart.
                "metrics": {"port": PATRONI_PORT, "path": "/metrics"},
                "lifecycle": {"preStop": {"exec": {"command": ["/bin/bash", format!("{POSTGRES_DIR}/pre-stop.sh")]}}},
            }],
            "defaultOptions": fixed_scale(values.replicas),
            "firewallConfig": internal_firewall(values.internal_access.access_type, &admitted),
            "loadBalancer": {"replicaDirect": true},
            "rolloutOptions": {
                "minReadySeconds": 0,
                // Parallel: after a full stop, member 0 may be neither leader nor
                // synchronous standby and never become ready alone; OrderedReady
                // would then never start the members that can lead.
                "scalingPolicy": "Parallel",
                // Room for the preStop switchover and a clean shutdown.
                "terminationGracePeriodSeconds": 90,
            },
            "securityOptions": {"filesystemGroupId": 999},
        },
    })
}

fn etcd_workload(values: &Values, release: &Release, names: &Names) -> Value {
    let gvc = release.gvc.as_str();
    let (cpu, memory) = container_resources(&values.etcd.resources);
    let access = &values.etcd.internal_access;
    let mut admitted: Vec<String> = access.workloads.clone().unwrap_or_default();
    if access.access_type == AccessType::WorkloadList {
        admitted.push(workload_link(gvc, &names.postgres));
        admitted.push(workload_link(gvc, &names.etcd));
    }
    json!({
        "kind": "workload",
        "name": names.etcd,
        "description": format!("postgres-ha {}: etcd for Patroni leader election", release.name),
        "tags": tags(release, "etcd"),
        "gvc": gvc,
        "spec": {
            "type": "stateful",
            "identityLink": format!("//gvc/{gvc}/identity/{}", names.identity),
            "containers": [{
                "name": "etcd",
                "image": values.images.etcd,
                "cpu": cpu,
                "memory": memory,
                "command": "/bin/bash",
                "args": ["/etc/postgres-ha/etcd-start.sh"],
                "env": etcd_secret_env(names),
                "ports": [
                    {"number": 2379, "protocol": "tcp"},
                    {"number": 2380, "protocol": "tcp"},
                ],
                "volumes": [
                    {"uri": format!("cpln://volumeset/{}", names.etcd_volumes), "path": "/var/lib/etcd"},
                    secret_file(&names.etcd_start, "/etc/postgres-ha/etcd-start.sh"),
                ],
                // No probes on purpose: a member restarted for being slow loses its
                // vote exactly when the cluster is under stress.
            }],
            "defaultOptions": fixed_scale(values.etcd.replicas),
            "firewallConfig": internal_firewall(access.access_type, &admitted),
            "loadBalancer": {"replicaDirect": true},
            "rolloutOptions": {
                "minReadySeconds": 0,
                // etcd needs a quorum before any member reports healthy: start all.
                "scalingPolicy": "Parallel",
                "terminationGracePeriodSeconds": 90,
            },
        },
    })
}

fn proxy_workload(values: &Values, release: &Release, names: &Names) -> Value {
    let gvc = release.gvc.as_str();
    let (cpu, memory) = container_resources(&values.proxy.resources);
    json!({
        "kind": "workload",
        "name": names.proxy,
        "description": format!("postgres-ha {}: one write address that follows the leader", release.name),
        "tags": tags(release, "proxy"),
        "gvc": gvc,
        "spec": {
            "type": "standard",
            "identityLink": format!("//gvc/{gvc}/identity/{}", names.identity),
            "containers": [{
                "name": "haproxy",
                "image": values.images.proxy,
                "cpu": cpu,
                "memory": memory,
                "command": "/bin/sh",
                "args": ["/etc/postgres-ha/start.sh"],
                "ports": [
                    {"number": 5432, "protocol": "tcp"},
                    {"number": 8404, "protocol": "http"},
                ],
                "volumes": [
                    secret_file(&names.proxy_config, "/etc/postgres-ha/haproxy.cfg"),
                    secret_file(&names.proxy_start, "/etc/postgres-ha/start.sh"),
                ],
                // Ready only while a primary is reachable; alive while HAProxy answers.
                "readinessProbe": probe_http("/healthz", 8404, 5, 5, 2, 2),
                "livenessProbe": {
                    "tcpSocket": {"port": 8404},
                    "initialDelaySeconds": 10,
                    "periodSeconds": 10,
                    "timeoutSeconds": 2,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                },
            }],
            "defaultOptions": fixed_scale(values.proxy.replicas),
            "firewallConfig": internal_firewall(
                values.internal_access.access_type,
                values.internal_access.workloads.as_deref().unwrap_or_default(),
            ),
            "rolloutOptions": {
                "minReadySeconds": 0,
                "scalingPolicy": "OrderedReady",
                "terminationGracePeriodSeconds": 30,
            },
        },
    })
}
