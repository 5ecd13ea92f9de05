//! The credentials file (`NAME.credentials.yaml`): the generated passwords of the
//! internal roles, and the org and GVC they were generated for.
//!
//! It goes through the same front end as values files (size, depth, alias and node
//! limits, positions, codes), with every value treated as a secret: nothing of it is
//! ever shown.

use std::fmt::Write;

use serde_json::Value;

use crate::check::{Checked, decode, finish};
use crate::codes::Code;
use crate::diagnostic::{Reporter, Span};
use crate::render::Credentials;
use crate::render::patroni::CredentialKey;
use crate::schema::did_you_mean;
use crate::yaml::{self, Secrecy};

/// Shortest internal password accepted (generated ones have 32 characters).
pub(crate) const MIN_INTERNAL_PASSWORD_CHARS: usize = 16;
/// Longest password accepted anywhere.
pub(crate) const MAX_PASSWORD_CHARS: usize = 1000;

/// How a credentials file's name ends (`NAME.credentials.yaml`); `validate` checks
/// such files as credentials files.
pub const FILE_SUFFIX: &str = ".credentials.yaml";

/// The credentials file name of release `name`.
#[must_use]
pub fn file_name(release: &str) -> String {
    format!("{release}{FILE_SUFFIX}")
}

/// Keys that name where the passwords belong.
const ORG_KEY: &str = "org";
const GVC_KEY: &str = "gvc";

/// A credentials file that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsFile {
    pub credentials: Credentials,
    /// The org and GVC the passwords were generated for (absent in files written
    /// before they were recorded).
    pub org: Option<String>,
    pub gvc: Option<String>,
}

impl CredentialsFile {
    /// The file's text: a comment, where the passwords belong, then each password.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# Generated passwords of postgres-ha's internal roles. Keep this file private\n\
             # and with your values: re-rendering must reuse them.\n",
        );
        for (key, value) in [(ORG_KEY, &self.org), (GVC_KEY, &self.gvc)] {
            if let Some(value) = value {
                let _ = writeln!(text, "{key}: {}", serde_json::Value::String(value.clone()));
            }
        }
        for key in CredentialKey::INTERNAL {
            if let Some(password) = self.credentials.get(key) {
                let _ = writeln!(
                    text,
                    "{}: {}",
                    key.secret_key(),
                    serde_json::Value::String(password.to_owned())
                );
            }
        }
        text
    }
}

/// Checks a credentials file; the file's contents when there are no errors.
#[must_use]
pub fn check_credentials(bytes: &[u8]) -> (Checked, Option<CredentialsFile>) {
    let text = match decode(bytes) {
        Ok(text) => text,
        Err(checked) => return (*checked, None),
    };
    let mut reporter = Reporter::new(text);
    let parsed = yaml::parse_with(text, &mut reporter, Secrecy::AllValues);
    let mut found = None;
    if let Some(doc) = &parsed.document {
        let map = doc.value.as_object().cloned().unwrap_or_default();
        let mut passwords: Vec<Option<String>> = vec![None; CredentialKey::INTERNAL.len()];
        let mut target: [Option<String>; 2] = [None, None];
        let known: Vec<String> = CredentialKey::INTERNAL
            .iter()
            .map(|k| k.secret_key().to_owned())
            .chain([ORG_KEY.to_owned(), GVC_KEY.to_owned()])
            .collect();
        for (key, value) in &map {
            let pointer = format!("/{}", yaml::escape_segment(key));
            let at = doc.span_of(&pointer);
            let slot = CredentialKey::INTERNAL
                .iter()
                .position(|k| k.secret_key() == key || k.legacy_file_key() == Some(key.as_str()));
            let recognised = slot.is_some() || key == ORG_KEY || key == GVC_KEY;
            let text = match value {
                Value::String(text) => text.as_str(),
                _ if recognised => {
                    reporter.report(
                        Code::InvalidType,
                        &pointer,
                        at,
                        format!(
                            "{key} must be a string, but it is {}",
                            yaml::type_phrase(value)
                        ),
                        None,
                    );
                    continue;
                }
                _ => "",
            };
            if let Some(i) = slot {
                if let Some(problem) = internal_password_problem(text) {
                    reporter.report(
                        Code::InvalidPassword,
                        &pointer,
                        at,
                        format!("{key} {problem}"),
                        Some("delete the line and render again to generate one, or write 32 random characters".into()),
                    );
                } else if passwords[i].replace(text.to_owned()).is_some() {
                    reporter.report(
                        Code::UnknownKey,
                        &pointer,
                        doc.key_span_of(&pointer),
                        format!(
                            "{key} sets the {} password a second time",
                            CredentialKey::INTERNAL[i].role_word()
                        ),
                        Some("keep one of the two lines".into()),
                    );
                }
            } else if recognised {
                target[usize::from(key == GVC_KEY)] = Some(text.to_owned());
            } else {
                reporter.report(
                    Code::UnknownKey,
                    &pointer,
                    doc.key_span_of(&pointer),
                    format!("unknown key `{key}` in the credentials file"),
                    Some(did_you_mean(key, &known).map_or_else(
                        || format!("known keys: {}", known.join(", ")),
                        |best| format!("did you mean `{best}`?"),
                    )),
                );
            }
        }
        for (i, password) in passwords.iter().enumerate() {
            let key = CredentialKey::INTERNAL[i];
            // Files from before etcd had authentication lack its passwords: the
            // caller generates them.
            if password.is_none()
                && !CredentialKey::ADDED_LATER.contains(&key)
                && !map.keys().any(|k| key.secret_key() == k)
            {
                reporter.report(
                    Code::MissingKey,
                    "",
                    Span::new(0, 0),
                    format!(
                        "the credentials file has no `{}`",
                        CredentialKey::INTERNAL[i].secret_key()
                    ),
                    Some("delete the file and render again to generate every password".into()),
                );
            }
        }
        if !reporter.has_errors() {
            let mut credentials = Credentials::default();
            for (key, password) in CredentialKey::INTERNAL.into_iter().zip(passwords) {
                if let Some(password) = password {
                    credentials.set(key, password);
                }
            }
            let [org, gvc] = target;
            found = Some(CredentialsFile {
                credentials,
                org,
                gvc,
            });
        }
    }
    (finish(text, reporter, &parsed, None), found)
}

