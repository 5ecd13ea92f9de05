//! The Control Plane target against the fake API (`tests/src/fake_cpln.rs`): deploy,
//! diff and destroy, credentials and context as the cpln CLI finds them, convergence
//! under injected faults and after a killed run, and no secret in any output.

use std::process::Command;
use std::time::{Duration, Instant};

use postgres_ha_core::render::{CredentialKey, PASSWORD_ENV};
use postgres_ha_tests::cluster::{Local, PASSWORD, lock, runtime, stop_writer_and_check};
use postgres_ha_tests::fake_cpln::{FakeCpln, Options};
use postgres_ha_tests::fake_exec::{FakeExec, Member, Setup};
use postgres_ha_tests::{Output, bin, run};
use serde_json::Value;

const GVC: &str = "prod";

fn fake(faults: f64) -> FakeCpln {
    FakeCpln::start(Options {
        org: "acme".into(),
        gvcs: vec![GVC.into()],
        faults,
        seed: 7,
        ..Options::default()
    })
}

/// A test's own directory: values files and an empty cpln profile store.
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new(values: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("values.yaml"), values).unwrap();
        Self { dir }
    }

    fn values(&self) -> String {
        self.dir.path().join("values.yaml").display().to_string()
    }

    fn write_values(&self, values: &str) {
        std::fs::write(self.dir.path().join("values.yaml"), values).unwrap();
    }

    /// The CLI against `api` with a token in the environment, as in CI.
    fn cli(&self, api: &FakeCpln, args: &[&str]) -> Output {
        let mut command = self.command(api, args);
        command.env("CPLN_TOKEN", api.token());
        run(&mut command, None, Duration::from_secs(240))
    }

    fn command(&self, api: &FakeCpln, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        command
            .args(args)
            .env("CPLN_HOME", self.dir.path().join("cpln"))
            .env("CPLN_ENDPOINT", api.url())
            // A rotation's journal goes under the state directory.
            .env("CPLN_POSTGRES_HA_STATE", self.dir.path().join("state"))
            .env_remove("CPLN_TOKEN")
            .env_remove("CPLN_PROFILE")
            .env_remove("CPLN_ORG")
            .env_remove("CPLN_GVC")
            .env_remove("NO_COLOR");
        command
    }
}

const VALUES: &str = "replicas: 3\npostgres:\n  username: app\n  database: app\n";

/// A deploy that returns once applied: the fake API alone has no members to ask
/// (the exec test below waits for readiness and Patroni).
fn deploy(place: &Place, api: &FakeCpln) -> Output {
    place.cli(
        api,
        &[
            "deploy",
            "db",
            "-f",
            &place.values(),
            "--org",
            "acme",
            "--gvc",
            GVC,
            "--yes",
            "--no-wait",
        ],
    )
}

fn diff(place: &Place, api: &FakeCpln) -> Output {
    place.cli(
        api,
        &[
            "diff",
            "db",
            "-f",
            &place.values(),
            "--org",
            "acme",
            "--gvc",
            GVC,
        ],
    )
}

/// Every password the release keeps, from the fake's store.
fn passwords(api: &FakeCpln) -> Vec<String> {
    let secret = api
        .object("secret", "db-credentials")
        .expect("the credentials secret");
    secret["data"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(key, _)| key.contains("password"))
        .map(|(_, value)| value.as_str().unwrap().to_owned())
        .collect()
}

/// That a command ended with `code` and said `text` (on either stream).
fn expect(output: &Output, code: i32, text: &str) {
    assert_eq!(
        output.code,
        Some(code),
        "{}{}",
        output.stdout,
        output.stderr
    );
    assert!(
        output.stdout.contains(text) || output.stderr.contains(text),
        "{}{}",
        output.stdout,
        output.stderr
    );
}

fn assert_no_secret(output: &Output, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !output.stdout.contains(secret.as_str()) && !output.stderr.contains(secret.as_str()),
            "a password reached the output"
        );
    }
}

#[test]
fn a_first_deploy_creates_the_release_and_a_second_changes_nothing() {
    let place = Place::new(VALUES);
    let api = fake(0.0);
    let first = deploy(&place, &api);
    assert_eq!(first.code, Some(0), "{}{}", first.stdout, first.stderr);
    assert!(
        first
            .stdout
            .contains("16 to create, 0 to update, 0 unchanged"),
        "{}",
        first.stdout
    );
    // No password in the values: one was generated and kept only in the secret.
    assert!(
        first
            .stdout
            .contains("generated one, kept only in secret db-credentials")
    );
    let secrets = passwords(&api);
    assert_eq!(secrets.len(), 7);
    assert!(
        secrets.iter().all(|p| p.len() == 32),
        "generated passwords are 32 characters"
    );
    assert_no_secret(&first, &secrets);
    // Applied in order, as collection PUTs: secrets before what mounts them.
    let puts: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path)
        .collect();
    let first_workload = puts.iter().position(|p| p.contains("/workload")).unwrap();
    assert!(
        puts[..first_workload]
            .iter()
            .all(|p| !p.contains("/workload"))
    );
    assert!(puts.iter().all(|p| p.ends_with("/secret")
        || p.ends_with("/identity")
        || p.ends_with("/volumeset")
        || p.ends_with("/policy")
        || p.ends_with("/workload")));

    let before = api.mutations();
    let second = deploy(&place, &api);
    assert_eq!(second.code, Some(0), "{}{}", second.stdout, second.stderr);
    assert!(
        second
            .stdout
            .contains("0 to create, 0 to update, 16 unchanged"),
        "{}",
        second.stdout
    );
    assert_eq!(
        api.mutations(),
        before,
        "a second deploy of the same values changes nothing"
    );
    assert_eq!(passwords(&api), secrets, "the passwords are kept");
    let same = diff(&place, &api);
    assert_eq!(same.code, Some(0), "{}{}", same.stdout, same.stderr);
}

