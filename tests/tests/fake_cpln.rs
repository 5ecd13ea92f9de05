//! The fake Control Plane API behaves as the platform is documented to: driven over
//! real HTTP, as the CLI drives it, so tests built on it test the real client path.

use std::io::Write;
use std::time::{Duration, Instant};

use postgres_ha_tests::fake_cpln::{FakeCpln, Options};
use reqwest::blocking::{Body, Client, Response};
use serde_json::{Value, json};

const ORG: &str = "/org/test-org";
const GVC: &str = "/org/test-org/gvc/test-gvc";

/// Short delays, so the whole file runs in a few seconds.
fn quick() -> Options {
    Options {
        ready_after: Duration::from_millis(200),
        deletion_delay: Duration::from_millis(200),
        ..Options::default()
    }
}

struct Api {
    fake: FakeCpln,
    client: Client,
}

impl Api {
    fn new(options: Options) -> Self {
        Self {
            fake: FakeCpln::start(options),
            client: client(),
        }
    }

    fn start() -> Self {
        Self::new(quick())
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> reqwest::Result<Response> {
        self.send_with(method, path, body.map(Value::to_string), "Bearer")
    }

    fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        scheme: &str,
    ) -> reqwest::Result<Response> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.fake.url()))
            .header("Authorization", format!("{scheme} {}", self.fake.token()));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        request.send()
    }

    /// Status and JSON body (`null` when empty); a network error fails the test.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        read(self.send(method, path, body).expect("an answer"))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    /// Polls `path` until it answers `status` (2 s bound).
    fn wait_status(&self, path: &str, status: u16) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if self.get(path).0 == status {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "{path} never answered {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn read(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, body)
}

/// The API's error body: status, message, code and a uuid-shaped id.
fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let id = body["id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 36, "{body}");
    assert_eq!(id.matches('-').count(), 4, "{body}");
}

fn secret(name: &str, payload: &str) -> Value {
    json!({"kind": "secret", "name": name, "type": "opaque", "data": {"payload": payload}})
}

fn workload(name: &str, env: &[(&str, &str)], volumes: &[&str]) -> Value {
    let env: Vec<Value> = env
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    let volumes: Vec<Value> = volumes
        .iter()
        .map(|uri| json!({"uri": uri, "path": "/var/lib/postgresql"}))
        .collect();
    json!({
        "kind": "workload",
        "name": name,
        "gvc": "test-gvc",
        "spec": {
            "type": "stateful",
            "containers": [{"name": "main", "image": "postgres:17", "env": env, "volumes": volumes}],
            "defaultOptions": {"autoscaling": {"minScale": 3, "maxScale": 3}, "capacityAI": false},
            "rolloutOptions": {"maxUnavailableReplicas": "1", "minReadySeconds": 0},
        },
    })
}

#[test]
fn put_upserts_and_bumps_the_version_only_on_change() {
    let api = Api::start();
    let response = api
        .send("PUT", &format!("{ORG}/secret"), Some(&secret("db-x", "a")))
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/org/test-org/secret/db-x");
    assert_eq!(response.headers()["content-type"], "application/json");
    let (_, created) = read(response);
    assert_eq!(created["version"], 1);
    assert_eq!(created["name"], "db-x");
    assert_eq!(created["id"].as_str().unwrap().len(), 36);
    let stamp = created["created"].as_str().unwrap();
    assert!(stamp.contains('T') && stamp.ends_with('Z'), "{stamp}");
    assert_eq!(created["lastModified"], created["created"]);
    assert_eq!(
        created["links"],
        json!([{"rel": "self", "href": "/org/test-org/secret/db-x"}])
    );

    // The same object again: nothing changes.
    std::thread::sleep(Duration::from_millis(5));
    let (status, same) = api.call("PUT", &format!("{ORG}/secret"), Some(&secret("db-x", "a")));
    assert_eq!(status, 200);
    assert_eq!(same["version"], 1);
    assert_eq!(same["lastModified"], created["lastModified"]);

    // A changed object: a new version, same id and creation time.
    let (status, changed) = api.call("PUT", &format!("{ORG}/secret"), Some(&secret("db-x", "b")));
    assert_eq!(status, 200);
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["id"], created["id"]);
    assert_eq!(changed["created"], created["created"]);
    assert_ne!(changed["lastModified"], created["lastModified"]);
    assert_eq!(
        api.fake.object("secret", "db-x").unwrap()["data"]["payload"],
        "b"
    );

    // A fetched object sent back, bookkeeping and all, is no change.
    let (_, revealed) = api.get(&format!("{ORG}/secret/db-x/-reveal"));
    let (status, again) = api.call("PUT", &format!("{ORG}/secret"), Some(&revealed));
    assert_eq!((status, &again["version"]), (200, &json!(2)));

    assert_eq!(api.fake.mutations(), 2);
    let applied: Vec<bool> = api.fake.requests().iter().map(|r| r.applied).collect();
    assert_eq!(applied, [true, false, true, false, false]);
    let log = &api.fake.requests()[0];
    assert_eq!(
        (
            log.method.as_str(),
            log.path.as_str(),
            log.status,
            log.faulted
        ),
        ("PUT", "/org/test-org/secret", Some(201), false)
    );
}

