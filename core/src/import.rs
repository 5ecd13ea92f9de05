//! `import-values`: a values file of the postgres-highly-available Helm template
//! (versions 1.x to 2.7) turned into a postgres-ha values file.
//!
//! Every key of the template's file gets a [`Note`]: mapped, changed (and why), or
//! without an equivalent (and what the user loses). The notes are written as
//! `# import:` comments above the keys they concern, so the file is its own review.
//! The result is checked with [`crate::check_str`] before it is returned: a value
//! postgres-ha refuses is left out (its default applies) and its note says so, so the
//! file always validates without errors.
//!
//! The input goes through the values parser (size, depth, alias and node limits,
//! duplicate keys), so time and memory stay bounded and a refusal carries positions
//! with secrets masked. No note ever quotes a password.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::check::{Checked, check_str, decode, finish, set_path};
use crate::diagnostic::{Encoding, LineIndex, Reporter, Severity};
use crate::limits::{MAX_ETCD_MEMBERS, MAX_REPLICA_DIRECT, MAX_VOLUME_GIB, MIN_VOLUME_GIB};
use crate::values::{Images, Values};
use crate::yaml::{self, Document, escape_segment, type_phrase};

/// What happened to one key of the template's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoteKind {
    /// Carried over with the same meaning (perhaps under another name).
    Mapped,
    /// Carried over with a different value or meaning, or replaced by a default.
    Changed,
    /// postgres-ha has nothing that does what the key did.
    NoEquivalent,
}

impl NoteKind {
    /// The word written in the comments and the summary.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mapped => "mapped",
            Self::Changed => "changed",
            Self::NoEquivalent => "no equivalent",
        }
    }
}

/// One key of the template's file and what became of it. Never holds a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The key in the template's file, dotted (`resources.maxCpu`).
    pub key: String,
    pub kind: NoteKind,
    /// Why, and what to do, in a sentence or three.
    pub message: String,
}

/// A converted values file.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The postgres-ha values file, with its `# import:` comments. Holds
    /// `postgres.password` when [`Imported::password_carried`].
    pub yaml: String,
    /// One note per key of the template's file, in the order they were read.
    pub notes: Vec<Note>,
    /// Which layout of the template the file has (`2.x layout, 2.5 or later`).
    pub layout: String,
    /// Whether the template's password was carried over into [`Imported::yaml`]: the
    /// output must then be kept as private as the password.
    pub password_carried: bool,
}

impl Imported {
    /// How many notes are of `kind`.
    #[must_use]
    pub fn count(&self, kind: NoteKind) -> usize {
        self.notes.iter().filter(|n| n.kind == kind).count()
    }
}

/// Why a file could not be imported.
#[derive(Debug)]
pub struct ImportError {
    /// One line: what is wrong and where (no secret).
    pub message: String,
    /// The diagnostics as `validate` shows them: positions, source with secrets masked.
    pub checked: Box<Checked>,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

impl ImportError {
    fn from_checked(checked: Checked) -> Self {
        let message = checked
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .or_else(|| checked.diagnostics.first())
            .map_or_else(
                || "the file cannot be read as YAML".to_owned(),
                // A file refused before its text was read (too large, not UTF-8 at
                // its start) has no position worth naming.
                |d| {
                    if checked.display_source.is_empty() {
                        format!("{} ({})", d.message, d.code.as_str())
                    } else {
                        let at = d.start(Encoding::Scalar);
                        format!(
                            "line {}, column {}: {} ({})",
                            at.line,
                            at.column,
                            d.message,
                            d.code.as_str()
                        )
                    }
                },
            );
        Self {
            message,
            checked: Box::new(checked),
        }
    }
}

/// Converts a values file of the postgres-highly-available template. Refuses what
/// is not a YAML mapping within the values parser's limits; never panics.
pub fn import_template(bytes: &[u8]) -> Result<Imported, ImportError> {
    let text = decode(bytes).map_err(|checked| ImportError::from_checked(*checked))?;
    let mut reporter = Reporter::new(text);
    let parsed = yaml::parse(text, &mut reporter);
    let doc = match &parsed.document {
        Some(doc) if !reporter.has_errors() => doc,
        _ => {
            return Err(ImportError::from_checked(finish(
                text, reporter, &parsed, None,
            )));
        }
    };
    let mut importer = Importer::new(doc, text);
    importer.run();
    if importer.unknown_more > 0 {
        let more = importer.unknown_more;
        importer.note(
            &Key {
                pointer: String::new(),
                dotted: format!("({more} more keys)"),
            },
            NoteKind::NoEquivalent,
            None,
            format!(
                "{more} more keys that neither the template nor postgres-ha has are left out \
                 without a note each: a template values file has a few dozen keys"
            ),
        );
    }
    let yaml = importer.settle()?;
    Ok(Imported {
        yaml,
        password_carried: importer.out.pointer("/postgres/password").is_some(),
        layout: importer.layout,
        notes: importer.notes.into_iter().map(|p| p.note).collect(),
    })
}

/// Longest stretch of a user's value or key quoted in a comment, in characters.
const SHOWN_CHARS: usize = 64;
/// Most notes written one by one; further unknown keys are counted in one note, so
/// the output stays far below [`crate::MAX_BYTES`] (which `validate` applies to it).
const MAX_UNKNOWN_NOTES: usize = 200;
/// Comment lines are wrapped at this width.
const WIDTH: usize = 88;
/// Rounds of "check the output, leave out what it refuses": each leaves out at least
/// one written value, and fewer than this many are ever written outside lists
/// (which are checked before they are written).
const MAX_SETTLE_ROUNDS: usize = 64;

/// A key of the template's file: its JSON pointer and its dotted name.
#[derive(Clone, Debug)]
struct Key {
    pointer: String,
    dotted: String,
}

impl Key {
    fn root() -> Self {
        Self {
            pointer: String::new(),
            dotted: String::new(),
        }
    }

    fn child(&self, name: &str) -> Self {
        let shown = shown_segment(name);
        Self {
            pointer: format!("{}/{}", self.pointer, escape_segment(name)),
            dotted: if self.dotted.is_empty() {
                shown
            } else {
                format!("{}.{shown}", self.dotted)
            },
        }
    }
}

/// A note and where it goes: above the key `anchor` (a pointer into the output), or
/// in the closing section when there is no key to put it on.
struct Placed {
    note: Note,
    line: Option<u32>,
    anchor: Option<String>,
}

struct Importer<'a> {
    doc: &'a Document,
    text: &'a str,
    lines: LineIndex,
    /// The values written so far (only what the template's file set).
    out: Value,
    /// Each written value's pointer and the template key it came from, so a value the
    /// final check refuses can be traced to its note.
    sources: Vec<(String, String)>,
    notes: Vec<Placed>,
    layout: String,
    /// Header lines about the template's known pitfalls that apply to this file.
    remarks: Vec<String>,
    /// Unknown keys past [`MAX_UNKNOWN_NOTES`], counted instead of noted one by one.
    unknown_more: usize,
}

impl<'a> Importer<'a> {
    fn new(doc: &'a Document, text: &'a str) -> Self {
        Self {
            doc,
            text,
            lines: LineIndex::new(text),
            out: Value::Object(Map::new()),
            sources: Vec::new(),
            notes: Vec::new(),
            layout: layout(&doc.value),
            remarks: Vec::new(),
            unknown_more: 0,
        }
    }

