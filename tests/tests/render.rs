//! `render`: snapshots, determinism, the platform lint over many value variants,
//! secrets handling, and real tools (bash, shellcheck, HAProxy, PyYAML) reading what
//! is rendered.

use std::process::Command;
use std::time::Duration;

use postgres_ha_core::render::{self, Credentials, Release, lint};
use postgres_ha_core::values::{AccessType, TimingPreset, Values};
use postgres_ha_core::{check, check_str};
use postgres_ha_tests::{cli, cli_with, root, run, seed_values, tool};
use serde_json::Value;

fn credentials() -> Credentials {
    Credentials::from_fn(|key| format!("test-{}", key.secret_key()))
}

fn release() -> Release {
    Release {
        name: "db".into(),
        gvc: "prod".into(),
        org: None,
    }
}

fn values_from(text: &str) -> Values {
    let checked = check_str(text);
    checked
        .values
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics))
}

fn render_yaml(values: &Values) -> String {
    render::to_yaml(&render::render(values, &release(), &credentials()).unwrap())
}

/// Parses multi-document YAML with `serde_yaml`, a parser the emitter does not share.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|doc| serde_yaml::from_str(doc).unwrap_or_else(|e| panic!("{e}: {doc}")))
        .collect()
}

fn find<'a>(resources: &'a [Value], name: &str) -> &'a Value {
    resources
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not rendered"))
}

/// `render db` of the seed example through the CLI, with a given credentials file.
fn render_seed(credentials: &std::path::Path, extra: &[&str]) -> postgres_ha_tests::Output {
    let seed = seed_values();
    let mut args = vec![
        "render",
        "db",
        "-f",
        seed.to_str().unwrap(),
        "--gvc",
        "prod",
        "--credentials",
        credentials.to_str().unwrap(),
    ];
    args.extend(extra);
    cli(&args)
}

#[test]
fn seed_example_snapshot() {
    let seed = check(&std::fs::read(seed_values()).unwrap())
        .values
        .unwrap();
    insta::assert_snapshot!(render_yaml(&seed));
}

#[test]
fn variant_snapshots() {
    let variants = [
        (
            "workload_list",
            "internal_access:\n  type: workload-list\n  workloads: [//gvc/prod/workload/api, //gvc/other/workload/worker]\n",
        ),
        ("etcd_five", "etcd:\n  replicas: 5\n"),
        ("sync_off", "patroni:\n  synchronous_mode: false\n"),
        ("proxy_off", "proxy:\n  enabled: false\n"),
    ];
    for (name, text) in variants {
        let values = values_from(&format!(
            "{text}postgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n"
        ));
        insta::assert_snapshot!(name, render_yaml(&values));
    }
}

