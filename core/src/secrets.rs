//! Secrets in a values file: which text is, or could be, a secret, and masking it by
//! value wherever it occurs — code frames, messages, help, paths — in every format.
//!
//! The parser reports what it proved (scalars under a key that is or resembles
//! `password`, before and after alias resolution, and the anchors they alias); this
//! module owns the masking. When a file does not parse, everything after the last
//! proven event that could hold a secret is hidden: we only show what we can prove is
//! not one.

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::diagnostic::{Diagnostic, Span};

/// Secret values shorter than this are masked only where they stand as a whole
/// token, so a password like `x` does not star out every `x` in a file.
const WHOLE_TOKEN_BELOW: usize = 4;

/// Whether a mapping key is, or resembles, a key whose value is a secret: `password`
/// and its misspellings (`passwd`, `pasword`, `Password`), and names that say
/// pass/pwd/secret/token anywhere (`db_pass`, `pgpassword`, `apiToken`).
#[must_use]
pub(crate) fn is_secret_key(key: &str) -> bool {
    let normal: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    ["pass", "pwd", "secret", "token", "credential"]
        .iter()
        .any(|w| normal.contains(w))
        || secret_token(&normal)
        // Shorthands stand as words of their own: `db_pw`, `rootPswd`, `pw1`.
        || tokens(key).iter().any(|t| secret_token(t))
}

/// A key's words: split at punctuation and at lower-to-upper case changes.
fn tokens(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if (!c.is_alphanumeric() || (c.is_uppercase() && previous_lower)) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// What every word within edit distance 3 of `password` has: 5 to 11 characters, and at
/// most 3 of them without a partner among password's letters (each edit mends at most
/// one). Most words fail this at once, before the allocating edit distance runs: it is
/// asked of every word of every comment.
fn near_password_length_and_letters(word: &str) -> bool {
    if !(5..=11).contains(&word.chars().count()) {
        return false;
    }
    let mut letters = *b"password";
    let unmatched = word
        .chars()
        .filter(
            |c| match letters.iter_mut().find(|l| char::from(**l) == *c) {
                Some(letter) => {
                    *letter = 0;
                    false
                }
                None => true,
            },
        )
        .count();
    unmatched <= 3
}

/// One lower-case word that names a password: `pw`, `pwd`, `pswd`, `pwrd`, `passwd`,
/// with trailing digits, or close to `password`.
fn secret_token(word: &str) -> bool {
    let word = word.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(
        word,
        "pw" | "pwd" | "pswd" | "pwrd" | "pword" | "passwd" | "pass"
    ) || (near_password_length_and_letters(word)
        && strsim::damerau_levenshtein(word, "password") <= 3)
}

/// Whether a scalar reads like an assignment of a secret (`password:hunter2`,
/// `password hunter2`, `pw=x`): a secret word with more text after it. YAML reads
/// `password:hunter2` (no space) as one string, so it is no key and value to hide.
#[must_use]
pub(crate) fn looks_like_secret_assignment(text: &str) -> bool {
    secret_words(text).any(|word| !text[word.end..].trim().is_empty())
}

/// What the parser learnt about secrets in one text.
#[derive(Clone, Debug, Default)]
pub(crate) struct SecretFacts {
    /// Source spans of secret scalars (values under secret keys, the anchored
    /// scalars their aliases point at, and everything inside a secret container).
    pub spans: Vec<Span>,
    /// The resolved text of those scalars (after escapes), to mask by value.
    pub values: Vec<String>,
    /// Spans of every scalar the parser emitted, in source order: proven tokens,
    /// used to tell comments from text inside scalars.
    pub scalars: Vec<Span>,
    /// Spans of mapping keys, in source order.
    pub keys: Vec<Span>,
    /// When parsing failed: the offset from which the text is unproven.
    pub unproven_from: Option<usize>,
    /// When parsing failed inside a secret value (its key was read, its value not).
    pub failed_in_secret: bool,
}

/// Masks given secret values wherever they occur: for an edge's messages that may
/// quote what a server or a tool said (short values only as whole tokens).
#[derive(Clone, Debug)]
pub struct Redactor(Secrets);

impl Redactor {
    #[must_use]
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        Self(Secrets::new(values))
    }

    /// `text` with every secret value replaced by `***`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        self.0.mask_all(text)
    }
}

/// Masks secrets by value; built once per checked text.
#[derive(Clone, Debug)]
pub(crate) struct Secrets {
    values: HashSet<String>,
    matcher: Option<AhoCorasick>,
}