    fn at(&self, key: &Key) -> Option<&'a Value> {
        let doc: &'a Document = self.doc;
        doc.value.pointer(&key.pointer)
    }

    fn note(&mut self, key: &Key, kind: NoteKind, anchor: Option<&str>, message: String) {
        let written = (!key.pointer.is_empty()).then(|| self.doc.node(&key.pointer));
        let line = written.flatten().map(|node| {
            let span = node.key.unwrap_or(node.value);
            self.lines
                .position(self.text, span.start, Encoding::Scalar)
                .line
        });
        self.notes.push(Placed {
            note: Note {
                key: key.dotted.clone(),
                kind,
                message,
            },
            line,
            anchor: anchor.map(str::to_owned),
        });
    }

    fn set(&mut self, ours: &str, value: Value, from: &Key) {
        let keys: Vec<&str> = ours.split('/').skip(1).collect();
        set_path(&mut self.out, &keys, value);
        self.sources.push((ours.to_owned(), from.dotted.clone()));
    }

    /// A user's value for a comment: at most [`SHOWN_CHARS`] characters, escaped,
    /// and hidden when the file holds it as a secret anywhere.
    fn shown(&self, value: &str) -> String {
        if self.doc.secrets.touches(value) {
            return "(hidden: the file uses it as a secret)".to_owned();
        }
        shown(value)
    }

    /// The keys of the mapping at `key`, each checked against `known`: the unknown
    /// ones get their note here. `None` (with a note) when it is not a mapping.
    fn mapping(&mut self, key: &Key, known: &[&str], anchor: Option<&str>) -> Option<Vec<Key>> {
        let doc: &'a Document = self.doc;
        match doc.value.pointer(&key.pointer)? {
            Value::Object(map) if map.is_empty() && !key.pointer.is_empty() => {
                self.note(
                    key,
                    NoteKind::Mapped,
                    anchor,
                    "empty in the template: postgres-ha's defaults apply".to_owned(),
                );
                None
            }
            Value::Object(map) => {
                let mut keys = Vec::new();
                for name in map.keys() {
                    let child = key.child(name);
                    if known.contains(&name.as_str()) {
                        keys.push(child);
                    } else {
                        self.unknown(&child, anchor);
                    }
                }
                Some(keys)
            }
            Value::Null => {
                self.note(
                    key,
                    NoteKind::Mapped,
                    anchor,
                    "empty in the template: postgres-ha's defaults apply".to_owned(),
                );
                None
            }
            other => {
                self.note(
                    key,
                    NoteKind::NoEquivalent,
                    anchor,
                    format!(
                        "it is {}, where the template expects a mapping; left out",
                        type_phrase(other)
                    ),
                );
                None
            }
        }
    }

    fn unknown(&mut self, key: &Key, anchor: Option<&str>) {
        if self.notes.len() >= MAX_UNKNOWN_NOTES {
            self.unknown_more += 1;
            return;
        }
        // The template's own keys are all handled; these two are only postgres-ha's.
        let message = if key.pointer == "/patroni" || key.pointer == "/images" {
            "this is a postgres-ha key, not one of the template's: left out. If the file is \
             already a postgres-ha values file, run `cpln-postgres-ha validate` on it instead"
        } else {
            "not a key of the template (1.x to 2.7), nor of postgres-ha: left out. Check \
             whether it mattered to your deployment"
        };
        self.note(key, NoteKind::NoEquivalent, anchor, message.to_owned());
    }

    fn run(&mut self) {
        let root = Key::root();
        let known = [
            "replicas",
            "resources",
            "image",
            "config",
            "postgres",
            "multiZone",
            "volumeset",
            "internal_access",
            "etcd",
            "pgbouncer",
            "proxy",
            "backup",
            "global",
        ];
        let Some(keys) = self.mapping(&root, &known, None) else {
            return;
        };
        let has = |name: &str| keys.iter().any(|k| k.pointer == format!("/{name}"));
        if has("replicas") {
            self.replicas(&root.child("replicas"));
        }
        if has("resources") {
            self.resources(&root.child("resources"), "/resources", "member");
        }
        if has("postgres") {
            self.postgres(&root.child("postgres"));
        }
        if has("config") {
            self.config(&root.child("config"));
        }
        if has("image") {
            let default = Images::default().postgres;
            self.image(&root.child("image"), "/images/postgres", &default);
        }
        if has("multiZone") {
            self.multi_zone(&root.child("multiZone"), "PostgreSQL members");
        }
        if has("volumeset") {
            self.volumeset(&root.child("volumeset"), "/volumeset");
        }
        if has("internal_access") {
            self.access(&root.child("internal_access"));
        }
        if has("etcd") {
            self.etcd(&root.child("etcd"));
        } else {
            self.remarks.push(compaction_remark());
        }
        let pgbouncer = has("pgbouncer") && self.pgbouncer(&root.child("pgbouncer"));
        if has("proxy") || pgbouncer {
            self.proxy(&root.child("proxy"), pgbouncer);
        }
        if has("backup") {
            self.backup(&root.child("backup"));
        }
        if has("global") {
            self.note(
                &root.child("global"),
                NoteKind::NoEquivalent,
                None,
                "chart-wide settings, such as the experimental multi-location mode of 2.2.0: \
                 a postgres-ha release runs in one location of its GVC, and names come from \
                 the release name given to `deploy`"
                    .to_owned(),
            );
        }
    }

    fn replicas(&mut self, key: &Key) {
        let Some(value) = self.at(key) else { return };
        let max = u64::from(MAX_REPLICA_DIRECT);
        let (kind, message) = match whole(value) {
            Some(n @ 1..) if n <= max => {
                self.set("/replicas", Value::from(n), key);
                (
                    NoteKind::Mapped,
                    format!(
                        "{n} PostgreSQL member{}, as in the template",
                        if n == 1 { "" } else { "s" }
                    ),
                )
            }
            Some(0) => (
                NoteKind::Changed,
                "0 stopped the template's workload; postgres-ha needs at least one member, \
                 so the default (3) applies"
                    .to_owned(),
            ),
            Some(n) => {
                self.set("/replicas", Value::from(max), key);
                (
                    NoteKind::Changed,
                    format!(
                        "{n} is more than the {max} members Control Plane gives their own \
                         address to (the template could not run them either); {max} is used"
                    ),
                )
            }
            None => (
                NoteKind::Changed,
                format!(
                    "{} is not a whole number; the default (3) applies",
                    type_phrase(value)
                ),
            ),
        };
        self.note(key, kind, Some("/replicas"), message);
    }

    /// `cpu`/`memory` (1.x, etcd, proxy) or `minCpu`/`maxCpu`/`minMemory`/`maxMemory`
    /// (2.1 and later) → our `cpu`/`memory`.
    fn resources(&mut self, key: &Key, ours: &str, what: &str) {
        let known = [
            "cpu",
            "memory",
            "minCpu",
            "maxCpu",
            "minMemory",
            "maxMemory",
        ];
        if self.mapping(key, &known, Some(ours)).is_none() {
            return;
        }
        for (fixed, min, max, label) in [
            ("cpu", "minCpu", "maxCpu", "CPU"),
            ("memory", "minMemory", "maxMemory", "memory"),
        ] {
            let target = format!("{ours}/{fixed}");
            let (fixed_key, min_key, max_key) = (key.child(fixed), key.child(min), key.child(max));
            let source = if self.at(&max_key).is_some() {
                Some(max_key.clone())
            } else if self.at(&fixed_key).is_some() {
                Some(fixed_key.clone())
            } else {
                None
            };
            let mut used = None;
            if let Some(source) = &source {
                let value = self.at(source).unwrap_or(&Value::Null);
                if let Some(quantity) = quantity(value) {
                    used = Some(quantity.clone());
                    let number = if value.is_number() {
                        format!(
                            " (written as the string {}: Control Plane takes quantities as strings)",
                            shown(&quantity)
                        )
                    } else {
                        String::new()
                    };
                    let message = if source.pointer == max_key.pointer {
                        format!(
                            "→ {}: the template's ceiling becomes what each {what} requests{number}",
                            dotted(&target)
                        )
                    } else {
                        format!("→ {}{number}", dotted(&target))
                    };
                    self.set(&target, Value::String(quantity), source);
                    self.note(source, NoteKind::Mapped, Some(&target), message);
                } else {
                    self.note(
                        source,
                        NoteKind::Changed,
                        Some(&target),
                        format!(
                            "{} is not a {label} quantity; postgres-ha's default applies",
                            type_phrase(value)
                        ),
                    );
                }
            }
            if source
                .as_ref()
                .is_some_and(|s| s.pointer == max_key.pointer)
                && self.at(&fixed_key).is_some()
            {
                self.note(
                    &fixed_key,
                    NoteKind::NoEquivalent,
                    Some(&target),
                    format!("the template (2.1 and later) read {max}, not {fixed}; {max} is used"),
                );
            }
            if let Some(min_value) = self.at(&min_key) {
                let reserved = quantity(min_value)
                    .map_or_else(|| "its minimum".to_owned(), |q| self.shown(&q));
                let full = used.map_or_else(|| "the default".to_owned(), |q| shown(&q));
                self.note(
                    &min_key,
                    NoteKind::NoEquivalent,
                    Some(&target),
                    format!(
                        "on a stateful workload the platform reserves (and bills) the minimum: \
                         the template reserved {reserved} per {what} and let it grow to {max}. \
                         postgres-ha requests {fixed} only, so the platform reserves all of \
                         {full}; lower {} if that is more than you need",
                        dotted(&target)
                    ),
                );
            }
        }
    }

    /// 1.x to 2.4: the application role, its password and database, as values.
    fn postgres(&mut self, key: &Key) {
        let known = ["username", "password", "database", "walLevel"];
        let Some(keys) = self.mapping(key, &known, Some("/postgres")) else {
            return;
        };
        let has = |name: &str| {
            keys.iter()
                .any(|k| k.pointer.ends_with(&format!("/{name}")))
        };
        let mut username = None;
        for (name, ours, default) in [
            ("username", "/postgres/username", "username"),
            ("database", "/postgres/database", "test"),
        ] {
            if !has(name) {
                continue;
            }
            let child = key.child(name);
            let value = self.at(&child).unwrap_or(&Value::Null);
            let Some(text) = scalar_text(value) else {
                self.note(
                    &child,
                    NoteKind::Changed,
                    Some(ours),
                    format!(
                        "{} is not a name; postgres-ha's default ({default}) applies",
                        type_phrase(value)
                    ),
                );
                continue;
            };
            let message = if text == default {
                format!(
                    "the template's published default, kept because your applications use \
                     it (validate accepts it; a fresh install may pick its own {name})"
                )
            } else {
                format!("→ {}", dotted(ours))
            };
            if name == "username" {
                username = Some(text.clone());
            }
            self.set(ours, Value::String(text), &child);
            self.note(&child, NoteKind::Mapped, Some(ours), message);
        }
        if has("password") {
            self.password(&key.child("password"), username.as_deref());
        }
        if has("walLevel") {
            let child = key.child("walLevel");
            let ours = "/postgres/parameters/wal_level";
            let level = self
                .at(&child)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            match level.as_deref() {
                Some(level @ ("replica" | "logical")) => {
                    self.set(ours, Value::String(level.to_owned()), &child);
                    self.note(
                        &child,
                        NoteKind::Mapped,
                        Some(ours),
                        format!("→ {} (2.2.0's knob for change data capture)", dotted(ours)),
                    );
                }
                _ => self.note(
                    &child,
                    NoteKind::Changed,
                    Some("/postgres"),
                    "streaming replication needs `replica` or `logical`; the default \
                     (`replica`) applies"
                        .to_owned(),
                ),
            }
        }
    }

    /// Carried over only when postgres-ha's own password rule (C001) accepts it: a
    /// well-known default or placeholder must not guard the new cluster, and
    /// `deploy` refuses any weak password anyway. Left out, `deploy` generates one.
    fn password(&mut self, key: &Key, username: Option<&str>) {
        let ours = "/postgres/password";
        let value = self.at(key).unwrap_or(&Value::Null);
        let Some(password) = scalar_text(value) else {
            self.note(
                key,
                NoteKind::Changed,
                Some(ours),
                format!(
                    "{} is not a password: left out, so `deploy` generates a strong one and \
                     keeps it in the release's secret",
                    type_phrase(value)
                ),
            );
            return;
        };
        let probe = serde_json::json!({"postgres": {
            "username": username.unwrap_or("username"),
            "password": password,
        }});
        let checked = check_str(&probe.to_string());
        // Paths are masked where a segment equals the password (`password: password`
        // reports at `/postgres/***`): whatever is not about the username is about it.
        let problem = checked.diagnostics.iter().find(|d| {
            d.code == crate::Code::WeakPassword
                || (d.severity == Severity::Error && d.path != "/postgres/username")
        });
        match problem {
            None => {
                self.set(ours, Value::String(password), key);
                self.note(
                    key,
                    NoteKind::Mapped,
                    Some(ours),
                    "carried over (not shown here): `deploy` stores it only in the release's \
                     Control Plane secret. Until then this file holds it: keep it private, or \
                     remove the key and let `deploy` generate a strong one"
                        .to_owned(),
                );
            }
            Some(problem) => {
                let reason = problem
                    .message
                    .split_once(" is weak: ")
                    .map_or("it is refused by postgres-ha's rules", |(_, reason)| {
                        reason.trim_end_matches(" (the default is used)")
                    });
                self.note(
                    key,
                    NoteKind::Changed,
                    Some(ours),
                    format!(
                        "left out ({}: {reason}): a default or weak password must not guard \
                         the new cluster, and `deploy` refuses one. Without the key `deploy` \
                         generates a strong password and keeps it only in the release's \
                         secret (validate warns C001 about the default until then); \
                         `cpln-postgres-ha dsn --show-password` prints it for your clients",
                        problem.code.as_str()
                    ),
                );
            }
        }
    }

    /// 2.5 and later: credentials in a prerequisite dictionary secret.
    fn config(&mut self, key: &Key) {
        let Some(keys) = self.mapping(key, &["credentialsSecretName"], Some("/postgres")) else {
            return;
        };
        if keys.is_empty() {
            return;
        }
        let child = key.child("credentialsSecretName");
        let name = self
            .at(&child)
            .and_then(Value::as_str)
            .filter(|n| is_resource_name(n))
            .map_or_else(|| "NAME".to_owned(), str::to_owned);
        self.note(
            &child,
            NoteKind::NoEquivalent,
            Some("/postgres"),
            format!(
                "the template read username, password and database from the dictionary \
                 secret `{name}` you created; postgres-ha creates and owns the release's \
                 secret itself. Copy username and database from `cpln secret reveal {name}` \
                 into postgres.username and postgres.database here (until then the \
                 defaults `username` and `test` apply), and leave postgres.password out so \
                 `deploy` generates a strong one, or copy it too to keep your clients' \
                 password"
            ),
        );
    }

    /// Images are kept only when they are exactly postgres-ha's default: postgres-ha
    /// runs its own start-up scripts, tested with its pinned images.
    fn image(&mut self, key: &Key, ours: &str, default: &str) {
        let value = self.at(key).unwrap_or(&Value::Null);
        let field = dotted(ours);
        if value.as_str() == Some(default) {
            self.note(
                key,
                NoteKind::Mapped,
                Some(ours),
                format!(
                    "the same image as postgres-ha's default for {field}; left to the default, \
                     so a newer cpln-postgres-ha can move it along with its scripts"
                ),
            );
            return;
        }
        let image = value
            .as_str()
            .map_or_else(|| type_phrase(value).to_owned(), |s| self.shown(s));
        self.note(
            key,
            NoteKind::NoEquivalent,
            Some(ours),
            format!(
                "{image} is not postgres-ha's image: postgres-ha runs its own start-up \
                 scripts, tested with {}. The default is kept; if yours is a mirror of that \
                 image, set {field} to it",
                shown(default)
            ),
        );
    }

    fn multi_zone(&mut self, key: &Key, what: &str) {
        let on = self.at(key).and_then(Value::as_bool) == Some(true);
        let message = if on {
            format!(
                "the template asked the platform to spread the {what} over the location's \
                 availability zones; postgres-ha's workloads do not set this, so members \
                 may share a zone"
            )
        } else {
            "it was off, and postgres-ha's workloads do not set it either: nothing changes"
                .to_owned()
        };
        self.note(key, NoteKind::NoEquivalent, None, message);
    }

    fn volumeset(&mut self, key: &Key, ours: &str) {
        let capacity_at = format!("{ours}/capacity");
        let Some(keys) = self.mapping(key, &["capacity", "autoscaling"], Some(&capacity_at)) else {
            return;
        };
        if keys.iter().any(|k| k.pointer.ends_with("/capacity")) {
            let child = key.child("capacity");
            let value = self.at(&child).unwrap_or(&Value::Null);
            let (min, max) = (u64::from(MIN_VOLUME_GIB), u64::from(MAX_VOLUME_GIB));
            let (kind, message) = match whole(value) {
                Some(gib) if (min..=max).contains(&gib) => {
                    self.set(&capacity_at, Value::from(gib), &child);
                    (
                        NoteKind::Mapped,
                        format!("→ {} ({gib} GiB)", dotted(&capacity_at)),
                    )
                }
                Some(gib) => {
                    let used = gib.clamp(min, max);
                    self.set(&capacity_at, Value::from(used), &child);
                    (
                        NoteKind::Changed,
                        format!(
                            "{gib} GiB is outside Control Plane's {min} to {max} GiB; {used} is used"
                        ),
                    )
                }
                None => (
                    NoteKind::Changed,
                    format!(
                        "{} is not a whole number of GiB; the default (10) applies",
                        type_phrase(value)
                    ),
                ),
            };
            self.note(&child, kind, Some(&capacity_at), message);
        }
        if keys.iter().any(|k| k.pointer.ends_with("/autoscaling")) {
            let child = key.child("autoscaling");
            let on = self
                .at(&child.child("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let message = if on {
                let max = self
                    .at(&child.child("maxCapacity"))
                    .and_then(whole)
                    .map_or_else(String::new, |gib| format!(" up to {gib} GiB"));
                format!(
                    "the template let the platform grow the volume{max} as it filled; \
                     postgres-ha's volume sets do not grow by themselves. Set {} to the \
                     size you need, with room to grow, and watch the usage",
                    dotted(&capacity_at)
                )
            } else {
                "it was off: nothing is lost (postgres-ha's volume sets do not grow by \
                 themselves either)"
                    .to_owned()
            };
            self.note(&child, NoteKind::NoEquivalent, Some(&capacity_at), message);
        }
    }

    /// The workload links of `key` that postgres-ha accepts, with a note on the list.
    fn links(&mut self, key: &Key, ours: &str) -> Vec<String> {
        let value = self.at(key).unwrap_or(&Value::Null);
        let items: &[Value] = match value {
            Value::Null => {
                self.note(
                    key,
                    NoteKind::Mapped,
                    Some(ours),
                    "empty in the template (its examples are commented out): nothing to carry"
                        .to_owned(),
                );
                return Vec::new();
            }
            Value::Array(items) => items,
            other => {
                self.note(
                    key,
                    NoteKind::NoEquivalent,
                    Some(ours),
                    format!(
                        "it is {}, not a list of workload links; left out",
                        type_phrase(other)
                    ),
                );
                return Vec::new();
            }
        };
        let (good, bad): (Vec<&Value>, Vec<&Value>) = items
            .iter()
            .partition(|v| v.as_str().is_some_and(is_workload_link));
        let good: Vec<String> = good
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if bad.is_empty() {
            let message = if good.is_empty() {
                "an empty list: nothing to carry".to_owned()
            } else {
                format!(
                    "→ {} ({} link{})",
                    dotted(ours),
                    good.len(),
                    plural(good.len())
                )
            };
            self.note(key, NoteKind::Mapped, Some(ours), message);
        } else {
            let first = bad[0]
                .as_str()
                .map_or_else(|| type_phrase(bad[0]).to_owned(), |s| self.shown(s));
            self.note(
                key,
                NoteKind::Changed,
                Some(ours),
                format!(
                    "{} of {} entr{} left out, such as {first}: postgres-ha takes links of \
                     the form //gvc/GVC/workload/NAME (lower-case names)",
                    bad.len(),
                    items.len(),
                    if items.len() == 1 { "y" } else { "ies" }
                ),
            );
        }
        good
    }

    /// Who may connect to PostgreSQL. Same meaning in both; only an empty
    /// `workload-list` (nobody) has no valid form here.
    fn access(&mut self, key: &Key) {
        let ours = "/internal_access";
        let Some(keys) = self.mapping(key, &["type", "workloads"], Some("/internal_access/type"))
        else {
            return;
        };
        let has = |name: &str| {
            keys.iter()
                .any(|k| k.pointer.ends_with(&format!("/{name}")))
        };
        let mut links = if has("workloads") {
            self.links(&key.child("workloads"), "/internal_access/workloads")
        } else {
            Vec::new()
        };
        if has("type") {
            let child = key.child("type");
            let value = self.at(&child).unwrap_or(&Value::Null);
            let (kind, access, message) = match value.as_str() {
                Some(t @ ("same-gvc" | "same-org")) => (
                    NoteKind::Mapped,
                    t,
                    format!("→ internal_access.type: {}", access_meaning(t)),
                ),
                Some("workload-list") if !links.is_empty() => (
                    NoteKind::Mapped,
                    "workload-list",
                    format!(
                        "→ internal_access.type: {}",
                        access_meaning("workload-list")
                    ),
                ),
                Some("workload-list") => (
                    NoteKind::Changed,
                    "same-gvc",
                    "`workload-list` with no valid workload admitted nobody, which postgres-ha \
                     refuses; `same-gvc` (every workload of this GVC) is written instead. List \
                     your clients under workloads and set workload-list again before you \
                     deploy if the GVC holds workloads that must not connect"
                        .to_owned(),
                ),
                _ => (
                    NoteKind::Changed,
                    "same-gvc",
                    format!(
                        "{} is not one of same-gvc, same-org, workload-list; the default \
                         (same-gvc) applies",
                        value
                            .as_str()
                            .map_or_else(|| type_phrase(value).to_owned(), |s| self.shown(s))
                    ),
                ),
            };
            if access == "same-org" && !links.is_empty() {
                links.clear();
                self.note(
                    &key.child("workloads"),
                    NoteKind::Changed,
                    Some("/internal_access/workloads"),
                    "ignored with same-org by the template and by postgres-ha: left out".to_owned(),
                );
            }
            self.set(
                &format!("{ours}/type"),
                Value::String(access.to_owned()),
                &child,
            );
            self.note(&child, kind, Some("/internal_access/type"), message);
        }
        if !links.is_empty() {
            let from = key.child("workloads");
            self.set(
                &format!("{ours}/workloads"),
                Value::Array(links.into_iter().map(Value::String).collect()),
                &from,
            );
        }
    }

    /// Who may reach etcd. The template opened it to the GVC so Patroni could reach
    /// it; postgres-ha admits its own workloads always and nothing else by default.
    fn etcd_access(&mut self, key: &Key) {
        let ours = "/etcd/internal_access";
        let anchor = "/etcd/internal_access/type";
        let Some(keys) = self.mapping(key, &["type", "workloads"], Some(anchor)) else {
            return;
        };
        let has = |name: &str| {
            keys.iter()
                .any(|k| k.pointer.ends_with(&format!("/{name}")))
        };
        let mut links = if has("workloads") {
            self.links(&key.child("workloads"), "/etcd/internal_access/workloads")
        } else {
            Vec::new()
        };
        if has("type") {
            let child = key.child("type");
            let value = self.at(&child).unwrap_or(&Value::Null);
            match value.as_str() {
                Some("same-org") => {
                    self.set(&format!("{ours}/type"), Value::from("same-org"), &child);
                    self.note(
                        &child,
                        NoteKind::Mapped,
                        Some(anchor),
                        "→ etcd.internal_access.type: every workload of the org may reach etcd"
                            .to_owned(),
                    );
                    if !links.is_empty() {
                        links.clear();
                        self.note(
                            &key.child("workloads"),
                            NoteKind::Changed,
                            Some("/etcd/internal_access/workloads"),
                            "ignored with same-org: left out".to_owned(),
                        );
                    }
                }
                Some("workload-list") => {
                    self.set(
                        &format!("{ours}/type"),
                        Value::from("workload-list"),
                        &child,
                    );
                    self.note(
                        &child,
                        NoteKind::Mapped,
                        Some(anchor),
                        "→ etcd.internal_access.type: postgres-ha's own PostgreSQL and etcd \
                         workloads, plus the listed ones"
                            .to_owned(),
                    );
                }
                _ => self.note(
                    &child,
                    NoteKind::Changed,
                    Some(anchor),
                    "the template opened etcd to every workload of the GVC (with no \
                     authentication) so that Patroni could reach it; postgres-ha always \
                     admits its own PostgreSQL and etcd workloads, and by default nothing \
                     else (workload-list). Set same-gvc only if other workloads really use \
                     this etcd"
                        .to_owned(),
                ),
            }
        }
        if !links.is_empty() {
            let from = key.child("workloads");
            self.set(
                &format!("{ours}/workloads"),
                Value::Array(links.into_iter().map(Value::String).collect()),
                &from,
            );
        }
    }

    fn etcd(&mut self, key: &Key) {
        let known = [
            "replicas",
            "resources",
            "volumeset",
            "internal_access",
            "tuning",
            "multiZone",
            "image",
        ];
        let Some(keys) = self.mapping(key, &known, Some("/etcd")) else {
            self.remarks.push(compaction_remark());
            return;
        };
        let has = |name: &str| {
            keys.iter()
                .any(|k| k.pointer.ends_with(&format!("/{name}")))
        };
        if has("replicas") {
            self.etcd_replicas(&key.child("replicas"));
        }
        if has("resources") {
            self.resources(&key.child("resources"), "/etcd/resources", "etcd member");
        }
        if has("volumeset") {
            self.volumeset(&key.child("volumeset"), "/etcd/volumeset");
        }
        if has("internal_access") {
            self.etcd_access(&key.child("internal_access"));
        }
        if has("tuning") {
            self.tuning(&key.child("tuning"));
        } else {
            self.remarks.push(compaction_remark());
        }
        if has("multiZone") {
            self.multi_zone(&key.child("multiZone"), "etcd members");
        }
        if has("image") {
            let default = Images::default().etcd;
            self.image(&key.child("image"), "/images/etcd", &default);
        }
    }

    /// An odd count, 1 to 5: etcd needs a majority, and an even count adds a vote to
    /// win without adding a tolerated failure.
    fn etcd_replicas(&mut self, key: &Key) {
        let ours = "/etcd/replicas";
        let value = self.at(key).unwrap_or(&Value::Null);
        let max = u64::from(MAX_ETCD_MEMBERS);
        let (kind, message) = match whole(value) {
            Some(n) if n % 2 == 1 && n <= max => {
                self.set(ours, Value::from(n), key);
                (NoteKind::Mapped, format!("→ {} ({n})", dotted(ours)))
            }
            Some(0) => (
                NoteKind::Changed,
                "0 is no etcd at all; the default (3) applies".to_owned(),
            ),
            Some(n) => {
                let used = if n > max {
                    max
                } else if n == 2 {
                    3
                } else {
                    n - 1
                };
                self.set(ours, Value::from(used), key);
                let why = if n > max {
                    format!("more than the {max} members Control Plane gives their own address to")
                } else {
                    format!("even: {n} members tolerate no more failures than {}", n - 1)
                };
                (NoteKind::Changed, format!("{n} is {why}; {used} is used"))
            }
            None => (
                NoteKind::Changed,
                format!(
                    "{} is not a whole number; the default (3) applies",
                    type_phrase(value)
                ),
            ),
        };
        self.note(key, kind, Some(ours), message);
    }

    /// 2.4.2 and later: etcd compaction, passed through. postgres-ha always compacts
    /// (without it etcd fills its quota and turns read-only) and fixes the quota.
    fn tuning(&mut self, key: &Key) {
        let known = [
            "autoCompactionMode",
            "autoCompactionRetention",
            "quotaBackendBytes",
        ];
        let Some(keys) = self.mapping(key, &known, Some("/etcd/compaction")) else {
            return;
        };
        let has = |name: &str| {
            keys.iter()
                .any(|k| k.pointer.ends_with(&format!("/{name}")))
        };
        let (mode_key, retention_key) = (
            key.child("autoCompactionMode"),
            key.child("autoCompactionRetention"),
        );
        let (mode_at, retention_at) = ("/etcd/compaction/mode", "/etcd/compaction/retention");
        let mut mode = "periodic";
        if has("autoCompactionMode") {
            let value = self.at(&mode_key).unwrap_or(&Value::Null);
            match value.as_str() {
                Some(m @ ("periodic" | "revision")) => mode = m,
                _ => self.note(
                    &mode_key,
                    NoteKind::Changed,
                    Some(mode_at),
                    "not `periodic` or `revision`; the default (periodic) applies".to_owned(),
                ),
            }
        }
        let retention = if has("autoCompactionRetention") {
            let value = self.at(&retention_key).unwrap_or(&Value::Null);
            let text = scalar_text(value).map(|t| t.trim().to_owned());
            let digits = text.as_deref().filter(|t| {
                !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && !t.starts_with('0')
            });
            match (mode, text.as_deref(), digits) {
                ("periodic", Some(t), _) if is_duration(t) => Some((
                    t.to_owned(),
                    NoteKind::Mapped,
                    format!("→ {}", dotted(retention_at)),
                )),
                ("periodic", _, Some(n)) => Some((
                    format!("{n}h"),
                    NoteKind::Changed,
                    format!(
                        "a bare {n} is {n} hours to etcd; written with its unit ({n}h), as \
                         postgres-ha requires"
                    ),
                )),
                ("revision", _, Some(n)) => Some((
                    n.to_owned(),
                    NoteKind::Mapped,
                    format!("→ {}", dotted(retention_at)),
                )),
                _ => None,
            }
        } else {
            None
        };
        if let Some((text, kind, message)) = retention {
            if has("autoCompactionMode") && self.at(&mode_key).and_then(Value::as_str) == Some(mode)
            {
                self.set(mode_at, Value::from(mode), &mode_key);
                self.note(
                    &mode_key,
                    NoteKind::Mapped,
                    Some(mode_at),
                    format!("→ {}", dotted(mode_at)),
                );
            }
            self.set(retention_at, Value::String(text), &retention_key);
            self.note(&retention_key, kind, Some(retention_at), message);
        } else {
            // Without a usable retention the pair falls back to the defaults
            // (periodic, 1h): a revision mode needs a count the file lacks.
            if has("autoCompactionMode") && self.at(&mode_key).and_then(Value::as_str) == Some(mode)
            {
                let (kind, message) = if mode == "periodic" {
                    (
                        NoteKind::Mapped,
                        format!("→ {} (the default)", dotted(mode_at)),
                    )
                } else {
                    (
                        NoteKind::Changed,
                        "revision mode needs a revision count, which the file lacks; the \
                             defaults (periodic, 1h) apply"
                            .to_owned(),
                    )
                };
                self.note(&mode_key, kind, Some(mode_at), message);
            }
            if has("autoCompactionRetention") {
                self.note(
                    &retention_key,
                    NoteKind::Changed,
                    Some(retention_at),
                    "not a retention postgres-ha can use (periodic: a duration with its \
                         unit such as 1h or 30m; revision: a count; compaction cannot be \
                         turned off, since etcd would fill its quota and turn read-only); the \
                         default (1h) applies"
                        .to_owned(),
                );
            }
        }
        if has("quotaBackendBytes") {
            let child = key.child("quotaBackendBytes");
            let bytes = self.at(&child).and_then(whole);
            let message = match bytes {
                Some(0 | 2_147_483_648) => "postgres-ha's etcd always uses etcd's default 2 GiB \
                                            quota, which is what this meant: nothing changes"
                    .to_owned(),
                Some(n) => format!(
                    "{n} bytes; postgres-ha's etcd uses a fixed 2 GiB quota (etcd's default), \
                     ample with compaction on"
                ),
                None => "postgres-ha's etcd uses a fixed 2 GiB quota (etcd's default)".to_owned(),
            };
            self.note(
                &child,
                NoteKind::NoEquivalent,
                Some("/etcd/compaction"),
                message,
            );
        }
    }

    /// Returns whether the template ran PgBouncer (which also forced its proxy on).
    fn pgbouncer(&mut self, key: &Key) -> bool {
        let on = self
            .at(&key.child("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let message = if on {
            "postgres-ha has no connection pooler. Clients that connected to the PgBouncer \
             workload must connect to the leader-routing proxy instead, with \
             postgres.parameters.max_connections sized for them, or run PgBouncer yourself \
             in front of the proxy"
        } else {
            "it was disabled: nothing is lost"
        };
        self.note(
            key,
            NoteKind::NoEquivalent,
            Some("/proxy"),
            message.to_owned(),
        );
        on
    }

    fn proxy(&mut self, key: &Key, pgbouncer: bool) {
        let known = [
            "enabled",
            "image",
            "resources",
            "replicas",
            "minReplicas",
            "maxReplicas",
        ];
        let keys = if self.at(key).is_some() {
            self.mapping(key, &known, Some("/proxy/enabled"))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let has = |name: &str| {
            keys.iter()
                .any(|k| k.pointer.ends_with(&format!("/{name}")))
        };
        let enabled_key = key.child("enabled");
        if has("enabled") {
            let value = self.at(&enabled_key).unwrap_or(&Value::Null);
            match (value.as_bool(), pgbouncer) {
                (Some(false), true) => {
                    self.set("/proxy/enabled", Value::Bool(true), &enabled_key);
                    self.note(
                        &enabled_key,
                        NoteKind::Changed,
                        Some("/proxy/enabled"),
                        "false, but the template ran the proxy anyway because pgbouncer was \
                         on; kept on, since its clients now reach the leader through it"
                            .to_owned(),
                    );
                }
                (Some(on), _) => {
                    self.set("/proxy/enabled", Value::Bool(on), &enabled_key);
                    let message = if on {
                        "→ proxy.enabled: one address that always reaches the primary"
                    } else {
                        "→ proxy.enabled: no proxy; clients list every member and ask for \
                         target_session_attrs=read-write"
                    };
                    self.note(
                        &enabled_key,
                        NoteKind::Mapped,
                        Some("/proxy/enabled"),
                        message.to_owned(),
                    );
                }
                (None, _) => self.note(
                    &enabled_key,
                    NoteKind::Changed,
                    Some("/proxy/enabled"),
                    format!(
                        "{} is not true or false; the default (on) applies",
                        type_phrase(value)
                    ),
                ),
            }
        }
        if has("image") {
            let default = Images::default().proxy;
            self.image(&key.child("image"), "/images/proxy", &default);
        }
        if has("resources") {
            self.resources(&key.child("resources"), "/proxy/resources", "proxy replica");
        }
        let ours = "/proxy/replicas";
        let counts: Vec<(Key, Option<u64>)> = ["maxReplicas", "replicas", "minReplicas"]
            .into_iter()
            .filter(|name| has(name))
            .map(|name| {
                let child = key.child(name);
                let count = self.at(&child).and_then(whole);
                (child, count)
            })
            .collect();
        let Some((source, count)) = counts.iter().find(|(_, n)| n.is_some()).cloned() else {
            for (child, _) in &counts {
                self.note(
                    child,
                    NoteKind::Changed,
                    Some(ours),
                    "not a whole number; the default (2) applies".to_owned(),
                );
            }
            return;
        };
        let count = count.unwrap_or(2);
        let used = count.clamp(1, 10);
        self.set(ours, Value::from(used), &source);
        for (child, n) in &counts {
            let (kind, message) = if child.pointer == source.pointer {
                if used == count {
                    (NoteKind::Mapped, format!("→ {} ({used})", dotted(ours)))
                } else {
                    (
                        NoteKind::Changed,
                        format!("{count} is outside 1 to 10; {used} is used"),
                    )
                }
            } else if *n == Some(count) {
                (
                    NoteKind::Mapped,
                    format!("the same count as {}: → {}", source.dotted, dotted(ours)),
                )
            } else {
                (
                    NoteKind::NoEquivalent,
                    format!(
                        "the template scaled the proxy on requests per second; postgres-ha \
                         runs a fixed count, {} ({used})",
                        source.dotted
                    ),
                )
            };
            self.note(child, kind, Some(ours), message);
        }
    }

    /// postgres-ha takes no backups: say what the template did and what to do.
    fn backup(&mut self, key: &Key) {
        let at = |name: &str| self.at(&key.child(name));
        let on = at("enabled").and_then(Value::as_bool).unwrap_or(false);
        let message = if on {
            let mode = at("mode").and_then(Value::as_str).unwrap_or("logical");
            let provider = at("provider")
                .and_then(Value::as_str)
                .map_or_else(String::new, |p| format!(" to {}", self.shown(p)));
            let what = if mode == "wal-g" {
                "continuous WAL archiving with WAL-G (point-in-time recovery)".to_owned()
            } else {
                let schedule = self
                    .at(&key.child("logical").child("schedule"))
                    .and_then(Value::as_str)
                    .map_or_else(String::new, |s| {
                        format!(" on the schedule {}", self.shown(s))
                    });
                format!("a logical pg_dump{schedule}")
            };
            format!(
                "postgres-ha takes no backups. The template ran {what}{provider}; the new \
                 cluster has none until you set one up, e.g. a cron workload running pg_dump \
                 through the proxy. Keep the old backups until then; the volume sets' final \
                 snapshot on deletion is not a backup schedule"
            )
        } else {
            "it was disabled; postgres-ha takes no backups either, so plan your own (e.g. a \
             cron workload running pg_dump through the proxy)"
                .to_owned()
        };
        self.note(key, NoteKind::NoEquivalent, None, message);
    }

    /// Writes the output, checks it as `validate` would, and leaves out what it
    /// refuses until nothing is refused.
    fn settle(&mut self) -> Result<String, ImportError> {
        for _ in 0..MAX_SETTLE_ROUNDS {
            self.complete_resources();
            // The comments cannot change a verdict: the rounds check the values alone.
            let checked = check_str(&self.emit(false));
            let Some(error) = checked
                .diagnostics
                .iter()
                .find(|d| d.severity == Severity::Error)
            else {
                return self.read_back(self.emit(true));
            };
            self.leave_out(
                &error.path,
                &format!("{}: {}", error.code.as_str(), error.message),
            );
        }
        Err(internal("its output kept failing validation"))
    }

    /// A resources block needs both `cpu` and `memory`: where the file gives one, the
    /// other is written with postgres-ha's default, and the given key's note says so.
    fn complete_resources(&mut self) {
        let model = serde_json::to_value(Values::default()).unwrap_or(Value::Null);
        for block in ["/resources", "/etcd/resources", "/proxy/resources"] {
            for (present, missing) in [("cpu", "memory"), ("memory", "cpu")] {
                let (present, missing) =
                    (format!("{block}/{present}"), format!("{block}/{missing}"));
                if self.out.pointer(&present).is_none() || self.out.pointer(&missing).is_some() {
                    continue;
                }
                let Some(default) = model.pointer(&missing).cloned() else {
                    continue;
                };
                let from = self
                    .sources
                    .iter()
                    .find(|(ours, _)| *ours == present)
                    .map(|(_, from)| from.clone())
                    .unwrap_or_default();
                let shown_default = shown(default.as_str().unwrap_or_default());
                let keys: Vec<&str> = missing.split('/').skip(1).collect();
                set_path(&mut self.out, &keys, default);
                self.sources.push((missing.clone(), from.clone()));
                if let Some(placed) = self.notes.iter_mut().rev().find(|p| p.note.key == from) {
                    let _ = write!(
                        placed.note.message,
                        "; {} is written with postgres-ha's default ({shown_default}), since \
                         a resources block needs both",
                        dotted(&missing)
                    );
                }
            }
        }
    }

    /// The output must read back as exactly the values written: a defect here would
    /// otherwise change a value silently.
    fn read_back(&self, text: String) -> Result<String, ImportError> {
        let mut reporter = Reporter::new(&text);
        let parsed = yaml::parse(&text, &mut reporter);
        let same = parsed.document.is_some_and(|doc| doc.value == self.out);
        if text.len() > crate::MAX_BYTES {
            return Err(internal_size());
        }
        if same && check_str(&text).values.is_some() {
            Ok(text)
        } else {
            Err(internal(
                "its output does not read back as the values it wrote",
            ))
        }
    }

    /// Leaves out the written values a diagnostic at `path` concerns: the value at
    /// the path or above it, else everything written below the nearest ancestor.
    fn leave_out(&mut self, path: &str, reason: &str) {
        let related = |ours: &str, at: &str| {
            ours == at || ours.starts_with(&format!("{at}/")) || at.starts_with(&format!("{ours}/"))
        };
        let mut at = path.to_owned();
        loop {
            if self.sources.iter().any(|(ours, _)| related(ours, &at)) || at.is_empty() {
                break;
            }
            at.truncate(at.rfind('/').unwrap_or(0));
        }
        // A template key's values go together: a default written beside a refused
        // value (see `complete_resources`) goes with it.
        let keys: Vec<String> = self
            .sources
            .iter()
            .filter(|(ours, _)| related(ours, &at))
            .map(|(_, from)| from.clone())
            .collect();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sources)
            .into_iter()
            .partition(|(ours, from)| related(ours, &at) || keys.contains(from));
        self.sources = kept;
        for (ours, from) in gone {
            remove_pointer(&mut self.out, &ours);
            let message = format!(
                "postgres-ha refuses the value ({}); left out, so its default applies",
                sanitize(reason)
            );
            match self.notes.iter_mut().rev().find(|p| p.note.key == from) {
                Some(placed) => {
                    placed.note.kind = NoteKind::Changed;
                    placed.note.message = message;
                }
                None => self.notes.push(Placed {
                    note: Note {
                        key: from,
                        kind: NoteKind::Changed,
                        message,
                    },
                    line: None,
                    anchor: Some(ours),
                }),
            }
        }
    }

    /// The output file; without `notes`, only the values (what the checks read).
    fn emit(&self, notes: bool) -> String {
        let mut text = String::new();
        let model = serde_json::to_value(Values::default()).unwrap_or(Value::Null);
        if !notes {
            let mut emitted = vec![true; self.notes.len()];
            if let Value::Object(map) = &self.out {
                self.emit_map(map, model.as_object(), "", 0, &mut text, &mut emitted);
                if map.is_empty() {
                    text.push_str("{}\n");
                }
            }
            return text;
        }
        let mut header = vec![
            format!(
                "postgres-ha values, generated by `cpln-postgres-ha import-values` from a \
                 values file of the postgres-highly-available Helm template ({}).",
                self.layout
            ),
            String::new(),
            "Every key of that file has an `# import:` comment below: mapped, changed, or \
             with no equivalent in postgres-ha. Review them, then run `cpln-postgres-ha \
             validate` on this file, then `cpln-postgres-ha deploy NAME -f FILE`."
                .to_owned(),
            String::new(),
            "This carries settings over, not data: deploy creates a new, empty cluster with \
             its own workloads and volumes. Move the data with pg_dump and pg_restore, then \
             point your clients at the new cluster."
                .to_owned(),
            String::new(),
            patroni_remark(),
        ];
        let mut remarks = self.remarks.clone();
        remarks.dedup();
        for remark in remarks {
            header.push(String::new());
            header.push(remark);
        }
        for line in &header {
            comment(&mut text, "", 0, line);
        }
        text.push('\n');
        let mut emitted = vec![false; self.notes.len()];
        if let Value::Object(map) = &self.out {
            self.emit_map(map, model.as_object(), "", 0, &mut text, &mut emitted);
            if map.is_empty() {
                // Every key keeps its default; an empty file would be refused.
                text.push_str("{}\n");
            }
        }
        if emitted.iter().any(|done| !done) {
            text.push('\n');
            comment(
                &mut text,
                "",
                0,
                "Keys of the template with no place in this file:",
            );
            for (placed, _) in self.notes.iter().zip(&emitted).filter(|(_, done)| !**done) {
                Self::emit_note(placed, "", &mut text);
            }
        }
        text
    }

    fn emit_note(placed: &Placed, indent: &str, text: &mut String) {
        let line = placed
            .line
            .map_or_else(String::new, |l| format!(" (line {l})"));
        comment(
            text,
            indent,
            2,
            &format!(
                "import: {}{line} — {}: {}.",
                placed.note.key,
                placed.note.kind.as_str(),
                placed.note.message.trim_end_matches('.')
            ),
        );
    }

    /// Writes a mapping in the model's key order, each key after its notes; notes of
    /// keys not written stand where the key would be.
    fn emit_map(
        &self,
        map: &Map<String, Value>,
        model: Option<&Map<String, Value>>,
        pointer: &str,
        depth: usize,
        text: &mut String,
        emitted: &mut [bool],
    ) {
        let indent = "  ".repeat(depth);
        let mut keys: Vec<&str> = model
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.extend(
            map.keys()
                .map(String::as_str)
                .filter(|k| !model.is_some_and(|m| m.contains_key(*k))),
        );
        for key in keys {
            let child = format!("{pointer}/{}", escape_segment(key));
            let value = map.get(key);
            let descend = matches!(value, Some(Value::Object(_)));
            let below = format!("{child}/");
            let mut here: Vec<usize> = (0..self.notes.len())
                .filter(|&i| {
                    !emitted[i]
                        && self.notes[i].anchor.as_deref().is_some_and(|anchor| {
                            anchor == child || (!descend && anchor.starts_with(&below))
                        })
                })
                .collect();
            if value.is_none() {
                // Notes standing in for a key that is not written read in the
                // template's order; above a written key the mapping comes first.
                here.sort_by_key(|&i| self.notes[i].line);
            }
            for i in here {
                emitted[i] = true;
                Self::emit_note(&self.notes[i], &indent, text);
            }
            let Some(value) = value else { continue };
            let _ = write!(text, "{indent}{}:", scalar(&Value::String(key.to_owned())));
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    text.push('\n');
                    let inner_model = model.and_then(|m| m.get(key)).and_then(Value::as_object);
                    self.emit_map(inner, inner_model, &child, depth + 1, text, emitted);
                }
                Value::Array(items) if !items.is_empty() => {
                    text.push('\n');
                    for item in items {
                        let _ = writeln!(text, "{indent}  - {}", scalar(item));
                    }
                }
                other => {
                    let _ = writeln!(text, " {}", scalar(other));
                }
            }
        }
    }
}