#[test]
fn rendering_is_deterministic() {
    let seed = check(&std::fs::read(seed_values()).unwrap())
        .values
        .unwrap();
    assert_eq!(render_yaml(&seed), render_yaml(&seed));
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("c.yaml");
    let first = render_seed(&creds, &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.stderr.contains("generated internal passwords"));
    let second = render_seed(&creds, &[]);
    assert_eq!(first.stdout, second.stdout);
    assert!(!second.stderr.contains("generated"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn lint_holds_over_many_variants() {
    let mut rendered = 0;
    for replicas in [1, 2, 3, 6] {
        for etcd in [1, 3, 5] {
            for access in [
                AccessType::SameGvc,
                AccessType::SameOrg,
                AccessType::WorkloadList,
            ] {
                for (sync, proxy) in [(true, true), (false, false), (true, false)] {
                    for preset in [
                        TimingPreset::Fast,
                        TimingPreset::Normal,
                        TimingPreset::Safe,
                        TimingPreset::Wide,
                    ] {
                        let mut values = Values {
                            replicas,
                            ..Values::default()
                        };
                        values.etcd.replicas = etcd;
                        values.internal_access.access_type = access;
                        values.internal_access.workloads =
                            Some(vec!["//gvc/prod/workload/api".into()]);
                        values.etcd.internal_access.access_type = access;
                        values.patroni.synchronous_mode = sync;
                        values.patroni.synchronous_mode_strict = sync && replicas > 1;
                        values.patroni.timing.preset = preset;
                        values.proxy.enabled = proxy;
                        for release in ["a", "db", &"r".repeat(render::MAX_RELEASE_NAME)] {
                            let release = Release {
                                name: release.into(),
                                gvc: "g".repeat(30),
                                org: None,
                            };
                            let resources = render::render(&values, &release, &credentials())
                                .unwrap_or_else(|e| panic!("{e}"));
                            assert!(lint(&resources).is_empty());
                            rendered += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(rendered, 4 * 3 * 3 * 3 * 4 * 3);
}

#[test]
fn render_refuses_more_members_than_the_platform_runs() {
    // Validation refuses these first (R007); render keeps its own guard for values
    // built in code.
    let mut values = Values::default();
    values.etcd.replicas = 7;
    let error = render::render(&values, &release(), &credentials()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "etcd.replicas is 7, but Control Plane caps replica-direct workloads at 6 replicas (and orgs default to 5 per workload)"
    );
    values.etcd.replicas = 3;
    values.replicas = 7;
    assert!(render::render(&values, &release(), &credentials()).is_err());
}

/// `validate` and `render` reach the same verdict on every fixture, with and without
/// `--strict`; a refused render writes nothing.
#[test]
fn validate_and_render_agree_on_every_fixture() {
    let dir = tempfile::tempdir().unwrap();
    for (i, fixture) in postgres_ha_tests::fixtures().into_iter().enumerate() {
        let path = fixture.path.to_str().unwrap();
        for strict in [false, true] {
            let mut validate = vec!["validate", "-o", "json", path];
            let creds = dir.path().join(format!("{i}-{strict}.credentials.yaml"));
            let mut render = vec![
                "render",
                "db",
                "-f",
                path,
                "--gvc",
                "prod",
                "--credentials",
                creds.to_str().unwrap(),
            ];
            if strict {
                validate.push("--strict");
                render.push("--strict");
            }
            let validated = cli(&validate);
            let rendered = cli(&render);
            assert_eq!(
                validated.code, rendered.code,
                "{path} (strict: {strict}): validate {:?}, render {:?}: {}",
                validated.code, rendered.code, rendered.stderr
            );
            assert_eq!(creds.exists(), rendered.code == Some(0), "{path}");
        }
    }
}

#[test]
fn render_shows_warnings_and_takes_strict() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("x.credentials.yaml");
    let args = [
        "render",
        "x",
        "-f",
        "-",
        "--gvc",
        "prod",
        "--credentials",
        creds.to_str().unwrap(),
    ];
    let out = cli_with(&args, Some(b"{}\n"), &[]);
    assert_eq!(out.code, Some(0));
    assert!(out.stderr.contains("warning[C001]"), "{}", out.stderr);
    assert!(out.stderr.contains("the default is used"), "{}", out.stderr);
    std::fs::remove_file(&creds).unwrap();
    let mut strict = args.to_vec();
    strict.push("--strict");
    let out = cli_with(&strict, Some(b"{}\n"), &[]);
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.is_empty());
    assert!(!creds.exists());
}

#[test]
fn credentials_file_is_checked_like_a_values_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("c.yaml");
    assert_eq!(render_seed(&creds, &[]).code, Some(0));
    let good = std::fs::read_to_string(&creds).unwrap();
    let write = |text: &str, mode: u32| {
        std::fs::write(&creds, text).unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // Readable by others: refused with the fix, as ssh does.
    write(&good, 0o644);
    let out = render_seed(&creds, &[]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    // A one-character password and one with a NUL: refused by code and line, unshown.
    let superuser = good
        .lines()
        .find_map(|l| l.strip_prefix("superuser-password: "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    for (text, code) in [
        (good.replace(&superuser, "x"), "C004"),
        (
            good.replace(&superuser, &format!("{}\\0", &superuser[..20])),
            "C004",
        ),
        (format!("{}\n", "[".repeat(100_000)), "Y014"),
        (format!("{}\n", "[".repeat(1_000)), "Y005"),
        (
            good.replace("superuser-password", "superuser-pasword"),
            "S002",
        ),
    ] {
        write(&text, 0o600);
        let out = render_seed(&creds, &[]);
        assert_eq!(out.code, Some(1), "{code}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("error[{code}]")),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains(&superuser[..20]), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    // `validate` checks a credentials file the way render reads it.
    let named = dir.path().join("db.credentials.yaml");
    std::fs::write(&named, good.replace(&superuser, "x")).unwrap();
    std::fs::set_permissions(&named, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = cli(&["validate", named.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("error[C004]"), "{}", out.stdout);
    std::fs::write(&named, &good).unwrap();
    assert_eq!(cli(&["validate", named.to_str().unwrap()]).code, Some(0));
    std::fs::set_permissions(&named, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = cli(&["validate", named.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.contains("chmod 600"), "{}", out.stdout);
    // Not a regular file, or a link to one.
    let link = dir.path().join("link.yaml");
    write(&good, 0o600);
    std::os::unix::fs::symlink(&creds, &link).unwrap();
    for path in [link.as_path(), std::path::Path::new("/dev/zero")] {
        let out = render_seed(path, &[]);
        assert_eq!(out.code, Some(2), "{}: {}", path.display(), out.stderr);
    }
}

#[test]
fn credentials_are_not_reused_across_gvcs_unless_named() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "postgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n").unwrap();
    let render = |gvc: &str, extra: &[&str]| {
        let mut args = vec!["render", "db", "-f", values.to_str().unwrap(), "--gvc", gvc];
        args.extend(extra);
        cli(&args)
    };
    assert_eq!(render("prod", &[]).code, Some(0));
    let creds = dir.path().join("db.credentials.yaml");
    assert!(
        std::fs::read_to_string(&creds)
            .unwrap()
            .contains("gvc: \"prod\"")
    );
    let staging = render("staging", &[]);
    assert_eq!(staging.code, Some(2));
    assert!(
        staging
            .stderr
            .contains("generated for GVC `prod`, not GVC `staging`"),
        "{}",
        staging.stderr
    );
    let named = render("staging", &["--credentials", creds.to_str().unwrap()]);
    assert_eq!(named.code, Some(0), "{}", named.stderr);
    assert!(named.stderr.contains("reusing it"), "{}", named.stderr);
    let fresh = dir.path().join("staging.credentials.yaml");
    let own = render("staging", &["--credentials", fresh.to_str().unwrap()]);
    assert_eq!(own.code, Some(0));
    assert_ne!(
        std::fs::read_to_string(&fresh).unwrap(),
        std::fs::read_to_string(&creds).unwrap()
    );
}

#[test]
fn resources_come_in_apply_order_with_tags() {
    let resources = documents(&render_yaml(&Values::default()));
    let kinds: Vec<&str> = resources
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    let mut sorted = kinds.clone();
    let rank = |k: &str| {
        ["secret", "identity", "volumeset", "policy", "workload"]
            .iter()
            .position(|x| *x == k)
    };
    sorted.sort_by_key(|k| rank(k));
    assert_eq!(kinds, sorted);
    for resource in &resources {
        assert_eq!(resource["tags"]["app.cpln.io/instance"], "db");
        assert_eq!(resource["tags"]["app.cpln.io/name"], "postgres-ha");
        assert_eq!(
            resource["tags"]["app.cpln.io/managed-by"],
            "cpln-postgres-ha"
        );
    }
}

#[test]
fn internal_access_is_rendered_as_the_values_say() {
    let values = values_from(
        "internal_access:\n  type: workload-list\n  workloads: [//gvc/prod/workload/api]\npostgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n",
    );
    let resources = documents(&render_yaml(&values));
    let internal =
        |name: &str| find(&resources, name)["spec"]["firewallConfig"]["internal"].clone();
    assert_eq!(
        internal("db-postgres"),
        serde_json::json!({
            "inboundAllowType": "workload-list",
            // The listed workload, plus the members themselves and the proxy.
            "inboundAllowWorkload": ["//gvc/prod/workload/api", "//gvc/prod/workload/db-postgres", "//gvc/prod/workload/db-proxy"],
        })
    );
    assert_eq!(
        internal("db-proxy"),
        serde_json::json!({"inboundAllowType": "workload-list", "inboundAllowWorkload": ["//gvc/prod/workload/api"]})
    );
    // etcd by default admits only the release's own workloads.
    assert_eq!(
        internal("db-etcd"),
        serde_json::json!({
            "inboundAllowType": "workload-list",
            "inboundAllowWorkload": ["//gvc/prod/workload/db-etcd", "//gvc/prod/workload/db-postgres"],
        })
    );
    for resource in &resources {
        assert!(
            resource["spec"]["firewallConfig"]["external"]["inboundAllowCIDR"]
                .as_array()
                .is_none_or(Vec::is_empty)
        );
    }
    let same_gvc = documents(&render_yaml(&values_from(
        "postgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n",
    )));
    assert_eq!(
        find(&same_gvc, "db-postgres")["spec"]["firewallConfig"]["internal"],
        serde_json::json!({"inboundAllowType": "same-gvc", "inboundAllowWorkload": []})
    );
}

#[test]
fn hostile_passwords_come_through_byte_exact_and_only_in_the_secret() {
    let password = "p'q\"r$s`t\\u;v\nw $(x) %y {z}";
    let escaped = password
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    let values = values_from(&format!("postgres:\n  password: \"{escaped}\"\n"));
    assert_eq!(values.postgres.password, password);
    let yaml = render_yaml(&values);
    let resources = documents(&yaml);
    let secret = find(&resources, "db-credentials");
    assert_eq!(secret["data"]["password"], password);
    let internal: Vec<String> = postgres_ha_core::render::CredentialKey::INTERNAL
        .iter()
        .map(|key| credentials().get(*key).unwrap().to_owned())
        .collect();
    assert_eq!(
        secret["data"]["superuser-password"],
        "test-superuser-password"
    );
    assert_eq!(
        secret["data"]["etcd-patroni-password"],
        "test-etcd-patroni-password"
    );
    for resource in resources.iter().filter(|r| r["name"] != "db-credentials") {
        let text = resource.to_string();
        for secret in std::iter::once(password).chain(internal.iter().map(String::as_str)) {
            let encoded = serde_json::to_string(secret).unwrap();
            let inner = &encoded[1..encoded.len() - 1];
            assert!(!text.contains(inner), "{} holds a secret", resource["name"]);
        }
    }
    // Workloads reference the secret; they never carry values.
    for workload in resources.iter().filter(|r| r["kind"] == "workload") {
        for var in workload["spec"]["containers"][0]["env"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let value = var["value"].as_str().unwrap();
            // Besides secret references and paths, only Patroni's etcd user name and
            // protocol are plain values.
            let plain = postgres_ha_core::render::etcd_env()
                .iter()
                .any(|(name, v)| var["name"] == *name && value == *v);
            assert!(
                value.starts_with("cpln://secret/") || value.starts_with('/') || plain,
                "{value}"
            );
        }
    }
    // The database name is an identifier psql quotes; the script never holds values.
    let bootstrap = find(&resources, "db-postgres-bootstrap")["data"]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(bootstrap.contains("CREATE DATABASE :\"app_database\" OWNER :\"app_user\""));
    assert!(bootstrap.contains("PASSWORD :'app_password'"));
}

#[test]
fn patroni_configuration_is_complete() {
    let resources = documents(&render_yaml(&values_from(
        "patroni:\n  timing:\n    preset: safe\n    retry_timeout: 15\npostgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n",
    )));
    let payload = find(&resources, "db-patroni-config")["data"]["payload"]
        .as_str()
        .unwrap();
    let config: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(config["scope"], "db");
    assert_eq!(config["etcd3"]["hosts"].as_array().unwrap().len(), 3);
    let dcs = &config["bootstrap"]["dcs"];
    assert_eq!(
        (
            dcs["ttl"].as_u64(),
            dcs["loop_wait"].as_u64(),
            dcs["retry_timeout"].as_u64()
        ),
        (Some(60), Some(10), Some(15))
    );
    assert_eq!(dcs["synchronous_mode"], true);
    assert_eq!(dcs["postgresql"]["use_pg_rewind"], true);
    assert_eq!(dcs["postgresql"]["parameters"]["wal_log_hints"], "on");
    assert!(dcs["member_slots_ttl"].is_string());
    assert_eq!(config["postgresql"]["basebackup"][0]["checkpoint"], "fast");
    assert_eq!(config["restapi"]["authentication"]["username"], "patroni");
    for line in config["postgresql"]["pg_hba"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        assert!(
            line.ends_with(" scram-sha-256") && !line.contains("trust") && !line.contains("md5"),
            "{line}"
        );
    }
    let workload = find(&resources, "db-postgres");
    let container = &workload["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], 8008);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readiness");
    assert!(
        container["lifecycle"]["preStop"]["exec"]["command"][1]
            .as_str()
            .unwrap()
            .ends_with("pre-stop.sh")
    );
    let start = find(&resources, "db-postgres-start")["data"]["payload"]
        .as_str()
        .unwrap();
    assert!(
        start.contains("fence") && start.contains("kill -KILL \"$pid\""),
        "no fence in start-up"
    );
}

#[test]
fn patroni_reads_the_configuration_as_intended() {
    // Patroni parses with PyYAML (YAML 1.1): `on`/`off` must stay strings.
    let resources = documents(&render_yaml(&Values::default()));
    let payload = find(&resources, "db-patroni-config")["data"]["payload"]
        .as_str()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("patroni.yml");
    std::fs::write(&file, payload).unwrap();
    let python = tool("pre-commit")
        .canonicalize()
        .unwrap()
        .parent()
        .unwrap()
        .join("python");
    let out = run(
        Command::new(python).arg("-c").arg(
            "import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); p = c['bootstrap']['dcs']['postgresql']['parameters']; \
             print(repr(p['hot_standby']), repr(p['wal_log_hints']), repr(c['watchdog']['mode']), c['etcd3']['hosts'][0])",
        ).arg(&file),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "'on' 'on' 'off' replica-0.db-etcd.@LOCATION@.prod.cpln.local:2379"
    );
}

#[test]
fn scripts_pass_bash_and_shellcheck_and_haproxy_accepts_its_configuration() {
    let resources = documents(&render_yaml(&Values::default()));
    let dir = tempfile::tempdir().unwrap();
    for secret in resources.iter().filter(|r| r["type"] == "opaque") {
        let name = secret["name"].as_str().unwrap();
        let payload = secret["data"]["payload"].as_str().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, payload).unwrap();
        let Some(shebang) = payload.lines().next().filter(|l| l.starts_with("#!")) else {
            continue;
        };
        let shell = if shebang.ends_with("bash") {
            "bash"
        } else {
            "sh"
        };
        let syntax = run(
            Command::new(shell).arg("-n").arg(&path),
            None,
            Duration::from_secs(10),
        );
        assert_eq!(syntax.code, Some(0), "{name}: {}", syntax.stderr);
        let lint = run(
            Command::new("shellcheck").args(["-s", shell]).arg(&path),
            None,
            Duration::from_secs(30),
        );
        assert_eq!(lint.code, Some(0), "{name}:\n{}", lint.stdout);
        if let Some(start) = payload.find("<<'PY'\n") {
            let body = &payload[start + 7..payload.rfind("\nPY\n").unwrap()];
            let script = dir.path().join(format!("{name}.py"));
            std::fs::write(&script, body).unwrap();
            let compiled = run(
                Command::new("python3")
                    .args(["-m", "py_compile"])
                    .arg(&script),
                None,
                Duration::from_secs(10),
            );
            assert_eq!(compiled.code, Some(0), "{name}: {}", compiled.stderr);
        }
    }
    // HAProxy's own configuration check, in an empty network namespace so its name
    // lookups fail at once and send nothing anywhere.
    let config = dir.path().join("db-proxy-config");
    let check = run(
        Command::new("unshare")
            .args(["-n", "/usr/sbin/haproxy", "-c", "-f"])
            .arg(&config)
            .env("LOCATION", "aws-us-east-2"),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(check.code, Some(0), "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("Configuration file is valid"),
        "{}",
        check.stdout
    );
}

#[test]
fn render_refuses_invalid_values_and_names() {
    let invalid = root().join("tests/fixtures/values/r003-etcd-even.yaml");
    let out = cli(&[
        "render",
        "db",
        "-f",
        invalid.to_str().unwrap(),
        "--gvc",
        "prod",
    ]);
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("error[R003]"), "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "postgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n").unwrap();
    let long = "a".repeat(render::MAX_RELEASE_NAME + 1);
    for (name, expected) in [
        (long.as_str(), "the limit is 40"),
        ("Db", "lower-case"),
        ("db-", "must not end"),
    ] {
        let out = cli(&[
            "render",
            name,
            "-f",
            values.to_str().unwrap(),
            "--gvc",
            "prod",
        ]);
        assert_eq!(out.code, Some(2), "{name}");
        assert!(out.stderr.contains(expected), "{name}: {}", out.stderr);
    }
    // Nothing was created for the refused names.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let out = cli_with(
        &[
            "render",
            "db",
            "-f",
            values.to_str().unwrap(),
            "--gvc",
            "Prod",
        ],
        None,
        &[],
    );
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("invalid GVC name"), "{}", out.stderr);
}

#[test]
fn json_output_is_the_same_resources() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("c.yaml");
    let yaml = render_seed(&creds, &[]);
    let json = render_seed(&creds, &["-o", "json"]);
    let from_json: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(from_json, documents(&yaml.stdout));
}

/// The rendered start-up script's watchdog, run by bash in a network namespace of its
/// own (its Patroni port, 8008, exists nowhere else): a stand-in Patroni answers
/// `/liveness`, then freezes (SIGSTOP); the watchdog kills it and fences the
/// "postmaster" within the hang bound, before the leader lease could expire.
#[test]
fn start_script_watchdog_fences_a_hung_patroni_within_the_bound() {
    let values = values_from(
        "patroni:\n  timing:\n    preset: fast\npostgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n",
    );
    let bound = values.patroni.timing.effective().hang_bound();
    let resources = render::render(&values, &release(), &credentials()).unwrap();
    let script = find(&resources, "db-postgres-start")["data"]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The functions and the watchdog, with the stand-in Patroni and a scratch data dir.
    let start = script.find("fence() {").unwrap();
    let end = script.find("watch &").unwrap() + "watch &".len();
    let block = script[start..end]
        .replace(postgres_ha_core::render::PGDATA, data.to_str().unwrap())
        .replace(
            "gosu postgres patroni /tmp/patroni.yml &",
            "python3 -c \"$STANDIN\" &",
        );
    let harness = format!(
        r#"set -euo pipefail
ip link set lo up
mkdir -p '{data}'
sleep 300 & echo $! > '{data}/postmaster.pid'
POSTMASTER=$(head -n 1 '{data}/postmaster.pid')
STANDIN='
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", 8008), H).serve_forever()
'
{block}
sleep 4
kill -STOP "$PATRONI"
frozen=$SECONDS
while kill -0 "$PATRONI" 2>/dev/null && (( SECONDS - frozen < 60 )); do sleep 0.2; done
echo "fenced after $(( SECONDS - frozen )) s"
if kill -0 "$POSTMASTER" 2>/dev/null; then echo "postmaster alive"; else echo "postmaster dead"; fi
"#,
        data = data.display()
    );
    let out = run(
        Command::new("unshare").args(["-n", "bash", "-c", &harness]),
        None,
        Duration::from_secs(90),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let seconds: u32 = out
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("fenced after ")?
                .strip_suffix(" s")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(out.stdout.contains("postmaster dead"), "{out:?}");
    assert!(
        out.stderr.contains("watchdog: Patroni has not answered"),
        "{out:?}"
    );
    // Within the bound plus a poll and a request; well before ttl − loop_wait.
    assert!(
        seconds <= bound + 3,
        "fenced after {seconds} s, bound {bound} s"
    );
    let timing = values.patroni.timing.effective();
    assert!(seconds < timing.ttl - timing.loop_wait, "{seconds} s");
}

/// The rendered etcd start-up script turns authentication on with the same steps the
/// local supervisor uses: run by bash with the real etcdctl against a real etcd 3.4.23
/// (in a network namespace of its own, stopped with it), it leaves anonymous clients
/// refused, Patroni's user confined to the release's keys, and a second run harmless.
#[test]
fn etcd_start_script_turns_authentication_on() {
    let resources = render::render(&Values::default(), &release(), &credentials()).unwrap();
    let script = find(&resources, "db-etcd-start")["data"]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = script.find("enable_auth() {").unwrap();
    let end = script[start..].find("\n}\n").unwrap() + start + 3;
    let function = &script[start..end];
    let dir = tempfile::tempdir().unwrap();
    let etcd = root().join(".tools/runtime/etcd/etcd");
    assert!(
        etcd.exists(),
        "etcd is not installed; run scripts/install-test-tools.sh"
    );
    let harness = format!(
        r#"set -uo pipefail
ip link set lo up
'{etcd}' --data-dir '{data}' --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 >'{data}.log' 2>&1 &
ETCD=$!
trap 'kill -KILL $ETCD' EXIT
export ETCD_ROOT_PASSWORD='root-secret-123' PATRONI_ETCD3_PASSWORD='patroni-secret-456'
{function}
# An earlier set-up interrupted after its first step: root exists, authentication is
# still off. The set-up must finish the job, not take root's login as done.
until ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 endpoint health >/dev/null 2>&1; do sleep 0.2; done
printf '%s' "$ETCD_ROOT_PASSWORD" | ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 user add root --interactive=false >/dev/null
timeout 60 bash -c "$(declare -f enable_auth); enable_auth" || echo "set-up failed"
timeout 60 bash -c "$(declare -f enable_auth); enable_auth" || echo "second run failed"
export ETCDCTL_API=3 ETCDCTL_ENDPOINTS=http://127.0.0.1:2379
etcdctl put /postgres-ha/db/leader x >/dev/null 2>&1 && echo "anonymous write accepted"
etcdctl get /postgres-ha/db/leader >/dev/null 2>&1 && echo "anonymous read accepted"
ETCDCTL_USER="patroni:$PATRONI_ETCD3_PASSWORD" etcdctl put /postgres-ha/db/leader db-postgres-0 >/dev/null && echo "patroni writes its keys"
ETCDCTL_USER="patroni:$PATRONI_ETCD3_PASSWORD" etcdctl put /postgres-ha/other/leader x >/dev/null 2>&1 && echo "patroni writes another release"
ETCDCTL_USER="patroni:$PATRONI_ETCD3_PASSWORD" etcdctl user add intruder:x >/dev/null 2>&1 && echo "patroni adds users"
echo done
"#,
        etcd = etcd.display(),
        data = dir.path().join("data").display(),
    );
    let out = run(
        Command::new("unshare").args(["-n", "bash", "-c", &harness]),
        None,
        Duration::from_secs(150),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["patroni writes its keys", "done"],
        "{out:?}"
    );
}

/// A credentials file written before etcd had authentication keeps its passwords and
/// gains the etcd ones on the next render.
#[test]
fn older_credentials_files_gain_the_etcd_passwords() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("c.yaml");
    let old = "superuser: s-0123456789abcdef\nreplication: r-0123456789abcdef\nrewind: w-0123456789abcdef\nrestapi: a-0123456789abcdef\n";
    std::fs::write(&creds, old).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let first = render_seed(&creds, &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("added the generated etcd root and etcd Patroni passwords"),
        "{}",
        first.stderr
    );
    let text = std::fs::read_to_string(&creds).unwrap();
    for kept in [
        "s-0123456789abcdef",
        "r-0123456789abcdef",
        "w-0123456789abcdef",
        "a-0123456789abcdef",
    ] {
        assert!(text.contains(kept), "{text}");
    }
    assert!(
        text.contains("etcd-root-password: ") && text.contains("etcd-patroni-password: "),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Stable from then on.
    let second = render_seed(&creds, &[]);
    assert_eq!(first.stdout, second.stdout);
    assert!(!second.stderr.contains("added"));
}