#[test]
fn put_validates_kind_name_gvc_version_and_body() {
    let api = Api::start();
    let path = format!("{ORG}/secret");
    let wrong_kind = json!({"kind": "policy", "name": "p"});
    assert_error(&api.call("PUT", &path, Some(&wrong_kind)), 400, "invalid");
    let (long, longest) = ("a".repeat(65), "a".repeat(64));
    for name in ["Upper", "-a", "a-", "1a", "a_b", "", long.as_str()] {
        let answer = api.call("PUT", &path, Some(&secret(name, "x")));
        assert_error(&answer, 400, "invalid");
    }
    assert_error(
        &api.call("PUT", &path, Some(&json!({"kind": "secret"}))),
        400,
        "invalid",
    );
    for name in ["a", "a1", "a-b", longest.as_str()] {
        assert_eq!(
            api.call("PUT", &path, Some(&secret(name, "x"))).0,
            201,
            "{name}"
        );
    }
    // Bodies that are not a JSON object.
    for body in ["[1]", "\"text\"", "not json", ""] {
        let answer = read(
            api.send_with("PUT", &path, Some(body.to_owned()), "Bearer")
                .unwrap(),
        );
        assert_error(&answer, 400, "invalid");
    }
    // A stale version conflicts; the current one is accepted.
    let mut stale = secret("a", "y");
    stale["version"] = json!(7);
    assert_error(&api.call("PUT", &path, Some(&stale)), 409, "conflict");
    stale["version"] = json!(1);
    assert_eq!(api.call("PUT", &path, Some(&stale)).1["version"], 2);
    // POST creates only; PUT on the item must name the same item.
    assert_error(
        &api.call("POST", &path, Some(&secret("a", "z"))),
        409,
        "conflict",
    );
    assert_error(
        &api.call("PUT", &format!("{path}/other"), Some(&secret("a", "z"))),
        400,
        "invalid",
    );

    // A GVC-scoped body's `gvc` must name the path's GVC, and is not stored.
    let mut other = workload("wl", &[], &[]);
    other["gvc"] = json!("other-gvc");
    assert_error(
        &api.call("PUT", &format!("{GVC}/workload"), Some(&other)),
        400,
        "invalid",
    );
    let (status, _) = api.call(
        "PUT",
        &format!("{GVC}/workload"),
        Some(&workload("wl", &[], &[])),
    );
    assert_eq!(status, 201);
    assert!(
        api.fake
            .object("workload", "wl")
            .unwrap()
            .get("gvc")
            .is_none()
    );
    assert_eq!(api.fake.mutations(), 6);
}