#[test]
fn a_change_updates_only_what_it_touches_and_a_dropped_part_is_deleted() {
    let place = Place::new(VALUES);
    let api = fake(0.0);
    assert_eq!(deploy(&place, &api).code, Some(0));
    place.write_values(&format!(
        "{VALUES}resources:\n  cpu: \"2\"\n  memory: 4Gi\n"
    ));
    let changed = diff(&place, &api);
    assert_eq!(changed.code, Some(1), "{}", changed.stdout);
    assert!(
        changed.stdout.contains("update    workload db-postgres"),
        "{}",
        changed.stdout
    );
    assert!(
        changed
            .stdout
            .contains("0 to create, 1 to update, 15 unchanged"),
        "{}",
        changed.stdout
    );
    let before = api.mutations();
    assert_eq!(deploy(&place, &api).code, Some(0));
    assert_eq!(api.mutations(), before + 1);
    assert_eq!(
        api.object("workload", "db-postgres").unwrap()["spec"]["containers"][0]["cpu"],
        "2"
    );

    // A member count change on a running release goes through `scale`, never a
    // platform scale-down that may remove the leader.
    place.write_values(&format!(
        "{}resources:\n  cpu: \"2\"\n  memory: 4Gi\n",
        VALUES.replace("replicas: 3", "replicas: 5")
    ));
    let before = api.mutations();
    expect(&deploy(&place, &api), 2, "scale db --replicas 5");
    assert_eq!(api.mutations(), before);
    place.write_values(&format!(
        "{VALUES}resources:\n  cpu: \"2\"\n  memory: 4Gi\n"
    ));

    // A hand edit of a field the release sets is undone.
    api.insert("workload", Some(GVC), {
        let mut edited = api.object("workload", "db-postgres").unwrap();
        edited["spec"]["containers"][0]["memory"] = Value::from("1Gi");
        edited
    });
    let undo = diff(&place, &api);
    assert!(
        undo.stdout.contains("update    workload db-postgres"),
        "{}",
        undo.stdout
    );

    // Turning the proxy off deletes its workload and secrets; volumes stay.
    place.write_values(&format!(
        "{VALUES}resources:\n  cpu: \"2\"\n  memory: 4Gi\nproxy:\n  enabled: false\n"
    ));
    let off = deploy(&place, &api);
    assert_eq!(off.code, Some(0), "{}{}", off.stdout, off.stderr);
    assert!(off.stdout.contains("3 to delete"), "{}", off.stdout);
    assert!(api.object("workload", "db-proxy").is_none());
    assert!(api.object("secret", "db-proxy-start").is_none());
    assert!(api.object("volumeset", "db-postgres-vs").is_some());
    assert_eq!(diff(&place, &api).code, Some(0));
}