/// What postgres-ha does differently by default, from the model's own defaults.
fn patroni_remark() -> String {
    let defaults = crate::Values::default();
    let timing = defaults.patroni.timing.effective();
    let preset = serde_json::to_value(defaults.patroni.timing.preset).unwrap_or_default();
    format!(
        "postgres-ha's own keys keep their defaults (`cpln-postgres-ha schema` lists them): \
         patroni.synchronous_mode is {}, so a commit waits until a standby has it (the \
         template replicated asynchronously), and the `{}` timing preset (ttl {}, loop_wait \
         {}, retry_timeout {}) replaces the template's 30/10/30, which broke Patroni's rule \
         loop_wait + 2 × retry_timeout ≤ ttl.",
        if defaults.patroni.synchronous_mode {
            "on"
        } else {
            "off"
        },
        preset.as_str().unwrap_or_default(),
        timing.ttl,
        timing.loop_wait,
        timing.retry_timeout
    )
}

fn compaction_remark() -> String {
    let compaction = crate::Values::default().etcd.compaction;
    let mode = serde_json::to_value(compaction.mode).unwrap_or_default();
    format!(
        "etcd.compaction keeps its default ({}, {}): the template had no etcd compaction \
         before 2.4.2, so its etcd grew until it hit its quota and turned read-only.",
        mode.as_str().unwrap_or_default(),
        compaction.retention
    )
}