#[test]
fn defaults_are_added_and_immutable_fields_refused() {
    let api = Api::start();
    let workloads = format!("{GVC}/workload");
    let (status, stored) = api.call("PUT", &workloads, Some(&workload("pg", &[], &[])));
    assert_eq!(status, 201);
    let spec = &stored["spec"];
    assert_eq!(spec["containers"][0]["inheritEnv"], false);
    assert_eq!(spec["defaultOptions"]["timeoutSeconds"], 5);
    assert_eq!(
        spec["firewallConfig"]["external"]["outboundAllowHostname"],
        json!([])
    );
    // The platform drops this on stateful workloads.
    assert_eq!(spec["rolloutOptions"], json!({"minReadySeconds": 0}));
    // Added defaults are not a change when the same body comes again.
    let (status, same) = api.call("PUT", &workloads, Some(&workload("pg", &[], &[])));
    assert_eq!((status, &same["version"]), (200, &json!(1)));

    let mut standard = workload("web", &[], &[]);
    standard["spec"]["type"] = json!("standard");
    let (_, stored) = api.call("PUT", &workloads, Some(&standard));
    assert_eq!(
        stored["spec"]["rolloutOptions"]["maxUnavailableReplicas"],
        "1"
    );
    assert_error(
        &api.call("PUT", &workloads, Some(&workload("web", &[], &[]))),
        400,
        "invalid",
    );
    let retype = json!({"spec": {"type": "stateful"}});
    assert_error(
        &api.call("PATCH", &format!("{workloads}/web"), Some(&retype)),
        400,
        "invalid",
    );
    assert_eq!(
        api.fake.object("workload", "web").unwrap()["spec"]["type"],
        "standard"
    );

    let volumes = format!("{GVC}/volumeset");
    let volume = json!({"kind": "volumeset", "name": "pg-data", "spec": {"initialCapacity": 10}});
    let (status, stored) = api.call("PUT", &volumes, Some(&volume));
    assert_eq!(status, 201);
    assert_eq!(stored["spec"]["fileSystemType"], "ext4");
    assert_eq!(stored["spec"]["performanceClass"], "general-purpose-ssd");
    let mut xfs = volume.clone();
    xfs["spec"]["fileSystemType"] = json!("xfs");
    assert_error(&api.call("PUT", &volumes, Some(&xfs)), 400, "invalid");
    let mut faster = volume.clone();
    faster["spec"]["performanceClass"] = json!("high-throughput-ssd");
    assert_error(&api.call("PUT", &volumes, Some(&faster)), 400, "invalid");
    let xfs_patch = json!({"spec": {"fileSystemType": "xfs"}});
    assert_error(
        &api.call("PATCH", &format!("{volumes}/pg-data"), Some(&xfs_patch)),
        400,
        "invalid",
    );
    // A mutable field still changes.
    let mut bigger = volume;
    bigger["spec"]["initialCapacity"] = json!(20);
    assert_eq!(api.call("PUT", &volumes, Some(&bigger)).1["version"], 2);
}

#[test]
fn secrets_show_data_only_when_revealed() {
    let api = Api::start();
    api.call(
        "PUT",
        &format!("{ORG}/secret"),
        Some(&secret("db-x", "hush")),
    );
    let (status, seen) = api.get(&format!("{ORG}/secret/db-x"));
    assert_eq!(status, 200);
    assert_eq!(seen["type"], "opaque");
    assert!(seen.get("data").is_none(), "{seen}");
    let (status, revealed) = api.get(&format!("{ORG}/secret/db-x/-reveal"));
    assert_eq!(status, 200);
    assert_eq!(revealed["data"]["payload"], "hush");
    let (status, list) = api.get(&format!("{ORG}/secret"));
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "list");
    assert_eq!(list["itemKind"], "secret");
    assert_eq!(list["links"], json!([]));
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("data").is_none());
    assert_eq!(
        api.fake.object("secret", "db-x").unwrap()["data"]["payload"],
        "hush"
    );
    assert_error(
        &api.get(&format!("{ORG}/secret/nope/-reveal")),
        404,
        "not_found",
    );
    assert_error(&api.get(&format!("{ORG}/secret/nope")), 404, "not_found");
}