#[test]
fn a_wedged_deployment_is_explained_and_an_unhealthy_cluster_is_not_called_ready() {
    let place = Place::new(VALUES);
    let api = fake(0.0);
    assert_eq!(deploy(&place, &api).code, Some(0));
    // The start script's secret vanishes and the workload changes: its new version
    // cannot start, and only the deployment says why.
    let http = reqwest::blocking::Client::new();
    let auth = format!("Bearer {}", api.token());
    let deleted = http
        .delete(format!("{}/org/acme/secret/db-postgres-start", api.url()))
        .header("Authorization", &auth)
        .send()
        .unwrap();
    assert!(deleted.status().is_success());
    let patched = http
        .patch(format!(
            "{}/org/acme/gvc/{GVC}/workload/db-postgres",
            api.url()
        ))
        .header("Authorization", &auth)
        .json(&serde_json::json!({"description": "edited"}))
        .send()
        .unwrap();
    assert!(patched.status().is_success());
    std::thread::sleep(Duration::from_millis(500));
    let shown = place.cli(&api, &["status", "db", "--org", "acme", "--gvc", GVC]);
    assert_eq!(shown.code, Some(1), "{}{}", shown.stdout, shown.stderr);
    assert!(
        shown.stdout.contains("workload db-postgres: "),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("db-postgres-start"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("workload db-etcd: ready"),
        "{}",
        shown.stdout
    );
    let json = place.cli(
        &api,
        &["status", "db", "--org", "acme", "--gvc", GVC, "-o", "json"],
    );
    let status: Value = serde_json::from_str(&json.stdout).unwrap();
    let postgres = status["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "db-postgres")
        .unwrap();
    assert_eq!(postgres["ready_latest"], false, "{status}");

    // A deploy that waits recreates the secret, then waits for Patroni, which this
    // fake cannot reach: it gives up in time and says so.
    let waited = place.cli(
        &api,
        &[
            "deploy",
            "db",
            "-f",
            &place.values(),
            "--org",
            "acme",
            "--gvc",
            GVC,
            "--yes",
            "--timeout",
            "6",
        ],
    );
    assert_eq!(waited.code, Some(2), "{}{}", waited.stdout, waited.stderr);
    assert!(
        waited.stdout.contains("create    secret db-postgres-start"),
        "{}",
        waited.stdout
    );
    assert!(
        waited
            .stdout
            .contains("ready: db-etcd, db-postgres, db-proxy"),
        "{}",
        waited.stdout
    );
    assert!(
        waited.stderr.contains("not healthy in time"),
        "{}",
        waited.stderr
    );
}

#[test]
fn deploy_converges_when_a_fifth_of_the_calls_fail() {
    let place = Place::new(VALUES);
    let api = fake(0.2);
    let out = deploy(&place, &api);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let faulted = api.requests().iter().filter(|r| r.faulted).count();
    assert!(faulted > 0, "faults were injected");
    api.set_faults(0.0);
    let again = diff(&place, &api);
    assert_eq!(again.code, Some(0), "zero drift: {}", again.stdout);
    assert_no_secret(&out, &passwords(&api));
}

#[test]
fn a_deploy_killed_midway_converges_when_run_again() {
    let place = Place::new(VALUES);
    let api = fake(0.0);
    api.hold_after_mutations(6);
    let mut command = place.command(
        &api,
        &[
            "deploy",
            "db",
            "-f",
            &place.values(),
            "--org",
            "acme",
            "--gvc",
            GVC,
            "--yes",
        ],
    );
    command.env("CPLN_TOKEN", api.token());
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !api.held() {
        assert!(
            Instant::now() < deadline,
            "the deploy never reached the hold"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    api.release();
    let partial = passwords(&api);
    assert!(
        api.object("workload", "db-postgres").is_none(),
        "killed before the workloads"
    );

    let rerun = deploy(&place, &api);
    assert_eq!(rerun.code, Some(0), "{}{}", rerun.stdout, rerun.stderr);
    assert!(rerun.stdout.contains("unchanged"), "{}", rerun.stdout);
    assert_eq!(
        passwords(&api),
        partial,
        "the rerun keeps the passwords already stored"
    );
    assert_eq!(diff(&place, &api).code, Some(0));
}

#[test]
fn weak_written_passwords_are_refused_and_validate_says_so_first() {
    let place = Place::new(&format!("{VALUES}  password: password\n"));
    let api = fake(0.0);
    let out = deploy(&place, &api);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("C001"), "{}", out.stderr);
    assert_eq!(api.mutations(), 0);
    let validate = postgres_ha_tests::cli(&["validate", &place.values()]);
    assert!(validate.stdout.contains("C001"), "{}", validate.stdout);
}

#[test]
fn destroy_keeps_the_volumes_unless_asked_and_never_without_confirmation() {
    let place = Place::new(VALUES);
    let api = fake(0.0);
    assert_eq!(deploy(&place, &api).code, Some(0));
    let args = ["destroy", "db", "--org", "acme", "--gvc", GVC];
    let unconfirmed = place.cli(&api, &args);
    assert_eq!(unconfirmed.code, Some(2), "{}", unconfirmed.stderr);
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    assert!(api.object("workload", "db-postgres").is_some());

    let kept = place.cli(&api, &[&args[..], &["--yes"]].concat());
    assert_eq!(kept.code, Some(0), "{}{}", kept.stdout, kept.stderr);
    for (kind, name) in [
        ("workload", "db-postgres"),
        ("workload", "db-etcd"),
        ("secret", "db-credentials"),
        ("policy", "db-secrets"),
        ("identity", "db-identity"),
    ] {
        assert!(api.object(kind, name).is_none(), "{kind} {name} is gone");
    }
    assert!(api.object("volumeset", "db-postgres-vs").is_some());
    assert!(api.object("volumeset", "db-etcd-vs").is_some());

    // Again, with the volumes: what is already gone is no error.
    let all = place.cli(&api, &[&args[..], &["--delete-volumes", "--yes"]].concat());
    assert_eq!(all.code, Some(0), "{}{}", all.stdout, all.stderr);
    assert!(all.stderr.contains("absent  workload db-postgres"));
    assert!(api.object("volumeset", "db-postgres-vs").is_none());
}

#[test]
fn context_and_token_come_from_the_cpln_profile_store() {
    let place = Place::new(VALUES);
    let api = fake(0.0);
    let profiles = place.dir.path().join("cpln/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let profile = serde_json::json!({
        "name": "work",
        "context": {"org": "acme", "gvc": GVC},
        "request": {"endpoint": api.url(), "token": api.token()},
    });
    std::fs::write(profiles.join("work.json"), profile.to_string()).unwrap();
    std::fs::write(profiles.join("default"), "work").unwrap();
    let mut command = place.command(&api, &["diff", "db", "-f", &place.values()]);
    command.env_remove("CPLN_ENDPOINT");
    let out = run(&mut command, None, Duration::from_secs(60));
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("release db in org acme GVC prod"),
        "{}",
        out.stdout
    );

    // A wrong token is refused with the API's message, and never shown.
    let mut command = place.command(&api, &["diff", "db", "-f", &place.values()]);
    command.env("CPLN_TOKEN", "s.wrong-token-value-0123456789");
    let refused = run(&mut command, None, Duration::from_secs(60));
    assert_eq!(
        refused.code,
        Some(2),
        "{}{}",
        refused.stdout,
        refused.stderr
    );
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains("wrong-token-value"),
        "{}",
        refused.stderr
    );

    // Nothing to say which org: the command says how to name one.
    let empty = Place::new(VALUES);
    let mut command = empty.command(&api, &["diff", "db", "-f", &empty.values()]);
    command.env("CPLN_TOKEN", "plain-token");
    let nothing = run(&mut command, None, Duration::from_secs(60));
    assert_eq!(nothing.code, Some(2));
    assert!(nothing.stderr.contains("--org"), "{}", nothing.stderr);

    // A browser login whose access token has expired is renewed by the cpln CLI
    // (`cpln profile token NAME`, here a stand-in script on PATH), whose answer is
    // what reaches the API.
    let login = Place::new(VALUES);
    let profiles = login.dir.path().join("cpln/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let expired = format!(
        "eyJhbGciOiJub25lIn0.{}.sig",
        postgres_ha_tests::b64(r#"{"exp":1}"#)
    );
    let profile = serde_json::json!({
        "name": "me",
        "context": {"org": "acme", "gvc": GVC},
        "request": {"endpoint": api.url()},
        "authInfo": {"email": "me@example.com", "accessToken": expired, "refreshToken": "r"},
    });
    std::fs::write(profiles.join("me.json"), profile.to_string()).unwrap();
    let bin_dir = login.dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let cpln = bin_dir.join("cpln");
    std::fs::write(
        &cpln,
        format!(
            "#!/bin/sh\n[ \"$1 $2 $3\" = 'profile token me' ] || exit 3\necho {}\n",
            api.token()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cpln, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut command = login.command(&api, &["diff", "db", "-f", &login.values()]);
    command.env_remove("CPLN_ENDPOINT").env(
        "PATH",
        format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
    );
    expect(
        &run(&mut command, None, Duration::from_secs(60)),
        1,
        "16 to create",
    );
}

/// The members of the local cluster as the terminal server reaches them.
fn members_of(cluster: &Local, status: &Value) -> Vec<Member> {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let pod = m["name"].as_str().unwrap().to_owned();
            let index = postgres_ha_core::local::member_index(&cluster.name, &pod).unwrap();
            Member {
                pod,
                api_port: u16::try_from(m["api_port"].as_u64().unwrap()).unwrap(),
                pg_port: u16::try_from(m["port"].as_u64().unwrap()).unwrap(),
                home: cluster
                    .dir()
                    .join(postgres_ha_core::local::member_short(index)),
            }
        })
        .collect()
}

/// The container's environment as the platform fills it from the secret's `data`.
fn container_env(data: &Value) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = PASSWORD_ENV
        .iter()
        .map(|(name, key)| {
            let value = data[key.secret_key()].as_str().unwrap_or_default();
            ((*name).to_owned(), value.to_owned())
        })
        .collect();
    env.sort();
    env
}