/// Why an internal password cannot be used, if it cannot.
#[must_use]
pub fn internal_password_problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_INTERNAL_PASSWORD_CHARS {
        Some(format!(
            "has {chars} character{}; internal passwords need at least {MIN_INTERNAL_PASSWORD_CHARS}",
            if chars == 1 { "" } else { "s" }
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!("has more than {MAX_PASSWORD_CHARS} characters"))
    } else if password.chars().any(char::is_control) {
        Some("contains a control character (a NUL, line break or tab), which Patroni's .pgpass file cannot hold".into())
    } else if password.chars().any(char::is_whitespace) {
        // etcdctl reads a password up to the first space: it would set a shorter one.
        Some("contains a space, which etcdctl would cut the password at".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 characters, a different letter for each key.
    fn password(key: CredentialKey) -> String {
        let index = CredentialKey::INTERNAL
            .iter()
            .position(|k| *k == key)
            .unwrap();
        char::from(b'A' + u8::try_from(index).unwrap())
            .to_string()
            .repeat(32)
    }

    fn file() -> CredentialsFile {
        CredentialsFile {
            credentials: Credentials::from_fn(password),
            org: Some("acme".into()),
            gvc: Some("prod".into()),
        }
    }

    #[test]
    fn round_trips_and_reads_legacy_keys() {
        let (checked, read) = check_credentials(file().to_text().as_bytes());
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        assert_eq!(read, Some(file()));
        let legacy = format!(
            "superuser: {}\nreplication: {}\nrewind: {}\nrestapi: {}\n",
            "A".repeat(32),
            "B".repeat(32),
            "C".repeat(32),
            "D".repeat(32)
        );
        let (_, read) = check_credentials(legacy.as_bytes());
        let read = read.unwrap();
        // The etcd passwords came later: the caller generates them.
        assert_eq!(read.credentials.missing(), CredentialKey::ADDED_LATER);
        for key in CredentialKey::INTERNAL.into_iter().take(4) {
            assert_eq!(read.credentials.get(key), file().credentials.get(key));
        }
        assert_eq!((read.org, read.gvc), (None, None));
    }

    #[test]
    fn refuses_weak_or_broken_passwords_without_showing_them() {
        let text = file().to_text().replace(&"A".repeat(32), "x");
        let (checked, read) = check_credentials(text.as_bytes());
        assert!(read.is_none());
        assert_eq!(checked.diagnostics[0].code, Code::InvalidPassword);
        assert_eq!(
            checked.diagnostics[0]
                .start(crate::diagnostic::Encoding::Scalar)
                .line,
            5
        );
        let text = file()
            .to_text()
            .replace(&"B".repeat(32), "BBBBBBBBBBBBBBBBBBBB\\0BB");
        let (checked, _) = check_credentials(text.as_bytes());
        assert_eq!(checked.diagnostics[0].code, Code::InvalidPassword);
        assert!(
            !checked.display_source.contains("BBBB"),
            "{}",
            checked.display_source
        );
        // A space: etcdctl would read the password only up to it.
        let text = file()
            .to_text()
            .replace(&"F".repeat(32), "FFFFFFFFFFFF FFFFFFFFFFFFFFFFFFF");
        let (checked, read) = check_credentials(text.as_bytes());
        assert!(read.is_none());
        assert_eq!(checked.diagnostics[0].code, Code::InvalidPassword);
        assert!(checked.diagnostics[0].message.contains("space"));
        let (checked, _) = check_credentials(b"superuser: [\n");
        assert_eq!(checked.diagnostics[0].code, Code::YamlSyntax);
        let (checked, _) = check_credentials(b"superuser-pasword: 1\n");
        assert!(
            checked
                .diagnostics
                .iter()
                .any(|d| d.code == Code::UnknownKey)
        );
        assert!(!checked.display_source.contains('1'));
    }
}