fn internal(what: &str) -> ImportError {
    ImportError {
        message: format!("import-values failed: {what} (a defect; please report it)"),
        checked: Box::new(Checked::refused(
            crate::Code::SchemaViolation,
            &format!("import-values failed: {what}"),
            "report it with the file's layout (not its passwords)",
        )),
    }
}

/// A file of 10,000 long workload links can convert to more than `validate` reads.
fn internal_size() -> ImportError {
    let message = "the converted values would be larger than 1 MiB, the limit for values \
                   files: the file holds far more than a template values file could use";
    ImportError {
        message: message.to_owned(),
        checked: Box::new(Checked::refused(
            crate::Code::TooLarge,
            message,
            "pass the template's values file itself",
        )),
    }
}

/// Which layout of the template the file has, from the keys that appeared when.
fn layout(root: &Value) -> String {
    let has = |p: &str| root.pointer(p).is_some();
    let since = [
        ("/config/credentialsSecretName", "2.5 or later"),
        ("/etcd/tuning", "2.4.2 or later"),
        ("/pgbouncer", "2.2 or later"),
        ("/resources/maxCpu", "2.1 or later"),
        ("/resources/maxMemory", "2.1 or later"),
        ("/resources/minCpu", "2.1 or later"),
        ("/resources/minMemory", "2.1 or later"),
        ("/volumeset/autoscaling", "2.1 or later"),
        ("/image", "2.0 or later"),
        ("/multiZone", "2.0 or later"),
        ("/proxy", "2.0 or later"),
        ("/backup", "2.0 or later"),
        ("/etcd/multiZone", "2.0 or later"),
    ]
    .into_iter()
    .find(|(p, _)| has(p))
    .map(|(_, since)| since);
    match since {
        None => "1.x layout".to_owned(),
        Some(since) if has("/postgres") && since != "2.5 or later" => {
            format!("2.x layout, {since} and before 2.5")
        }
        Some(since) => format!("2.x layout, {since}"),
    }
}