/// The platform's side of a replica stop, played on the local cluster: the member
/// stops cleanly, the command completes, and the member starts again with the
/// secret's current values (in its container's environment, and in the local
/// member's configuration and the local cluster's record, where its Patroni and the
/// local tools read them).
fn recreate(api: &FakeCpln, exec: &FakeExec, cluster: &Local, command: &Value, secret: &str) {
    let pod = command["spec"]["replica"].as_str().unwrap();
    let index = postgres_ha_core::local::member_index(&cluster.name, pod).unwrap();
    let short = postgres_ha_core::local::member_short(index);
    let stopped = cluster.cli(&["local", "stop", &cluster.name, "--member", &short], 120);
    assert_eq!(
        stopped.code,
        Some(0),
        "{}{}",
        stopped.stdout,
        stopped.stderr
    );
    api.finish_command(command["id"].as_str().unwrap(), "completed");
    let data = api.object("secret", secret).unwrap()["data"].clone();
    exec.set_env(pod, container_env(&data));
    let config_path = cluster.dir().join(&short).join("patroni.yml");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let (credentials, _) = postgres_ha_core::render::Credentials::from_secret_data(&data);
    postgres_ha_core::render::insert_passwords(&mut config, &credentials);
    // Written in place: the file keeps its owner and mode.
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let record = cluster.dir().join("credentials.yaml");
    let recorded: String = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((key, _)) if data[key].is_string() => format!("{key}: {}\n", data[key]),
            _ => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&record, recorded).unwrap();
    let started = cluster.cli(&["local", "start", &cluster.name, "--member", &short], 120);
    assert_eq!(
        started.code,
        Some(0),
        "{}{}",
        started.stdout,
        started.stderr
    );
}

