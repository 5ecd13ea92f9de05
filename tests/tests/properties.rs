//! Property tests: no input makes `check` panic, and every diagnostic points inside
//! the text it was given.

use postgres_ha_core::{Encoding, LineIndex, check};
use postgres_ha_tests::fixtures;
use proptest::prelude::*;

fn assert_well_formed(bytes: &[u8]) {
    let checked = check(bytes);
    let text = &checked.display_source;
    let index = LineIndex::new(text);
    for d in &checked.diagnostics {
        assert!(
            d.span.start <= d.span.end && d.span.end as usize <= text.len(),
            "{d:?}"
        );
        for encoding in Encoding::ALL {
            let (start, end) = (d.start(encoding), d.end(encoding));
            assert!(start.line >= 1 && start.column >= 1);
            assert!((start.line, start.column) <= (end.line, end.column));
        }
        // Secrets are starred byte for byte, so byte columns agree with the shown text.
        assert_eq!(
            index.position(text, d.span.start, Encoding::Utf8),
            d.start(Encoding::Utf8)
        );
        assert!(!d.message.is_empty());
    }
    assert_eq!(checked.values.is_some(), !checked.has_errors());
}

/// Fragments that values files and broken values files are made of.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("replicas".to_owned()),
        Just("etcd".to_owned()),
        Just("resources".to_owned()),
        Just("cpu".to_owned()),
        Just("memory".to_owned()),
        Just("postgres".to_owned()),
        Just("password".to_owned()),
        Just("internal_access".to_owned()),
        Just("workloads".to_owned()),
        Just("type".to_owned()),
        Just(": ".to_owned()),
        Just("\n".to_owned()),
        Just("\n  ".to_owned()),
        Just("- ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(", ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("!!int ".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("#".to_owned()),
        Just("---\n".to_owned()),
        Just("? ".to_owned()),
        Just("|\n".to_owned()),
        Just("é".to_owned()),
        Just("😀".to_owned()),
        Just("\t".to_owned()),
        Just("\r\n".to_owned()),
        "[0-9]{1,4}".prop_map(|s| s),
        "[a-zA-Z0-9/._-]{1,12}".prop_map(|s| s),
    ];
    prop::collection::vec(token, 0..60).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        assert_well_formed(&bytes);
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        assert_well_formed(text.as_bytes());
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        insert in "[\\[\\]{}:\\-&*!|>\"' \n\t#a-z0-9é]{0,4}",
        delete in 0usize..6,
    ) {
        let all = fixtures();
        let text = std::fs::read_to_string(&all[which.index(all.len())].path).unwrap();
        let mut at = at.index(text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        let mut end = (at + delete).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[end..]);
        assert_well_formed(mutated.as_bytes());
    }
}