/// A whole number written as `3`, `3.0` or `"3"`.
fn whole(value: &Value) -> Option<u64> {
    match value {
        // `3.0`: its decimal form without the fraction is the whole number.
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0)?;
            format!("{f:.0}").parse().ok()
        }),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    }
}

/// A quantity as Control Plane takes it: a string (numbers in their shortest form).
fn quantity(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0) => Some(n.to_string()),
        _ => None,
    }
}

/// A scalar as the text Helm would have rendered (strings, numbers, booleans).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `//gvc/GVC/workload/NAME` with Control Plane names (postgres-ha's link pattern).
fn is_workload_link(link: &str) -> bool {
    let name = |s: &str| {
        let bytes = s.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    let Some(rest) = link.strip_prefix("//gvc/") else {
        return false;
    };
    let Some((gvc, rest)) = rest.split_once('/') else {
        return false;
    };
    let Some(workload) = rest.strip_prefix("workload/") else {
        return false;
    };
    name(gvc) && name(workload)
}

/// A Control Plane resource name (what the template's secret name must be).
fn is_resource_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `30m`, `1h`, `90s`: a positive count with etcd's units, as postgres-ha requires.
fn is_duration(text: &str) -> bool {
    let Some(count) = text.strip_suffix(['s', 'm', 'h']) else {
        return false;
    };
    !count.is_empty() && !count.starts_with('0') && count.bytes().all(|b| b.is_ascii_digit())
}

fn access_meaning(access: &str) -> &'static str {
    match access {
        "same-org" => "every workload of the org may connect",
        "workload-list" => "only the listed workloads may connect",
        _ => "every workload of this GVC may connect",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Our pointer as a dotted key for messages (`/resources/cpu` → `resources.cpu`).
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn shown_segment(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= SHOWN_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        name.to_owned()
    } else {
        let cut: String = name.chars().take(SHOWN_CHARS).collect();
        let more = if cut.len() < name.len() { "…" } else { "" };
        format!("{}{more}", quoted(&cut))
    }
}

/// A user's value for a comment: in backticks, escaped, cut at [`SHOWN_CHARS`].
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(SHOWN_CHARS).collect();
    let more = if cut.len() < value.len() { "…" } else { "" };
    format!("`{}`{more}", sanitize(&cut).replace('`', "'"))
}

