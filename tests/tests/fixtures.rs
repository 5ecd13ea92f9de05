//! Every fixture yields exactly the diagnostics it declares, at the declared place.

use postgres_ha_core::{Code, check};
use postgres_ha_tests::{fixtures, located, root, seed_values, shared};

#[test]
fn fixtures_report_exactly_what_they_declare() {
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let checked = check(&std::fs::read(&fixture.path).unwrap());
        let found = located(&checked);
        if found != fixture.expected {
            failures.push(format!(
                "{}\n  expected {:?}\n  found    {:?}\n  messages {:#?}",
                fixture.path.display(),
                fixture.expected,
                found,
                checked
                    .diagnostics
                    .iter()
                    .map(|d| &d.message)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Codes checked with generated input in `hostile.rs` rather than a fixture file.
const GENERATED_ONLY: &[Code] = &[
    Code::NotUtf8,
    Code::TooLarge,
    Code::TooDeep,
    Code::AliasExpansion,
    Code::SchemaViolation,
    Code::FileUnreadable,
    Code::TooManyProblems,
    Code::TooManyNodes,
];

/// Codes no longer reported (kept so their meaning is never reused).
const RETIRED: &[Code] = &[Code::EtcdTooMany];

#[test]
fn every_code_has_a_fixture() {
    let declared: Vec<String> = fixtures().into_iter().flat_map(|f| f.expected).collect();
    for code in Code::ALL {
        if GENERATED_ONLY.contains(code) || RETIRED.contains(code) {
            continue;
        }
        assert!(
            declared
                .iter()
                .any(|d| d.starts_with(&format!("{}@", code.as_str()))),
            "no fixture declares {}",
            code.as_str()
        );
    }
}

#[test]
fn values_only_when_there_are_no_errors() {
    for fixture in fixtures() {
        let checked = check(&std::fs::read(&fixture.path).unwrap());
        assert_eq!(
            checked.values.is_some(),
            !checked.has_errors(),
            "{}",
            fixture.path.display()
        );
    }
}

#[test]
fn seed_example_validates_with_no_errors() {
    let checked = check(&std::fs::read(seed_values()).unwrap());
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let values = checked.values.clone().expect("typed values");
    assert_eq!(values.replicas, 3);
    assert_eq!(values.resources.cpu.as_str(), "1");
    assert_eq!(values.resources.memory.as_str(), "2Gi");
    assert_eq!(values.etcd.resources.cpu.as_str(), "500m");
    assert_eq!(values.postgres.database, "test");
    // The seed's weak password and unquoted cpu are reported, not rejected.
    assert_eq!(located(&checked), ["C001@9:15", "Q005@4:8"]);
}

#[test]
fn model_defaults_are_the_seed_example() {
    let checked = check(&std::fs::read(seed_values()).unwrap());
    let seed = checked.values.unwrap();
    let defaults = postgres_ha_core::Values::default();
    assert_eq!(seed.replicas, defaults.replicas);
    assert_eq!(seed.resources, defaults.resources);
    assert_eq!(seed.postgres, defaults.postgres);
    assert_eq!(seed.volumeset, defaults.volumeset);
    assert_eq!(seed.internal_access, defaults.internal_access);
    assert_eq!(seed.etcd.replicas, defaults.etcd.replicas);
    assert_eq!(seed.etcd.volumeset, defaults.etcd.volumeset);
    // etcd access is the one deliberate difference: by default only the release's own
    // workloads reach etcd; the seed's explicit `same-gvc` is still honoured.
    assert_eq!(
        seed.etcd.internal_access.access_type,
        postgres_ha_core::values::AccessType::SameGvc
    );
}

#[test]
fn template_2x_values_get_positioned_errors() {
    let path = shared().join("fixtures/template-values/2.5.1.values.yaml");
    let checked = check(&std::fs::read(path).unwrap());
    let unknown: Vec<&str> = checked
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::UnknownKey)
        .map(|d| d.path.as_str())
        .collect();
    for key in [
        "/resources/minCpu",
        "/image",
        "/config",
        "/pgbouncer",
        "/backup",
        "/etcd/tuning",
    ] {
        assert!(unknown.contains(&key), "{key} not reported: {unknown:?}");
    }
    let image = checked
        .diagnostics
        .iter()
        .find(|d| d.path == "/image")
        .unwrap();
    assert_eq!(
        (
            image.start(postgres_ha_core::Encoding::Scalar).line,
            image.start(postgres_ha_core::Encoding::Scalar).column
        ),
        (9, 1)
    );
    assert_eq!(image.help.as_deref(), Some("did you mean `images`?"));
}

#[test]
fn example_values_flag_only_their_placeholder_password() {
    // The example ships a placeholder password on purpose; it must be flagged (as a
    // warning) so nobody deploys it, and nothing else may be reported.
    let checked = check(&std::fs::read(root().join("examples/values.yaml")).unwrap());
    assert_eq!(
        located(&checked),
        ["C001@14:13"],
        "{:#?}",
        checked.diagnostics
    );
    assert!(checked.diagnostics[0].message.contains("placeholder"));
    assert!(checked.values.is_some());
}

#[test]
fn full_fixture_round_trips_through_the_model() {
    let path = root().join("tests/fixtures/values/valid-full.yaml");
    let values = check(&std::fs::read(path).unwrap()).values.unwrap();
    assert_eq!(values.patroni.timing.effective().ttl, 90);
    assert_eq!(values.patroni.timing.effective().loop_wait, 10);
    assert_eq!(values.internal_access.workloads.as_ref().unwrap().len(), 2);
    let again = serde_json::to_value(&values).unwrap();
    let reparsed: postgres_ha_core::Values = serde_json::from_value(again).unwrap();
    assert_eq!(reparsed, values);
}