impl Secrets {
    /// A masker for the given secret values (empty values are ignored).
    #[must_use]
    pub(crate) fn new(values: impl IntoIterator<Item = String>) -> Self {
        let values: HashSet<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        let mut patterns: Vec<&str> = values.iter().map(String::as_str).collect();
        patterns.sort_unstable();
        let matcher = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                // A file holds a handful of secrets, searched once or twice: building a
                // DFA for them costs more than every search it would speed up.
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&patterns)
                .ok()
        };
        Self { values, matcher }
    }

    /// Whether `text` is, or contains, a secret value.
    #[must_use]
    pub(crate) fn touches(&self, text: &str) -> bool {
        !self.occurrences(text).is_empty()
    }

    /// Whether `text` is exactly a secret value.
    #[must_use]
    pub(crate) fn is_secret(&self, text: &str) -> bool {
        self.values.contains(text)
    }

    /// Byte ranges of secret values in `text` (short ones only as whole tokens).
    fn occurrences(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let bytes = text.as_bytes();
        let word = |i: usize| {
            bytes
                .get(i)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
        };
        matcher
            .find_iter(text)
            .filter(|m| {
                m.len() >= WHOLE_TOKEN_BELOW
                    || !(word(m.end()) || (m.start() > 0 && word(m.start() - 1)))
            })
            .map(|m| m.range())
            .collect()
    }

    /// Replaces secret values with `***` where messages quote values: inside
    /// `` `…` `` and `"…"`. The words around them are the message's own, so a password
    /// that happens to be `password` does not garble "postgres.password is weak".
    #[must_use]
    pub(crate) fn mask(&self, text: &str) -> String {
        if self.matcher.is_none() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find(['`', '"']) {
            let quote = &rest[open..=open];
            let Some(close) = rest[open + 1..].find(quote) else {
                break;
            };
            out.push_str(&rest[..=open]);
            out.push_str(&self.mask_all(&rest[open + 1..open + 1 + close]));
            out.push_str(quote);
            rest = &rest[open + 2 + close..];
        }
        out.push_str(rest);
        out
    }

    /// Replaces every occurrence of a secret value.
    fn mask_all(&self, text: &str) -> String {
        let found = self.occurrences(text);
        if found.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for range in found {
            out.push_str(&text[at..range.start]);
            out.push_str("***");
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Masks the words of a diagnostic that could carry a value: quoted parts of the
    /// message and help, and each segment of the path (a secret used as a key).
    pub(crate) fn mask_diagnostic(&self, diagnostic: &mut Diagnostic) {
        diagnostic.message = self.mask(&diagnostic.message);
        diagnostic.help = diagnostic.help.as_deref().map(|h| self.mask(h));
        diagnostic.path = diagnostic
            .path
            .split('/')
            .map(|segment| {
                if self.is_secret(segment)
                    || (segment.len() >= WHOLE_TOKEN_BELOW && self.touches(segment))
                {
                    "***".to_owned()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
    }

    /// The text with every secret character replaced by one of the same UTF-8
    /// length, so byte spans and columns stay exact. `keep` says which key names may
    /// stay visible when a secret value happens to equal one (`password: password`
    /// still shows its key).
    #[must_use]
    pub(crate) fn display(
        &self,
        text: &str,
        facts: &SecretFacts,
        keep: &dyn Fn(&str) -> bool,
    ) -> String {
        let mut hidden = vec![false; text.len()];
        let mut hide = |range: std::ops::Range<usize>| {
            let end = range.end.min(hidden.len());
            for flag in &mut hidden[range.start.min(end)..end] {
                *flag = true;
            }
        };
        for span in &facts.spans {
            hide(span.range());
        }
        for range in self.occurrences(text) {
            let is_kept_key = facts
                .keys
                .binary_search_by_key(&(range.start as u32), |k| k.start)
                .is_ok_and(|i| facts.keys[i].end as usize == range.end)
                && keep(&text[range.clone()]);
            if !is_kept_key {
                hide(range);
            }
        }
        for range in secret_comment_tails(text, &facts.scalars, &facts.spans) {
            hide(range);
        }
        if let Some(from) = facts.unproven_from {
            let rest = &text[from.min(text.len())..];
            // Hide from where a secret could start: at once when the parser stopped
            // inside a secret value; else at the first secret-like word, anchor (an
            // alias of it may follow) or escape (which could spell such a word).
            let start = if facts.failed_in_secret {
                Some(0)
            } else {
                let word = secret_words(rest).next().map(|r| r.start);
                let sigil = rest.find(['&', '\\']);
                word.into_iter().chain(sigil).min()
            };
            if let Some(start) = start {
                hide(from + start..text.len());
            }
        }
        text.char_indices()
            .map(|(i, c)| match c {
                _ if !hidden[i] || c.is_whitespace() => c,
                _ => match c.len_utf8() {
                    1 => '*',
                    2 => '¤',
                    3 => '∗',
                    _ => '🔒',
                },
            })
            .collect()
    }
}

/// Byte ranges of words (`[A-Za-z0-9_-]` runs, and any non-ASCII) that are secret keys.
fn secret_words(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut start = None;
    text.char_indices()
        .chain(std::iter::once((text.len(), ' ')))
        .filter_map(move |(i, c)| match (start, is_word(c)) {
            (None, true) => {
                start = Some(i);
                None
            }
            (Some(s), false) => {
                start = None;
                Some(s..i)
            }
            _ => None,
        })
        .filter(|r| is_secret_key(&text[r.clone()]))
}

/// In comments that mention a secret key (`# password: …`), the rest of the comment
/// after that word; on a line holding a secret, the whole comment (`password: x #
/// was y`): a comment is text nobody parses, so it is hidden like a value.
fn secret_comment_tails(
    text: &str,
    scalars: &[Span],
    secrets: &[Span],
) -> Vec<std::ops::Range<usize>> {
    let lines = crate::diagnostic::LineIndex::new(text);
    let mut secret_lines = std::collections::HashSet::new();
    for span in secrets {
        let (first, last) = (
            lines
                .position(text, span.start, crate::diagnostic::Encoding::Scalar)
                .line,
            lines
                .position(text, span.end, crate::diagnostic::Encoding::Scalar)
                .line,
        );
        secret_lines.extend(first..=last);
    }
    let inside_scalar = |at: usize| {
        let i = scalars.partition_point(|s| (s.start as usize) <= at);
        i > 0 && (scalars[i - 1].end as usize) > at
    };
    let mut tails = Vec::new();
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let bytes = line.as_bytes();
        let comment = (0..bytes.len()).find(|&i| {
            bytes[i] == b'#'
                && (i == 0 || bytes[i - 1].is_ascii_whitespace())
                && !inside_scalar(offset + i)
        });
        if let Some(hash) = comment {
            let body = &line[hash..];
            let end = line.trim_end_matches(['\n', '\r']).len();
            if secret_lines.contains(&(number as u32 + 1)) {
                tails.push(offset + hash + 1..offset + end);
            } else if let Some(word) = secret_words(body).next()
                && hash + word.end < end
            {
                tails.push(offset + hash + word.end..offset + end);
            }
        }
        offset += line.len();
    }
    tails
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // The cheap filter never turns away a word the edit distance would accept,
        // whether near `password` (edits of it) or anything else.
        #[test]
        fn the_filter_keeps_every_word_near_password(
            edits in proptest::collection::vec((0usize..12, "[a-z0-9é]", 0u8..4), 0..5),
            other in "[a-zA-Z0-9é]{0,14}",
        ) {
            let mut word: Vec<String> = "password".chars().map(String::from).collect();
            for (at, letter, op) in edits {
                let at = at.min(word.len());
                match op {
                    0 => word.insert(at, letter),
                    1 if at < word.len() => { word.remove(at); }
                    2 if at < word.len() => word[at] = letter,
                    _ if at + 1 < word.len() => word.swap(at, at + 1),
                    _ => {}
                }
            }
            for candidate in [word.concat(), other] {
                if strsim::damerau_levenshtein(&candidate, "password") <= 3 {
                    proptest::prop_assert!(near_password_length_and_letters(&candidate), "{candidate}");
                }
            }
        }
    }

    #[test]
    fn secret_keys_include_misspellings_and_compounds() {
        for key in [
            "password",
            "Password",
            "PASSWORD",
            "passwd",
            "pasword",
            "pass_word",
            "db_pass",
            "pgpassword",
            "pwd",
            "apiToken",
            "client-secret",
            "psswrd",
            "pw",
            "pswd",
            "pwrd",
            "db_pw",
            "root_pw",
            "pw1",
            "rootPswd",
            "DB_PWD",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "postgres",
            "username",
            "database",
            "replicas",
            "type",
            "cpu",
            "parameters",
            "workloads",
            "retention",
            "preset",
            "enabled",
            "images",
            "ttl",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn masks_by_value_and_short_values_as_tokens_only() {
        let secrets = Secrets::new(["hunter22".to_owned(), "ab".to_owned()]);
        assert_eq!(
            secrets.mask("`hunter22` is not valid"),
            "`***` is not valid"
        );
        assert_eq!(secrets.mask("\"xhunter22x\""), "\"x***x\"");
        assert_eq!(secrets.mask("`ab abc cab ab`"), "`*** abc cab ***`");
        assert!(secrets.touches("a hunter22"));
        assert!(!secrets.touches("hunter2"));
        // Outside quotes the words are the message's own.
        let secrets = Secrets::new(["password".to_owned()]);
        assert_eq!(
            secrets.mask("postgres.password is weak; `password` is common"),
            "postgres.password is weak; `***` is common"
        );
    }

    #[test]
    fn unproven_text_is_hidden_from_the_first_secret_word() {
        let text = "a: 1\nb: [x\npostgres: {password: \"S\\q\"}\n";
        let facts = SecretFacts {
            unproven_from: Some(5),
            ..SecretFacts::default()
        };
        let shown = Secrets::new([]).display(text, &facts, &|_| false);
        assert!(shown.starts_with("a: 1\nb: [x\npostgres: {*"), "{shown}");
        assert!(!shown.contains('S'));
        assert_eq!(shown.len(), text.len());
    }

    #[test]
    fn comments_naming_a_secret_hide_their_rest() {
        let text = "a: '# password: not a comment'\n# old password: S3cret\nb: 1 # pwd S\n";
        let shown = Secrets::new([]).display(
            text,
            &SecretFacts {
                scalars: vec![Span::new(3, 30)],
                ..SecretFacts::default()
            },
            &|_| false,
        );
        assert_eq!(
            shown,
            "a: '# password: not a comment'\n# old password* ******\nb: 1 # pwd *\n"
        );
    }
}