/// Text safe in a one-line comment: no line breaks or characters YAML cannot hold.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if printable(c) {
            out.push(c);
        } else {
            push_escape(&mut out, c);
        }
    }
    out
}

/// Characters YAML allows in a scalar as they are (its `nb-char`, without tabs).
/// NEL, the Unicode line and paragraph separators and the byte-order mark are
/// escaped too: some readers break lines at them.
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

fn push_escape(out: &mut String, c: char) {
    let code = u32::from(c);
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\t' => write!(out, "\\t"),
        '\r' => write!(out, "\\r"),
        _ if code <= 0xFF => write!(out, "\\x{code:02X}"),
        _ if code <= 0xFFFF => write!(out, "\\u{code:04X}"),
        _ => write!(out, "\\U{code:08X}"),
    };
}

/// A YAML double-quoted scalar holding exactly `text`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if printable(c) => out.push(c),
            c => push_escape(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// A scalar as YAML: plain when it cannot read as anything but this string.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let plain = s.len() <= 200
                && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'/' | b':')
                })
                && !s.ends_with(':')
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
                );
            if plain { s.clone() } else { quoted(s) }
        }
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// Writes `line` as comment lines of at most [`WIDTH`] columns, continuation lines
/// indented by `hang` spaces; an empty line is a lone `#`.
fn comment(text: &mut String, indent: &str, hang: usize, line: &str) {
    let line = sanitize(line);
    if line.is_empty() {
        let _ = writeln!(text, "{indent}#");
        return;
    }
    let mut current = String::new();
    let mut first = true;
    // Code in backticks stays on one line, so it can be copied.
    let mut words: Vec<String> = Vec::new();
    let mut open = false;
    for piece in line.split(' ').filter(|w| !w.is_empty()) {
        match words.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(piece);
            }
            _ => words.push(piece.to_owned()),
        }
        open ^= piece.matches('`').count() % 2 == 1;
    }
    for word in &words {
        let room = WIDTH.saturating_sub(indent.len() + 2 + if first { 0 } else { hang });
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > room {
            let lead = if first { 0 } else { hang };
            let _ = writeln!(text, "{indent}# {:lead$}{current}", "");
            current.clear();
            first = false;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    let lead = if first { 0 } else { hang };
    let _ = writeln!(text, "{indent}# {:lead$}{current}", "");
}

/// Removes the value at `pointer`, and mappings left empty above it.
fn remove_pointer(root: &mut Value, pointer: &str) {
    let Some(cut) = pointer.rfind('/') else {
        return;
    };
    let (parent, last) = (&pointer[..cut], &pointer[cut + 1..]);
    let last = last.replace("~1", "/").replace("~0", "~");
    let emptied = match root.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.shift_remove(&last);
            map.is_empty()
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
            items.is_empty()
        }
        _ => false,
    };
    if emptied && !parent.is_empty() {
        remove_pointer(root, parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str) -> Imported {
        import_template(text.as_bytes()).unwrap_or_else(|e| panic!("{}", e.message))
    }

    fn note<'a>(imported: &'a Imported, key: &str) -> &'a Note {
        imported
            .notes
            .iter()
            .find(|n| n.key == key)
            .unwrap_or_else(|| panic!("no note for {key}: {:#?}", imported.notes))
    }

    fn values(imported: &Imported) -> Values {
        let checked = check_str(&imported.yaml);
        assert!(
            !checked.has_errors(),
            "{:#?}\n{}",
            checked.diagnostics,
            imported.yaml
        );
        checked.values.expect("valid values")
    }

    const V2: &str = "replicas: 3