#[test]
fn patch_merges_with_directives() {
    let api = Api::start();
    let item = format!("{GVC}/workload/pg");
    let mut body = workload("pg", &[("A", "1"), ("B", "2")], &[]);
    body["description"] = json!("a database");
    body["tags"] = json!({"keep": "1", "gone": "x"});
    body["spec"]["firewallConfig"] =
        json!({"external": {"outboundAllowHostname": ["a.example", "b.example"]}});
    body["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    api.call("PUT", &format!("{GVC}/workload"), Some(&body));

    // Objects merge, null deletes (tags included).
    let patch = json!({"description": null, "tags": {"gone": null, "new": "2"}});
    let (status, patched) = api.call("PATCH", &item, Some(&patch));
    assert_eq!(status, 200);
    assert_eq!(patched["version"], 2);
    assert!(patched.get("description").is_none());
    assert_eq!(patched["tags"], json!({"keep": "1", "new": "2"}));

    // The same patch again changes nothing.
    let (_, again) = api.call("PATCH", &item, Some(&patch));
    assert_eq!(again["version"], 2);

    // $patch/ into a named element, with $drop/ and $append/ on its env; $drop/ and
    // $append/ on a list of strings; $drop/ by name; $replace/ replaces wholesale.
    let patch = json!({
        "spec": {
            "$patch/containers": [{
                "name": "main",
                "$drop/env": ["A"],
                "$append/env": [{"name": "C", "value": "3"}],
            }],
            "firewallConfig": {"external": {
                "$drop/outboundAllowHostname": ["a.example"],
                "$append/outboundAllowHostname": ["c.example"],
            }},
            "$replace/defaultOptions": {"autoscaling": {"minScale": 1, "maxScale": 1}},
        },
    });
    let (status, patched) = api.call("PATCH", &item, Some(&patch));
    assert_eq!(status, 200, "{patched}");
    let spec = &patched["spec"];
    assert_eq!(
        spec["containers"][0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(
        spec["firewallConfig"]["external"]["outboundAllowHostname"],
        json!(["b.example", "c.example"])
    );
    // Replaced: capacityAI is gone (the platform's default comes back).
    assert_eq!(
        spec["defaultOptions"],
        json!({"autoscaling": {"minScale": 1, "maxScale": 1}, "timeoutSeconds": 5})
    );
    assert_eq!(patched["version"], 3);

    let patch = json!({"spec": {"$drop/containers": ["sidecar"]}, "$drop": ["tags"]});
    let (_, patched) = api.call("PATCH", &item, Some(&patch));
    assert_eq!(patched["spec"]["containers"].as_array().unwrap().len(), 1);
    assert!(patched.get("tags").is_none());

    // Arrays are replaced wholesale.
    let patch = json!({"spec": {"containers": [{"name": "main", "image": "postgres:18"}]}});
    let (_, patched) = api.call("PATCH", &item, Some(&patch));
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "main", "image": "postgres:18", "inheritEnv": false}])
    );
    assert_eq!(patched["version"], 5);

    // Refusals: stale version, unknown directive, quota, missing item, bad body.
    let stale = json!({"version": 1, "description": "x"});
    assert_error(&api.call("PATCH", &item, Some(&stale)), 409, "conflict");
    let unknown = json!({"$frobnicate/spec": {}});
    assert_error(&api.call("PATCH", &item, Some(&unknown)), 400, "invalid");
    let big = json!({"spec": {"defaultOptions": {"autoscaling": {"maxScale": 6}}}});
    let answer = api.call("PATCH", &item, Some(&big));
    assert_error(&answer, 429, "quota_exceeded");
    assert!(answer.1["message"].as_str().unwrap().contains("quota"));
    assert_error(
        &api.call("PATCH", &format!("{GVC}/workload/nope"), Some(&json!({}))),
        404,
        "not_found",
    );
    let answer = read(
        api.send_with("PATCH", &item, Some("[]".to_owned()), "Bearer")
            .unwrap(),
    );
    assert_error(&answer, 400, "invalid");
    assert_eq!(api.fake.object("workload", "pg").unwrap()["version"], 5);
}

#[test]
fn deletion_is_delayed_for_workloads_and_refused_for_a_mounted_volume_set() {
    let api = Api::start();
    api.call("PUT", &format!("{ORG}/secret"), Some(&secret("db-x", "a")));
    let (status, body) = api.call("DELETE", &format!("{ORG}/secret/db-x"), None);
    assert_eq!(status, 202, "{body}");
    assert_eq!(api.get(&format!("{ORG}/secret/db-x")).0, 404);
    assert_error(
        &api.call("DELETE", &format!("{ORG}/secret/db-x"), None),
        404,
        "not_found",
    );

    let volume = json!({"kind": "volumeset", "name": "pg-data", "spec": {"initialCapacity": 10}});
    api.call("PUT", &format!("{GVC}/volumeset"), Some(&volume));
    let wl = workload("pg", &[], &["cpln://volumeset/pg-data"]);
    api.call("PUT", &format!("{GVC}/workload"), Some(&wl));
    let volume_path = format!("{GVC}/volumeset/pg-data");
    let workload_path = format!("{GVC}/workload/pg");

    let answer = api.call("DELETE", &volume_path, None);
    assert_error(&answer, 409, "conflict");
    assert!(answer.1["message"].as_str().unwrap().contains("in use"));
    assert_eq!(api.get(&volume_path).0, 200);

    let deleted = Instant::now();
    assert_eq!(api.call("DELETE", &workload_path, None).0, 202);
    assert_eq!(api.get(&workload_path).0, 200);
    assert_eq!(api.call("DELETE", &workload_path, None).0, 202);
    // Still mounted until the workload is gone.
    assert_error(&api.call("DELETE", &volume_path, None), 409, "conflict");
    let gone = api.wait_status(&workload_path, 404);
    assert!(gone - deleted >= Duration::from_millis(150));
    assert!(api.fake.object("workload", "pg").is_none());

    assert_eq!(api.call("DELETE", &volume_path, None).0, 202);
    assert_eq!(api.get(&volume_path).0, 200);
    api.wait_status(&volume_path, 404);
    assert_error(&api.call("DELETE", &volume_path, None), 404, "not_found");

    let outcomes: Vec<(Option<u16>, bool)> = api
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| (r.status, r.applied))
        .collect();
    let expected = [
        (Some(202), true),
        (Some(404), false),
        (Some(409), false),
        (Some(202), true),
        (Some(202), false),
        (Some(409), false),
        (Some(202), true),
        (Some(404), false),
    ];
    assert_eq!(outcomes, expected);
}