/// The platform's side of day-2 operations, played on the local cluster until
/// `stop`: when the PostgreSQL workload's member count in the fake API differs from
/// the members running, the local cluster grows or shrinks to it (the platform starts
/// a replica on a new volume, or stops the highest ones and keeps their volumes) and
/// the terminal server lists the members it has; a replica stop is carried out by
/// [`recreate`], except that the command numbered `fail` (in the order posted) fails
/// without stopping anything.
fn play_the_platform(
    api: &FakeCpln,
    exec: &FakeExec,
    cluster: &Local,
    stop: &std::sync::atomic::AtomicBool,
    fail: &std::sync::atomic::AtomicUsize,
) {
    let workload = format!("{}-postgres", cluster.name);
    let secret = format!("{}-credentials", cluster.name);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let wanted =
            api.object("workload", &workload).unwrap()["spec"]["defaultOptions"]["autoscaling"]
                ["minScale"]
                .as_u64()
                .unwrap();
        if wanted != exec.members().len() as u64 {
            let scaled = cluster.cli(
                &[
                    "scale",
                    &cluster.name,
                    "--local",
                    "--replicas",
                    &wanted.to_string(),
                    "--yes",
                ],
                300,
            );
            assert_eq!(scaled.code, Some(0), "{}{}", scaled.stdout, scaled.stderr);
            exec.set_members(members_of(cluster, &cluster.status()));
        }
        for command in api.pending_commands() {
            let number = api
                .commands_posted()
                .iter()
                .position(|c| c["id"] == command["id"]);
            if number == Some(fail.load(std::sync::atomic::Ordering::Relaxed)) {
                api.finish_command(command["id"].as_str().unwrap(), "failed");
            } else if command["type"] == "stopReplica" {
                recreate(api, exec, cluster, &command, &secret);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A release deployed with the fake API over a running local cluster, whose members
/// the fake terminal server reaches.
struct Release {
    cluster: Local,
    /// The local cluster's status when deployed.
    status: Value,
    exec: FakeExec,
    api: FakeCpln,
    place: Place,
    /// Every password the containers have at the start.
    passwords: Vec<String>,
}

const CONTROL_PLANE: [&str; 4] = ["--org", "acme", "--gvc", GVC];

impl Release {
    /// The local cluster `name` (with a synchronous standby), the fake platform over
    /// it, and a first deploy (which waits for readiness and Patroni).
    fn deploy(name: &str) -> (Self, Output) {
        let cluster = Local::new(name);
        let status = cluster.up_with_sync_standby();
        // The release already has its passwords (the local cluster's): deploy keeps
        // them.
        let mut data = serde_json::Map::new();
        for (key, password) in cluster.credentials() {
            data.insert(key, Value::from(password));
        }
        data.insert("password".into(), Value::from(PASSWORD));
        let data = Value::Object(data);
        let env = container_env(&data);
        let exec = FakeExec::start(Setup {
            token: Options::default().token,
            workload: format!("{name}-postgres"),
            members: members_of(&cluster, &status),
            env: env.clone(),
            pg_bin: runtime().join("pg/bin"),
            pg_lib: runtime().join("pg/lib"),
        });
        let api = FakeCpln::start(Options {
            org: "acme".into(),
            gvcs: vec![GVC.into()],
            remote: Some(exec.url().to_owned()),
            ..Options::default()
        });
        api.insert(
            "secret",
            None,
            serde_json::json!({"name": format!("{name}-credentials"), "type": "dictionary", "data": data}),
        );
        // The local cluster's values without the password: deploy keeps the secret's.
        let place = Place::new(
            "postgres:\n  username: app\n  database: app\npatroni:\n  timing:\n    preset: fast\n",
        );
        let release = Self {
            cluster,
            status,
            exec,
            api,
            place,
            passwords: env.into_iter().map(|(_, v)| v).collect(),
        };
        let deployed = release.cli(&["deploy", name, "-f", &release.place.values(), "--yes"]);
        assert_eq!(
            deployed.code,
            Some(0),
            "{}{}",
            deployed.stdout,
            deployed.stderr
        );
        (release, deployed)
    }

    /// The CLI against the fake platform, in the release's org and GVC.
    fn cli(&self, args: &[&str]) -> Output {
        self.place
            .cli(&self.api, &[args, &CONTROL_PLANE[..]].concat())
    }

    fn ports(&self) -> Vec<u64> {
        self.status["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["port"].as_u64().unwrap())
            .collect()
    }
}

/// Day-2 commands without `--local` reach real Patroni and PostgreSQL through the
/// exec websocket: a deployed release's status, a switchover under a writer (no
/// acknowledged write lost), and a reload; no password travels in an exec command or
/// reaches the output.
#[test]
fn day_two_commands_reach_real_patroni_through_the_exec_socket() {
    let _turn = lock();
    let (release, deployed) = Release::deploy("cp");
    let Release {
        cluster,
        status,
        exec,
        api,
        place,
        passwords,
    } = &release;
    let values = place.values();
    let mut outputs = vec![deployed];

    let shown = release.cli(&["status", "cp", "-o", "json"]);
    assert_eq!(shown.code, Some(0), "{}{}", shown.stdout, shown.stderr);
    let remote: Value = serde_json::from_str(&shown.stdout).unwrap();
    let leader = Local::member(status, "leader").unwrap()["name"].clone();
    assert_eq!(remote["leader"], leader, "{remote}");
    assert_eq!(remote["members"].as_array().unwrap().len(), 3);
    outputs.push(shown);

    let (mut writer, acked) = cluster.start_writer(Local::member(status, "leader").unwrap(), 300);
    let switched = release.cli(&["switchover", "cp", "--yes", "-o", "json"]);
    assert_eq!(
        switched.code,
        Some(0),
        "{}{}",
        switched.stdout,
        switched.stderr
    );
    let report: Value = serde_json::from_str(&switched.stdout).unwrap();
    assert_eq!(report["switchovers"][0]["from"], leader, "{report}");
    assert_ne!(report["switchovers"][0]["to"], leader);
    assert_eq!(report["status"]["leader"], report["switchovers"][0]["to"]);
    outputs.push(switched);
    let ports = release.ports();
    stop_writer_and_check(&mut writer, &acked, &ports, PASSWORD);

    let reloaded = release.cli(&["reload", "cp", "--yes"]);
    assert_eq!(
        reloaded.code,
        Some(0),
        "{}{}",
        reloaded.stdout,
        reloaded.stderr
    );
    outputs.push(reloaded);

    // Changed settings on a running release go through Patroni: a reload for one, a
    // rolling restart in this tool's order for one PostgreSQL reads only at start.
    place.write_values(
        "postgres:\n  username: app\n  database: app\n  parameters:\n    work_mem: 8MB\n    \
         max_connections: 150\npatroni:\n  timing:\n    preset: fast\n",
    );
    let planned = release.cli(&["diff", "cp", "-f", &values]);
    assert_eq!(
        planned.code,
        Some(1),
        "{}{}",
        planned.stdout,
        planned.stderr
    );
    assert!(
        planned
            .stdout
            .contains("setting postgres.parameters.max_connections: (unset) → 150 (restart)"),
        "{}",
        planned.stdout
    );
    let changed = release.cli(&["deploy", "cp", "-f", &values, "--yes"]);
    assert_eq!(
        changed.code,
        Some(0),
        "{}{}",
        changed.stdout,
        changed.stderr
    );
    assert!(
        changed.stdout.contains("settings applied"),
        "{}",
        changed.stdout
    );
    outputs.push(changed);
    for port in &ports {
        let shown = Local::psql(
            *port,
            "select current_setting('max_connections') || ' ' || current_setting('work_mem')",
        );
        assert_eq!(
            shown.stdout.trim(),
            "150 8MB",
            "member on {port}: {}",
            shown.stderr
        );
    }
    let after = cluster.status();
    assert!(
        after["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["pending_restart"] != true),
        "{after}"
    );
    let settled = release.cli(&["diff", "cp", "-f", &values]);
    assert_eq!(
        settled.code,
        Some(0),
        "{}{}",
        settled.stdout,
        settled.stderr
    );

    // `apply` changes the same settings of the running cluster without touching the
    // Control Plane resources.
    place.write_values(
        "postgres:\n  username: app\n  database: app\n  parameters:\n    work_mem: 16MB\n    \
         max_connections: 150\npatroni:\n  timing:\n    preset: fast\n",
    );
    let before = api.mutations();
    let applied = release.cli(&["apply", "cp", "-f", &values, "--yes"]);
    assert_eq!(
        applied.code,
        Some(0),
        "{}{}",
        applied.stdout,
        applied.stderr
    );
    assert_eq!(
        api.mutations(),
        before,
        "apply leaves the resources to deploy"
    );
    for port in &ports {
        let shown = Local::psql(*port, "select current_setting('work_mem')");
        assert_eq!(
            shown.stdout.trim(),
            "16MB",
            "member on {port}: {}",
            shown.stderr
        );
    }
    outputs.push(applied);

    // Connection strings for clients inside the GVC: the proxy for the leader, the
    // members' own addresses otherwise; the password only when asked.
    let leader_dsn = release.cli(&["dsn", "cp"]);
    assert_eq!(
        leader_dsn.code,
        Some(0),
        "{}{}",
        leader_dsn.stdout,
        leader_dsn.stderr
    );
    assert!(
        leader_dsn
            .stdout
            .starts_with("host=cp-proxy.prod.cpln.local port=5432 dbname=app user=app"),
        "{}",
        leader_dsn.stdout
    );
    let any_dsn = release.cli(&["dsn", "cp", "--role", "any"]);
    assert!(
        any_dsn
            .stdout
            .contains("replica-0.cp-postgres.aws-us-east-2.prod.cpln.local,"),
        "{}",
        any_dsn.stdout
    );
    assert!(!any_dsn.stdout.contains("password"));

    // The application's password, rotated through the exec socket: the role and the
    // release's secret change, the old password is refused, nothing shows the new one.
    let rotated = release.cli(&[
        "rotate-password",
        "cp",
        "--user",
        "app",
        "--generate",
        "--yes",
    ]);
    assert_eq!(
        rotated.code,
        Some(0),
        "{}{}",
        rotated.stdout,
        rotated.stderr
    );
    let secret = api.object("secret", "cp-credentials").unwrap();
    let new_password = secret["data"]["password"].as_str().unwrap().to_owned();
    assert_ne!(new_password, PASSWORD);
    for port in &ports {
        assert_eq!(
            Local::psql_as(*port, "app", &new_password, "select 1").code,
            Some(0),
            "the new password logs in on {port}"
        );
        assert_ne!(
            Local::psql_as(*port, "app", PASSWORD, "select 1").code,
            Some(0),
            "the old password is refused on {port}"
        );
    }
    assert_no_secret(&rotated, std::slice::from_ref(&new_password));
    // A deploy of values without a password keeps the rotated one.
    let kept = release.cli(&["diff", "cp", "-f", &values]);
    assert!(
        kept.stdout.contains("unchanged secret cp-credentials"),
        "{}{}",
        kept.stdout,
        kept.stderr
    );

    // Scale on Control Plane: the workload's member count changes, the platform (here
    // the local cluster, following the fake API) starts or removes the highest
    // members, and the plan waits until they stream or are gone.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let never = std::sync::atomic::AtomicUsize::new(usize::MAX);
    std::thread::scope(|scope| {
        let platform = scope.spawn(|| play_the_platform(api, exec, cluster, &stop, &never));
        for replicas in ["4", "3"] {
            let scaled =
                release.cli(&["scale", "cp", "--replicas", replicas, "--yes", "-o", "json"]);
            assert_eq!(scaled.code, Some(0), "{}{}", scaled.stdout, scaled.stderr);
            let workload = api.object("workload", "cp-postgres").unwrap();
            assert_eq!(
                workload["spec"]["defaultOptions"]["autoscaling"]["minScale"].to_string(),
                replicas
            );
            let report: Value = serde_json::from_str(&scaled.stdout).unwrap();
            assert_eq!(
                report["status"]["members"]
                    .as_array()
                    .unwrap()
                    .len()
                    .to_string(),
                replicas,
                "{report}"
            );
            outputs.push(scaled);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        platform.join().unwrap();
    });
    assert_eq!(exec.members().len(), 3);

    let frames = exec.frames();
    assert!(
        frames.len() > 5,
        "the commands went through the exec socket"
    );
    for frame in &frames {
        assert_eq!(frame["requestVersion"], "v4");
        assert_eq!(frame["container"], "postgres");
        let command = frame["command"].to_string();
        assert!(
            passwords.iter().all(|p| !command.contains(p.as_str())),
            "a password travelled in an exec command"
        );
    }
    for output in &outputs {
        assert_no_secret(output, passwords);
    }
}

/// The internal passwords on Control Plane: members read them from their environment
/// at start, so a rotation stores the new one in the secret and has the platform
/// recreate each member, replicas first, then the leader after a switchover. Under a
/// writer no acknowledged write is lost; afterwards every member streams with the new
/// password, the old one is refused, and no password reaches an output or an exec
/// command.
#[test]
fn internal_passwords_rotate_on_control_plane_by_recreating_each_member() {
    let _turn = lock();
    let (release, _) = Release::deploy("cq");
    let ports = release.ports();
    let (mut writer, acked) = release
        .cluster
        .start_writer(Local::member(&release.status, "leader").unwrap(), 600);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let fail = std::sync::atomic::AtomicUsize::new(usize::MAX);
    let mut outputs = Vec::new();
    let mut rotated = Vec::new();
    std::thread::scope(|scope| {
        let platform = scope.spawn(|| {
            play_the_platform(&release.api, &release.exec, &release.cluster, &stop, &fail);
        });
        for (user, key) in [
            ("replication", CredentialKey::Replication),
            ("superuser", CredentialKey::Superuser),
            ("restapi", CredentialKey::RestApi),
        ] {
            let before = release.api.commands().len();
            let shown = release.cli(&["status", "cq", "-o", "json"]);
            let leading: Value = serde_json::from_str(&shown.stdout).unwrap();
            let leading = leading["leader"].as_str().unwrap().to_owned();
            let old = release.api.object("secret", "cq-credentials").unwrap()["data"]
                [key.secret_key()]
            .clone();
            let done = release.cli(&[
                "rotate-password",
                "cq",
                "--user",
                user,
                "--generate",
                "--yes",
                "-o",
                "json",
            ]);
            assert_eq!(done.code, Some(0), "{user}: {}{}", done.stdout, done.stderr);
            let new = release.api.object("secret", "cq-credentials").unwrap()["data"]
                [key.secret_key()]
            .clone();
            assert_ne!(new, old, "{user}: the secret holds the new password");
            // One stop per member, each member once, the one leading at the start last.
            let stops: Vec<String> = release.api.commands()[before..]
                .iter()
                .map(|c| c["spec"]["replica"].as_str().unwrap().to_owned())
                .collect();
            let mut distinct = stops.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!((stops.len(), distinct.len()), (3, 3), "{user}: {stops:?}");
            assert_eq!(stops[2], leading, "{user}: {stops:?}");
            rotated.push((
                key,
                old.as_str().unwrap().to_owned(),
                new.as_str().unwrap().to_owned(),
            ));
            outputs.push(done);
        }
        // The platform fails to stop the second member: the rotation stops there with
        // the reason, and a rerun finishes it, restarting only the members not done.
        let before = release.api.commands().len();
        fail.store(before + 1, std::sync::atomic::Ordering::Relaxed);
        let failed = release.cli(&[
            "rotate-password",
            "cq",
            "--user",
            "rewind",
            "--generate",
            "--yes",
        ]);
        expect(&failed, 2, "did not stop");
        let first = release.api.commands()[before]["spec"]["replica"].clone();
        let resumed = release.cli(&["rotate-password", "cq", "--user", "rewind", "--yes"]);
        expect(&resumed, 0, "done: finish rotating the rewind password");
        let again: Vec<Value> = release.api.commands()[before + 2..]
            .iter()
            .map(|c| c["spec"]["replica"].clone())
            .collect();
        assert_eq!(again.len(), 2, "{again:?}");
        assert!(
            !again.contains(&first),
            "{first} was restarted twice: {again:?}"
        );
        outputs.extend([failed, resumed]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        platform.join().unwrap();
    });
    stop_writer_and_check(&mut writer, &acked, &ports, PASSWORD);
    let status = release.cluster.status();
    let streaming = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "streaming")
        .count();
    assert_eq!(streaming, 2, "{status}");
    let (_, old_superuser, superuser) = rotated
        .iter()
        .find(|(k, _, _)| *k == CredentialKey::Superuser)
        .unwrap()
        .clone();
    for port in &ports {
        assert_eq!(
            Local::psql_as(*port, "postgres", &superuser, "select 1").code,
            Some(0),
            "the new superuser password logs in on {port}"
        );
        assert_ne!(
            Local::psql_as(*port, "postgres", &old_superuser, "select 1").code,
            Some(0),
            "the old superuser password is refused on {port}"
        );
    }
    let mut secrets = release.passwords.clone();
    secrets.extend(rotated.iter().map(|(_, _, new)| new.clone()));
    for output in &outputs {
        assert_no_secret(output, &secrets);
    }
    for frame in release.exec.frames() {
        let command = frame["command"].to_string();
        assert!(
            secrets.iter().all(|p| !command.contains(p.as_str())),
            "a password travelled in an exec command"
        );
    }
}

/// The remaining day-2 commands on the Control Plane path, against real Patroni
/// through the exec socket, under a writer: `restart` of one replica (a new
/// postmaster, no switchover), `reinit` of one, and `pause`, during which the leader's
/// PostgreSQL dies and nobody takes over, until `failover` promotes the member named;
/// then `resume`. No acknowledged write is lost and no password reaches an output.
#[test]
fn restart_reinit_pause_and_failover_run_on_control_plane() {
    let _turn = lock();
    let (release, deployed) = Release::deploy("cf");
    let ports = release.ports();
    let (mut writer, acked) = release
        .cluster
        .start_writer(Local::member(&release.status, "leader").unwrap(), 400);
    let mut outputs = vec![deployed];
    let mut ok = |args: &[&str]| {
        let output = release.cli(args);
        assert_eq!(
            output.code,
            Some(0),
            "{args:?}: {}{}",
            output.stdout,
            output.stderr
        );
        let text = output.stdout.clone();
        outputs.push(output);
        text
    };
    let name = |member: &Value| member["name"].as_str().unwrap().to_owned();

    let before = release.cluster.status();
    let replica = Local::member(&before, "replica").unwrap().clone();
    let report: Value = serde_json::from_str(&ok(&[
        "restart",
        "cf",
        "--member",
        &name(&replica),
        "--yes",
        "-o",
        "json",
    ]))
    .unwrap();
    assert!(
        report["switchovers"].as_array().unwrap().is_empty(),
        "{report}"
    );
    let after = release.cluster.status();
    let now = after["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == replica["name"])
        .unwrap();
    assert_ne!(now["postmaster_pid"], replica["postmaster_pid"], "{now}");

    ok(&["reinit", "cf", "--member", &name(&replica), "--yes"]);
    release.cluster.wait_for(
        "the rebuilt replica streams",
        Duration::from_secs(60),
        |s| {
            s["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == replica["name"] && m["state"] == "streaming")
        },
    );

    ok(&["pause", "cf", "--yes"]);
    let status = release.cluster.status();
    assert_eq!(status["paused"], true, "{status}");
    let dead = Local::member(&status, "leader").unwrap().clone();
    let heir = name(Local::member(&status, "sync_standby").unwrap());
    let _ = Command::new("kill")
        .args(["-KILL", &dead["postmaster_pid"].to_string()])
        .status();
    // Paused: nobody takes over on their own.
    let quiet = Instant::now() + Duration::from_secs(5);
    while Instant::now() < quiet {
        assert!(
            postgres_ha_tests::cluster::primaries(&ports).is_empty(),
            "a member was promoted while paused"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let report: Value = serde_json::from_str(&ok(&[
        "failover",
        "cf",
        "--candidate",
        &heir,
        "--yes",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(report["status"]["leader"], heir.as_str(), "{report}");
    ok(&["resume", "cf", "--yes"]);
    release.cluster.wait_for(
        "resumed, every member streaming",
        Duration::from_secs(90),
        |s| {
            s["paused"] == false
                && s["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["state"] == "streaming")
                    .count()
                    == 2
        },
    );
    stop_writer_and_check(&mut writer, &acked, &ports, PASSWORD);
    for output in &outputs {
        assert_no_secret(output, &release.passwords);
    }
}