resources: {minCpu: 500m, minMemory: 1Gi, maxCpu: 1, maxMemory: 2Gi}
image: controlplanecorporation/patroni-postgres:0.7
config: {credentialsSecretName: my-postgres-ha-credentials}
multiZone: false
volumeset: {capacity: 20, autoscaling: {enabled: true, maxCapacity: 100}}
internal_access: {type: same-gvc, workloads: null}
etcd:
  replicas: 3
  resources: {cpu: 500m, memory: 512Mi}
  tuning: {autoCompactionMode: periodic, autoCompactionRetention: 30, quotaBackendBytes: 0}
  internal_access: {type: same-gvc}
pgbouncer: {enabled: true}
proxy: {enabled: false, image: haproxy:2.9, minReplicas: 2, maxReplicas: 3}
backup: {enabled: true, mode: wal-g, provider: aws}
";

    #[test]
    fn maps_the_2x_layout() {
        let imported = import(V2);
        let v = values(&imported);
        assert!(
            imported.layout.contains("2.5 or later"),
            "{}",
            imported.layout
        );
        assert_eq!(v.resources.cpu.as_str(), "1");
        assert_eq!(v.resources.memory.as_str(), "2Gi");
        assert_eq!(
            note(&imported, "resources.minCpu").kind,
            NoteKind::NoEquivalent
        );
        assert_eq!(note(&imported, "resources.maxCpu").kind, NoteKind::Mapped);
        assert_eq!(v.volumeset.capacity, 20);
        assert!(
            note(&imported, "volumeset.autoscaling")
                .message
                .contains("100 GiB")
        );
        assert_eq!(v.etcd.resources.memory.as_str(), "512Mi");
        // A bare retention is hours to etcd: the unit is made explicit.
        assert_eq!(v.etcd.compaction.retention, "30h");
        assert_eq!(
            note(&imported, "etcd.tuning.autoCompactionRetention").kind,
            NoteKind::Changed
        );
        // etcd is closed to the GVC again; PgBouncer forced the proxy on.
        assert_eq!(
            v.etcd.internal_access.access_type,
            crate::values::AccessType::WorkloadList
        );
        assert!(v.proxy.enabled);
        assert_eq!(note(&imported, "proxy.enabled").kind, NoteKind::Changed);
        assert_eq!(v.proxy.replicas, 3);
        assert_eq!(
            note(&imported, "proxy.minReplicas").kind,
            NoteKind::NoEquivalent
        );
        assert!(note(&imported, "backup").message.contains("WAL-G"));
        assert!(
            note(&imported, "config.credentialsSecretName")
                .message
                .contains("cpln secret reveal my-postgres-ha-credentials")
        );
        assert_eq!(note(&imported, "image").kind, NoteKind::Mapped);
        assert!(!imported.password_carried);
        // Every note is a comment in the file, above its key or in the closing section.
        for n in &imported.notes {
            assert!(
                imported.yaml.contains(&format!("# import: {} (", n.key)),
                "{}",
                n.key
            );
        }
        let at = |s: &str| imported.yaml.find(s).unwrap_or_else(|| panic!("{s}"));
        assert!(at("# import: resources.maxCpu") < at("  cpu: \"1\""));
        assert!(at("\nresources:") < at("\netcd:") && at("\netcd:") < at("\nproxy:"));
    }

    #[test]
    fn default_and_weak_passwords_are_left_out_and_strong_ones_kept() {
        for weak in [
            "password",
            "changeme",
            "<password>",
            "replace-me-please",
            "app",
            "short1",
        ] {
            let text = format!(
                "postgres: {{username: app, password: {}, database: db}}\n",
                quoted(weak)
            );
            let imported = import(&text);
            assert!(!imported.password_carried, "{weak}");
            assert!(values(&imported).postgres.password == "password", "{weak}");
            assert_eq!(note(&imported, "postgres.password").kind, NoteKind::Changed);
            assert!(
                !imported
                    .yaml
                    .contains(&format!("password: {}", quoted(weak)))
            );
        }
        let strong = "Zq7-wXr3!vLp9#tN2kB\"'\\ é";
        let imported = import(&format!("postgres: {{password: {}}}\n", quoted(strong)));
        assert!(imported.password_carried);
        assert_eq!(values(&imported).postgres.password, strong);
        assert!(imported.notes.iter().all(|n| !n.message.contains("Zq7")));
    }

    #[test]
    fn the_1x_defaults_validate() {
        let imported = import(
            "replicas: 3\nresources: {cpu: 1, memory: 2Gi}\npostgres: {username: username, password: password, database: test}\n\
             volumeset: {capacity: 10}\ninternal_access: {type: same-gvc, workloads: }\netcd: {replicas: 3}\n",
        );
        let v = values(&imported);
        assert_eq!(imported.layout, "1.x layout");
        assert_eq!(
            (v.postgres.username.as_str(), v.postgres.database.as_str()),
            ("username", "test")
        );
        assert!(note(&imported, "resources.cpu").message.contains("string"));
        // The template had no etcd compaction before 2.4.2: the header says so.
        assert!(
            imported.yaml.contains("no etcd compaction"),
            "{}",
            imported.yaml
        );
        assert!(!import(V2).yaml.contains("no etcd compaction"));
    }

    #[test]
    fn out_of_range_values_are_changed_not_refused() {
        let imported = import(
            "replicas: 9\netcd: {replicas: 4, tuning: {autoCompactionMode: revision, autoCompactionRetention: 1h}}\n\
             volumeset: {capacity: 5}\ninternal_access: {type: workload-list, workloads: ['//gvc/G/workload/W', 7]}\n\
             resources: {cpu: 100m, memory: 8Gi}\npostgres: {username: postgres}\n",
        );
        let v = values(&imported);
        assert_eq!(v.replicas, 6);
        assert_eq!(v.etcd.replicas, 3);
        assert_eq!(v.volumeset.capacity, 10);
        assert_eq!(v.etcd.compaction.retention, "1h");
        assert_eq!(
            v.internal_access.access_type,
            crate::values::AccessType::SameGvc
        );
        // 8Gi on 100m breaks the memory/CPU ratio: the final check leaves one out.
        assert_eq!(note(&imported, "resources.memory").kind, NoteKind::Changed);
        // `postgres` is the superuser's name: refused, so the default applies.
        assert_eq!(note(&imported, "postgres.username").kind, NoteKind::Changed);
        assert_eq!(v.postgres.username, "username");
    }

    #[test]
    fn unknown_keys_are_named_and_our_own_keys_pointed_out() {
        let imported = import("foo: {bar: 1}\netcd: {weird: x}\npatroni: {}\n");
        assert_eq!(note(&imported, "foo").kind, NoteKind::NoEquivalent);
        assert_eq!(note(&imported, "etcd.weird").kind, NoteKind::NoEquivalent);
        assert!(note(&imported, "patroni").message.contains("validate"));
        values(&imported);
        // Odd key names stay on one comment line.
        let imported = import("\"a\\nb: c\": 1\n");
        assert!(
            imported.yaml.contains("# import: \"a\\nb: c\""),
            "{}",
            imported.yaml
        );
        values(&imported);
    }

    #[test]
    fn bad_input_is_an_error_with_a_position() {
        let error = import_template(b"a: [1, 2\n").unwrap_err();
        assert!(error.message.starts_with("line "), "{}", error.message);
        let error = import_template(b"- a\n- b\n").unwrap_err();
        assert!(error.message.contains("not a mapping"), "{}", error.message);
        let error = import_template(&vec![b'a'; crate::MAX_BYTES + 1]).unwrap_err();
        assert!(error.message.contains("1 MiB"), "{}", error.message);
        assert!(import_template(b"").is_err());
        assert!(import_template(&[0xff, 0xfe]).is_err());
        // The error never shows the password.
        let error = import_template(b"postgres: {password: Hunter2Secret, x: [}\n").unwrap_err();
        assert!(!error.message.contains("Hunter2Secret"));
        assert!(!error.checked.display_source.contains("Hunter2Secret"));
    }

    #[test]
    fn scalars_read_back_exactly() {
        for s in [
            "plain",
            "1",
            "true",
            "a: b",
            "# x",
            "-x",
            "é\u{7f}\u{85}\u{feff}\u{1}\t\n\"\\",
            "😀",
            "",
            " x ",
            "null",
            "0x1f",
            "1e3",
            "//gvc/a/workload/b",
        ] {
            let text = format!("k: {}\n", scalar(&Value::from(s)));
            let mut reporter = Reporter::new(&text);
            let doc = yaml::parse(&text, &mut reporter).document.expect("parses");
            assert_eq!(doc.value["k"], Value::from(s), "{text}");
        }
    }

    #[test]
    fn comments_wrap_and_stay_comments() {
        let mut text = String::new();
        comment(
            &mut text,
            "  ",
            2,
            &format!("{} end\nnext", "word ".repeat(40)),
        );
        assert!(
            text.lines()
                .all(|l| l.trim_start().starts_with('#') && l.chars().count() <= WIDTH)
        );
        assert!(text.contains("end\\nnext"));
    }
}