#[test]
fn a_replica_quota_breach_is_429_and_stores_nothing() {
    let api = Api::start();
    for field in ["maxScale", "minScale"] {
        let mut big = workload("pg", &[], &[]);
        big["spec"]["defaultOptions"]["autoscaling"][field] = json!(6);
        let answer = api.call("PUT", &format!("{GVC}/workload"), Some(&big));
        assert_error(&answer, 429, "quota_exceeded");
        assert!(answer.1["message"].as_str().unwrap().contains("quota"));
    }
    assert!(api.fake.object("workload", "pg").is_none());
    assert_eq!(api.fake.mutations(), 0);
    // A raised quota lets it through.
    let api = Api::new(Options {
        replicas_per_workload: 6,
        ..quick()
    });
    let mut big = workload("pg", &[], &[]);
    big["spec"]["defaultOptions"]["autoscaling"]["maxScale"] = json!(6);
    assert_eq!(
        api.call("PUT", &format!("{GVC}/workload"), Some(&big)).0,
        201
    );
}

#[test]
fn deployments_wedge_on_a_missing_secret_until_it_exists() {
    let api = Api::new(Options {
        locations: vec!["aws-us-east-2".to_owned(), "gcp-us-east1".to_owned()],
        // Long enough that a loaded machine still sees the not-yet-ready states.
        ready_after: Duration::from_millis(500),
        ..quick()
    });
    let wl = workload("app", &[("PASSWORD", "cpln://secret/db-x.password")], &[]);
    api.call("PUT", &format!("{GVC}/workload"), Some(&wl));
    let deployments = format!("{GVC}/workload/app/deployment");

    let (status, list) = api.get(&deployments);
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "list");
    let items = list["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["aws-us-east-2", "gcp-us-east1"]);
    let item = &items[0];
    assert_eq!(item["kind"], "deployment");
    assert_eq!(item["links"], json!([]));
    let status = &item["status"];
    assert_eq!(status["remote"], api.fake.url());
    let endpoint = status["endpoint"].as_str().unwrap();
    assert!(endpoint.starts_with("https://app-") && endpoint.ends_with(".cpln.app"));
    assert_eq!(status["lastProcessedVersion"], 1);
    assert_eq!(status["expectedDeploymentVersion"], 1);
    assert_eq!(
        (&status["ready"], &status["deploying"]),
        (&json!(false), &json!(true))
    );
    let version = &status["versions"][0];
    assert_eq!(
        (&version["name"], &version["workload"]),
        (&json!("v1"), &json!(1))
    );
    assert_eq!(version["message"], "secret \"db-x\" not found");
    assert_eq!(
        version["containers"]["main"],
        json!({"name": "main", "image": "postgres:17", "ready": false})
    );

    // Never ready while the secret is missing, and said only in the version.
    std::thread::sleep(Duration::from_millis(600));
    let (_, item) = api.get(&format!("{deployments}/gcp-us-east1"));
    assert_eq!(item["name"], "gcp-us-east1");
    assert_eq!(item["status"]["ready"], false);
    assert!(item["status"].get("message").is_none());
    assert_eq!(
        item["status"]["versions"][0]["message"],
        "secret \"db-x\" not found"
    );

    // Once it exists, ready `ready_after` later.
    api.call("PUT", &format!("{ORG}/secret"), Some(&secret("db-x", "a")));
    let (_, item) = api.get(&format!("{deployments}/aws-us-east-2"));
    assert_eq!(item["status"]["ready"], false);
    assert!(item["status"]["versions"][0].get("message").is_none());
    std::thread::sleep(Duration::from_millis(600));
    let (_, item) = api.get(&format!("{deployments}/aws-us-east-2"));
    assert_eq!(
        (&item["status"]["ready"], &item["status"]["deploying"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(item["status"]["versions"][0]["ready"], true);
    assert_eq!(
        item["status"]["versions"][0]["containers"]["main"]["ready"],
        true
    );

    // A new version: still ready (the old one runs), deploying, both listed.
    let patch = json!({"spec": {"containers": [{"name": "main", "image": "postgres:18"}]}});
    api.call("PATCH", &format!("{GVC}/workload/app"), Some(&patch));
    let (_, item) = api.get(&format!("{deployments}/aws-us-east-2"));
    let status = &item["status"];
    assert_eq!(
        (&status["ready"], &status["deploying"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(status["expectedDeploymentVersion"], 2);
    let versions: Vec<(u64, bool)> = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["workload"].as_u64().unwrap(),
                v["ready"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(2, false), (1, true)]);
    assert_eq!(
        status["versions"][0]["containers"]["main"]["image"],
        "postgres:18"
    );
    std::thread::sleep(Duration::from_millis(600));
    let (_, item) = api.get(&format!("{deployments}/aws-us-east-2"));
    assert_eq!(item["status"]["versions"][0]["ready"], true);
    assert_eq!(item["status"]["deploying"], false);

    // At most two versions are listed.
    for tag in ["a", "b"] {
        let patch = json!({"tags": {"cpln/deployTimestamp": tag}});
        api.call("PATCH", &format!("{GVC}/workload/app"), Some(&patch));
    }
    let (_, item) = api.get(&format!("{deployments}/aws-us-east-2"));
    assert_eq!(item["status"]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(item["status"]["ready"], true);

    assert_error(
        &api.get(&format!("{deployments}/nowhere")),
        404,
        "not_found",
    );
    assert_error(
        &api.get(&format!("{GVC}/workload/nope/deployment")),
        404,
        "not_found",
    );
}

#[test]
fn replicas_and_commands() {
    let api = Api::new(Options {
        remote: Some("https://remote.invalid".to_owned()),
        ..quick()
    });
    api.call(
        "PUT",
        &format!("{GVC}/workload"),
        Some(&workload("pg", &[], &[])),
    );
    let (_, item) = api.get(&format!("{GVC}/workload/pg/deployment/aws-us-east-2"));
    assert_eq!(item["status"]["remote"], "https://remote.invalid");

    // The fake serves the remote's replica listing itself.
    let replicas = "/replicas/org/test-org/gvc/test-gvc/workload/pg";
    let (status, list) = api.get(replicas);
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"items": ["pg-0", "pg-1", "pg-2"], "links": []})
    );
    api.fake.set_replica_names("pg", vec!["pg-7".to_owned()]);
    assert_eq!(api.get(replicas).1["items"], json!(["pg-7"]));
    assert_error(
        &api.get("/replicas/org/test-org/gvc/test-gvc/workload/nope"),
        404,
        "not_found",
    );

    let before = api.fake.mutations();
    let command =
        json!({"type": "stopReplica", "spec": {"replica": "pg-1", "location": "aws-us-east-2"}});
    let response = api
        .send(
            "POST",
            &format!("{GVC}/workload/pg/-command"),
            Some(&command),
        )
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().contains_key("location"));
    assert_eq!(api.fake.commands(), [command]);
    assert_eq!(api.fake.mutations(), before + 1);
    assert_eq!(api.fake.object("workload", "pg").unwrap()["version"], 1);
    let bad = json!({"spec": {}});
    assert_error(
        &api.call("POST", &format!("{GVC}/workload/pg/-command"), Some(&bad)),
        400,
        "invalid",
    );
}

#[test]
fn auth_is_required_and_unknown_places_are_404() {
    let api = Api::start();
    let path = format!("{ORG}/secret");
    let answer = read(
        api.client
            .get(format!("{}{path}", api.fake.url()))
            .send()
            .unwrap(),
    );
    assert_error(&answer, 401, "unauthorized");
    let wrong = api
        .client
        .get(format!("{}{path}", api.fake.url()))
        .bearer_auth("not-the-token")
        .send()
        .unwrap();
    assert_eq!(wrong.headers()["content-type"], "application/json");
    assert_error(&read(wrong), 401, "unauthorized");
    for scheme in ["Basic", "Token"] {
        assert_error(
            &read(api.send_with("GET", &path, None, scheme).unwrap()),
            401,
            "unauthorized",
        );
    }
    for scheme in ["bearer", "BEARER", "Bearer"] {
        assert_eq!(
            api.send_with("GET", &path, None, scheme).unwrap().status(),
            200
        );
    }
    // The replica listing needs the token too.
    let replicas = format!(
        "{}/replicas/org/test-org/gvc/test-gvc/workload/pg",
        api.fake.url()
    );
    assert_eq!(api.client.get(replicas).send().unwrap().status(), 401);

    for path in [
        "/org/other-org/secret",
        "/org/test-org/gvc/other-gvc/workload",
        "/org/test-org/gvc/other-gvc/workload/pg",
        "/org/test-org/widget",
        "/org/test-org/widget/x",
        "/org/test-org/gvc/test-gvc/widget",
        "/org/test-org/gvc/test-gvc/secret/x",
        "/somewhere",
    ] {
        assert_error(&api.get(path), 404, "not_found");
    }
    let logged = api.fake.requests();
    assert_eq!(logged[0].status, Some(401));
    assert!(logged.iter().all(|r| !r.faulted && !r.applied));
}

#[test]
fn faults_mix_rate_limits_unavailability_and_lost_answers() {
    let api = Api::new(Options {
        faults: 1.0,
        seed: 7,
        ..quick()
    });
    let (mut limited, mut unavailable, mut dropped) = (0, 0, 0);
    for _ in 0..45 {
        match api.send("GET", &format!("{ORG}/secret"), None) {
            Ok(response) => match read(response) {
                answer @ (429, _) => {
                    assert_error(&answer, 429, "rate_limited");
                    assert_eq!(answer.1["message"], "Too many requests, retry later");
                    limited += 1;
                }
                answer @ (503, _) => {
                    assert_error(&answer, 503, "unavailable");
                    unavailable += 1;
                }
                other => panic!("not a fault: {other:?}"),
            },
            // A real network error: the connection closed with no answer.
            Err(e) => {
                assert!(!e.is_timeout() && e.status().is_none(), "{e:?}");
                dropped += 1;
            }
        }
    }
    assert!(
        limited > 5 && unavailable > 5 && dropped > 5,
        "{limited} {unavailable} {dropped}"
    );
    let logged = api.fake.requests();
    assert!(logged.iter().all(|r| r.faulted && !r.applied));
    assert_eq!(
        logged.iter().filter(|r| r.status.is_none()).count(),
        dropped
    );

    // Mutations: a lost answer sometimes hides an applied change.
    let (mut lost_applied, mut lost_unapplied) = (0, 0);
    for i in 0..60 {
        let name = format!("s-{i}");
        match api.send("PUT", &format!("{ORG}/secret"), Some(&secret(&name, "v"))) {
            Ok(response) => {
                assert!(matches!(response.status().as_u16(), 429 | 503));
                assert!(api.fake.object("secret", &name).is_none());
            }
            Err(_) => {
                if api.fake.object("secret", &name).is_some() {
                    lost_applied += 1;
                } else {
                    lost_unapplied += 1;
                }
            }
        }
    }
    assert!(
        lost_applied > 0 && lost_unapplied > 0,
        "{lost_applied} {lost_unapplied}"
    );
    assert_eq!(api.fake.mutations(), lost_applied);
    let logged = api.fake.requests();
    let applied: Vec<_> = logged.iter().filter(|r| r.applied).collect();
    assert_eq!(applied.len(), lost_applied);
    assert!(applied.iter().all(|r| r.status.is_none() && r.faulted));

    // Faults never corrupt state: retried without faults, each PUT is a create or a
    // no-op, at version 1.
    api.fake.set_faults(0.0);
    for i in 0..60 {
        let name = format!("s-{i}");
        let existed = api.fake.object("secret", &name).is_some();
        let (status, body) = api.call("PUT", &format!("{ORG}/secret"), Some(&secret(&name, "v")));
        assert_eq!(status, if existed { 200 } else { 201 });
        assert_eq!(body["version"], 1);
    }
    assert_eq!(api.fake.mutations(), 60);
}

#[test]
fn fault_choices_repeat_for_a_seed() {
    let outcomes = |seed: u64| -> Vec<Option<u16>> {
        let api = Api::new(Options {
            faults: 0.5,
            seed,
            ..quick()
        });
        (0..30)
            .map(|_| {
                api.send("GET", &format!("{ORG}/secret"), None)
                    .ok()
                    .map(|r| r.status().as_u16())
            })
            .collect()
    };
    let first = outcomes(42);
    assert_eq!(first, outcomes(42));
    assert!(
        first.contains(&Some(200)) && first.contains(&None),
        "{first:?}"
    );
}

#[test]
fn bodies_are_bounded_and_may_be_chunked() {
    let api = Api::start();
    let path = format!("{ORG}/secret");
    let big = format!(
        "{{\"kind\": \"secret\", \"name\": \"big\", \"data\": \"{}\"}}",
        "x".repeat(4 << 20)
    );
    let answer = read(api.send_with("PUT", &path, Some(big), "Bearer").unwrap());
    assert_error(&answer, 413, "payload_too_large");
    assert!(api.fake.object("secret", "big").is_none());
    assert_eq!(api.fake.requests()[0].status, Some(413));

    // A body of unknown length goes chunked.
    let body = Body::new(std::io::Cursor::new(
        secret("chunked", "c").to_string().into_bytes(),
    ));
    let response = api
        .client
        .put(format!("{}{path}", api.fake.url()))
        .bearer_auth(api.fake.token())
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        api.fake.object("secret", "chunked").unwrap()["data"]["payload"],
        "c"
    );
}

#[test]
fn hold_keeps_requests_unanswered_until_release() {
    let api = Api::start();
    api.fake.hold_after_mutations(1);
    assert_eq!(
        api.call("PUT", &format!("{ORG}/secret"), Some(&secret("a", "1")))
            .0,
        201
    );
    assert!(!api.fake.held());

    let url = api.fake.url().to_owned();
    let token = api.fake.token().to_owned();
    let put = {
        let (url, token) = (url.clone(), token.clone());
        std::thread::spawn(move || {
            client()
                .put(format!("{url}{ORG}/secret"))
                .bearer_auth(token)
                .body(secret("b", "2").to_string())
                .send()
                .map(|r| r.status().as_u16())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while !api.fake.held() {
        assert!(Instant::now() < deadline, "the request was not held");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(!put.is_finished());
    assert_eq!(api.fake.mutations(), 1);
    assert!(api.fake.object("secret", "b").is_none());

    api.fake.release();
    assert_eq!(put.join().unwrap().unwrap(), 201);
    assert!(!api.fake.held());
    assert_eq!(api.fake.mutations(), 2);

    // A client killed while held: its request is dropped unapplied at the release.
    api.fake.hold_after_mutations(0);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut raw = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    let body = secret("c", "3").to_string();
    write!(
        raw,
        "PUT {ORG}/secret HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    while !api.fake.held() {
        assert!(Instant::now() < deadline, "the request was not held");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(raw);
    std::thread::sleep(Duration::from_millis(50));
    api.fake.release();
    let deadline = Instant::now() + Duration::from_secs(2);
    while api.fake.requests().len() < 3 {
        assert!(Instant::now() < deadline, "the held request was not logged");
        std::thread::sleep(Duration::from_millis(10));
    }
    let last = api.fake.requests().pop().unwrap();
    assert_eq!((last.status, last.applied), (None, false));
    assert!(api.fake.object("secret", "c").is_none());
    assert_eq!(api.fake.mutations(), 2);

    // Stopping ends a held request too, without hanging.
    api.fake.hold_after_mutations(0);
    let deadline = Instant::now() + Duration::from_secs(2);
    let get = std::thread::spawn(move || {
        client()
            .get(format!("{url}{ORG}/secret"))
            .bearer_auth(token)
            .send()
            .map(|r| r.status().as_u16())
    });
    while !api.fake.held() {
        assert!(Instant::now() < deadline, "the request was not held");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopping = Instant::now();
    api.fake.stop();
    assert!(stopping.elapsed() < Duration::from_secs(3));
    assert!(get.join().unwrap().is_err());
}

#[test]
fn stops_when_dropped_or_after_its_lifetime() {
    let http = client();
    let fake = FakeCpln::start(Options {
        lifetime: Duration::from_millis(800),
        ..quick()
    });
    let url = format!("{}{ORG}/secret", fake.url());
    let get = || http.get(&url).bearer_auth(fake.token()).send();
    assert_eq!(get().unwrap().status(), 200);
    std::thread::sleep(Duration::from_secs(1));
    assert!(get().is_err());
    drop(fake);

    let fake = FakeCpln::start(quick());
    let url = format!("{}{ORG}/secret", fake.url());
    assert!(fake.url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        http.get(&url)
            .bearer_auth(fake.token())
            .send()
            .unwrap()
            .status(),
        200
    );
    let stopping = Instant::now();
    drop(fake);
    assert!(stopping.elapsed() < Duration::from_secs(3));
    assert!(http.get(&url).send().is_err());
}

#[test]
fn seeded_objects_are_served() {
    let api = Api::start();
    api.fake.insert("secret", None, secret("db-x", "seeded"));
    api.fake.insert(
        "workload",
        Some("test-gvc"),
        workload("pg", &[("P", "cpln://secret/db-x")], &[]),
    );
    let (status, stored) = api.get(&format!("{GVC}/workload/pg"));
    assert_eq!(status, 200);
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["spec"]["defaultOptions"]["timeoutSeconds"], 5);
    // Seeded as if long applied: ready at once.
    let (_, item) = api.get(&format!("{GVC}/workload/pg/deployment/aws-us-east-2"));
    assert_eq!(item["status"]["ready"], true);
    assert_eq!(api.fake.mutations(), 0);
    assert!(api.fake.requests().iter().all(|r| r.method == "GET"));
}
