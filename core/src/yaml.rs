//! YAML text → JSON value, keeping the byte span of every key and value.
//!
//! Built on saphyr-parser's event stream rather than a ready-made tree so that the
//! limits (depth, alias expansion) are enforced while parsing, duplicate keys are
//! caught, and nothing is ever expanded before it is counted.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan, Tag};
use serde_json::{Map, Number, Value};

use crate::codes::Code;
use crate::diagnostic::{Reporter, Span};
use crate::secrets::{SecretFacts, Secrets, is_secret_key, looks_like_secret_assignment};

/// Largest values file accepted, in bytes.
pub const MAX_BYTES: usize = 1 << 20;
/// Deepest nesting of mappings and lists accepted.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes that aliases may add in all.
pub(crate) const MAX_ALIAS_NODES: usize = 10_000;
/// Most keys, values and list items a file may write. A values file has a few
/// hundred; the limit keeps every later stage (schema, rules, reports) small.
pub(crate) const MAX_NODES: usize = 10_000;

/// Where a node sits in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeSpan {
    /// The key that introduces the node, for mapping entries.
    pub key: Option<Span>,
    /// The node itself (for containers, from its first to its last token).
    pub value: Span,
    /// Whether the node is a scalar (diagnostics then point at the value, not the key).
    pub scalar: bool,
}

/// `text` with the plain or quoted scalar at `pointer` replaced by `new`, written as
/// a double-quoted scalar (JSON's escapes are YAML's). `None` when the pointer is not
/// a scalar written in one line of the file (an alias, a block scalar, a default):
/// callers then leave the file alone. Comments and layout stay as they were.
#[must_use]
pub fn replace_scalar(text: &str, pointer: &str, new: &str) -> Option<String> {
    let mut reporter = Reporter::new(text);
    let parsed = parse(text, &mut reporter);
    let node = parsed.document?.node(pointer)?;
    if !node.scalar {
        return None;
    }
    let (start, end) = (node.value.start as usize, node.value.end as usize);
    let old = text.get(start..end)?;
    if old.contains('\n') || old.starts_with(['*', '&', '|', '>', '!']) {
        return None;
    }
    // A secret's span runs to the end of its line (to hide a comment there): keep
    // the comment, replace only the scalar.
    let end = start + scalar_length(old)?;
    let quoted = serde_json::to_string(new).ok()?;
    Some(format!("{}{quoted}{}", &text[..start], &text[end..]))
}

/// The length of the one-line scalar `text` starts with: a quoted one to its closing
/// quote, a plain one up to a comment.
fn scalar_length(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    match bytes.first()? {
        b'\'' => {
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return Some(i + 1);
                }
                i += 1;
            }
            None
        }
        b'"' => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => return Some(i + 1),
                    _ => i += 1,
                }
            }
            None
        }
        _ => {
            let plain = text.find(" #").map_or(text, |cut| &text[..cut]);
            let plain = plain.find(['\t']).map_or(plain, |cut| &plain[..cut]);
            Some(plain.trim_end().len())
        }
    }
}

/// A parsed values document: the JSON value and a JSON pointer → span table.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub value: Value,
    nodes: HashMap<String, NodeSpan>,
    /// The secret values written in the file, to keep them out of messages.
    pub secrets: Secrets,
}

impl Document {
    /// The node at exactly this JSON pointer, if it is written in the file.
    #[must_use]
    pub(crate) fn node(&self, pointer: &str) -> Option<NodeSpan> {
        self.nodes.get(pointer).copied()
    }

    /// The span a diagnostic about `pointer` should underline: the value of a
    /// scalar, the key of a container, or the nearest written ancestor for values
    /// that come from defaults.
    #[must_use]
    pub(crate) fn span_of(&self, pointer: &str) -> Span {
        let mut pointer = pointer;
        loop {
            if let Some(node) = self.node(pointer) {
                return match node.key {
                    Some(key) if !node.scalar => key,
                    _ => node.value,
                };
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return Span::new(0, 0),
            }
        }
    }

    /// The key span of a mapping entry, falling back to [`Document::span_of`].
    #[must_use]
    pub(crate) fn key_span_of(&self, pointer: &str) -> Span {
        self.node(pointer)
            .and_then(|n| n.key)
            .unwrap_or_else(|| self.span_of(pointer))
    }
}

/// The outcome of parsing: a document unless parsing failed, plus what was learnt
/// about secrets (even when parsing stopped part-way).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub document: Option<Document>,
    pub secrets: SecretFacts,
}

/// Escapes one JSON-pointer segment (RFC 6901).
#[must_use]
pub(crate) fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Most YAML indicator characters (`,[]{}&*!:?`) a file may hold: four per node.
/// The scanner reads a whole flow collection that could be a key (a file written as
/// one JSON object) before it emits its first event, so the node limit alone would
/// come too late; this bound is checked before parsing and keeps that read small.
pub(crate) const MAX_INDICATORS: usize = 4 * MAX_NODES;

/// Which values of a file are secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Secrecy {
    /// Values under keys that are or resemble `password` (a values file).
    SecretKeys,
    /// Every value; keys stay visible (a credentials file).
    AllValues,
}

/// Parses a values file, reporting problems to `reporter`.
pub(crate) fn parse(text: &str, reporter: &mut Reporter<'_>) -> Parsed {
    parse_with(text, reporter, Secrecy::SecretKeys)
}

/// Parses `text` with the given notion of what is secret.
pub(crate) fn parse_with(text: &str, reporter: &mut Reporter<'_>, secrecy: Secrecy) -> Parsed {
    if let Some((at, _)) = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| b",[]{}&*!:?".contains(b))
        .nth(MAX_INDICATORS)
    {
        reporter.report(
            Code::TooManyNodes,
            "",
            Span::new(at, at + 1),
            format!(
                "the file holds more than {MAX_INDICATORS} YAML indicators (`,` `[` `{{` `:` `&` …): \
                 more than its {MAX_NODES} keys, values and list items could need"
            ),
            Some("a values file needs a few hundred at most; pass the values file itself".into()),
        );
        return Parsed {
            document: None,
            secrets: SecretFacts {
                unproven_from: Some(0),
                ..SecretFacts::default()
            },
        };
    }
    let mut builder = Builder::new(text, secrecy);
    let outcome = builder.run(reporter);
    if outcome.is_err() {
        builder.facts.unproven_from = Some(builder.proven_to);
        builder.facts.failed_in_secret = builder.in_secret();
        // An alias after the failure could have used any anchor read before it as a
        // password: every anchored node is a secret now.
        let mut spans = Vec::new();
        let mut values = Vec::new();
        for anchored in builder.anchors.values() {
            spans.extend_from_slice(&anchored.spans);
            collect_strings(&anchored.value, &mut values);
        }
        for frame in builder.stack.iter().filter(|f| f.anchor != 0) {
            spans.extend_from_slice(&builder.facts.scalars[frame.scalars_from..]);
            spans.extend_from_slice(&frame.aliased_spans);
        }
        builder.facts.spans.extend(spans);
        builder.facts.values.extend(values);
    }
    let document = match (outcome, builder.root.take()) {
        (Err(()), _) => None,
        (Ok(()), None | Some(Value::Null)) => {
            reporter.report(
                Code::EmptyDocument,
                "",
                Span::new(0, 0),
                "the file holds no values",
                Some("write the values to deploy; `{}` accepts every default".into()),
            );
            None
        }
        (Ok(()), Some(value)) if !value.is_object() => {
            let span = builder.nodes.get("").map_or(Span::new(0, 0), |n| n.value);
            reporter.report(
                Code::RootNotMapping,
                "",
                span,
                format!(
                    "the document is {}, not a mapping of keys to values",
                    type_phrase(&value)
                ),
                None,
            );
            None
        }
        (Ok(()), Some(value)) => Some(Document {
            value,
            nodes: std::mem::take(&mut builder.nodes),
            secrets: Secrets::new(builder.facts.values.iter().cloned()),
        }),
    };
    Parsed {
        document,
        secrets: builder.facts,
    }
}

/// "a list", "a string", … for messages.
#[must_use]
pub(crate) fn type_phrase(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Converts the parser's character offsets to byte offsets.
struct Offsets {
    /// Byte offset of each character; empty when the text is ASCII (identity).
    bytes: Vec<u32>,
    len: usize,
}

impl Offsets {
    fn new(text: &str) -> Self {
        let bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i as u32)
                .chain(std::iter::once(text.len() as u32))
                .collect()
        };
        Self {
            bytes,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            char_index.min(self.len)
        } else {
            self.bytes.get(char_index).map_or(self.len, |&b| b as usize)
        }
    }

    fn span(&self, span: YamlSpan) -> Span {
        Span::new(self.byte(span.start.index()), self.byte(span.end.index()))
    }
}

enum Container {
    Seq(Vec<Value>),
    Map {
        map: Map<String, Value>,
        /// The key read and waiting for its value, with its span.
        key: Option<(String, Span)>,
        /// Spans of keys already present, to point at the first of a duplicate.
        key_spans: HashMap<String, Span>,
    },
}

struct Frame {
    container: Container,
    pointer: String,
    start: usize,
    anchor: usize,
    /// Depth of the deepest node below this one, counting aliased content.
    depth_below: usize,
    /// Inside a secret value: every scalar below is a secret.
    secret: bool,
    /// Index of this container's first scalar in the facts' scalar list.
    scalars_from: usize,
    /// Scalar spans that aliases inside this container brought in.
    aliased_spans: Vec<Span>,
}

/// An anchored node: its value, how many nodes it holds, how deep it is, and the
/// source spans of its scalars (so an alias used as a secret hides its anchor too).
struct Anchored {
    value: Value,
    nodes: usize,
    depth: usize,
    spans: Vec<Span>,
}

struct Builder<'t> {
    text: &'t str,
    offsets: Offsets,
    stack: Vec<Frame>,
    root: Option<Value>,
    nodes: HashMap<String, NodeSpan>,
    anchors: HashMap<usize, Anchored>,
    alias_nodes: usize,
    facts: SecretFacts,
    secrecy: Secrecy,
    /// Keys, scalars, containers and aliases read so far.
    nodes_read: usize,
    /// End of the last event read without error: text after it is unproven.
    proven_to: usize,
    documents: usize,
}

type Step = Result<(), ()>;

impl<'t> Builder<'t> {
    fn new(text: &'t str, secrecy: Secrecy) -> Self {
        Self {
            text,
            offsets: Offsets::new(text),
            stack: Vec::new(),
            root: None,
            nodes: HashMap::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            facts: SecretFacts::default(),
            secrecy,
            nodes_read: 0,
            proven_to: 0,
            documents: 0,
        }
    }

    fn run(&mut self, reporter: &mut Reporter<'_>) -> Step {
        for event in Parser::new_from_str(self.text) {
            match event {
                Ok((event, span)) => {
                    let span = self.offsets.span(span);
                    self.event(event, span, reporter)?;
                    self.proven_to = self.proven_to.max(span.end as usize);
                }
                Err(error) => {
                    let at = self.offsets.byte(error.marker().index());
                    let end = self.text[at..]
                        .chars()
                        .next()
                        .map_or(at, |c| at + c.len_utf8());
                    // The scanner caps flow nesting itself; that is the depth limit too.
                    let code = if error.info().contains("recursion limit") {
                        Code::TooDeep
                    } else {
                        Code::YamlSyntax
                    };
                    reporter.report(
                        code,
                        &self.current_pointer(),
                        Span::new(at, end),
                        format!("invalid YAML: {}", error.info()),
                        None,
                    );
                    return Err(());
                }
            }
        }
        Ok(())
    }

    /// Whether the node about to be read is (inside) a secret value.
    fn in_secret(&self) -> bool {
        self.stack.last().is_some_and(|frame| {
            self.secrecy == Secrecy::AllValues
                || frame.secret
                || matches!(&frame.container, Container::Map { key: Some((k, _)), .. } if is_secret_key(k))
        })
    }

    /// Pointer of the node being read, for diagnostics raised mid-parse.
    fn current_pointer(&self) -> String {
        self.stack
            .last()
            .map(|f| f.pointer.clone())
            .unwrap_or_default()
    }

    fn event(&mut self, event: Event<'_>, span: Span, reporter: &mut Reporter<'_>) -> Step {
        if matches!(
            event,
            Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
                | Event::Alias(_)
        ) {
            self.nodes_read += 1;
            if self.nodes_read > MAX_NODES {
                reporter.report(
                    Code::TooManyNodes,
                    &self.child_pointer(),
                    span,
                    format!("the file writes more than {MAX_NODES} keys, values and list items"),
                    Some(
                        "a values file needs a few hundred at most; pass the values file itself"
                            .into(),
                    ),
                );
                return Err(());
            }
        }
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    reporter.report(
                        Code::MultipleDocuments,
                        "",
                        span,
                        "a second YAML document starts here; a values file holds one",
                        Some("split the documents into separate files".into()),
                    );
                    return Err(());
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.facts.scalars.push(span);
                // `password:hunter2` (no space) is one string to YAML: no key and
                // value, but still a password written out.
                let assignment = looks_like_secret_assignment(&text);
                if self.awaiting_key() {
                    if assignment || self.stack.last().is_some_and(|f| f.secret) {
                        self.facts.spans.push(span);
                        self.facts.values.push(text.to_string());
                    }
                    self.facts.keys.push(span);
                    return self.key(text.into_owned(), span, reporter);
                }
                let secret = assignment || self.in_secret();
                if secret {
                    self.facts.spans.push(span);
                    self.facts.values.push(text.to_string());
                }
                let value = resolve_scalar(&text, style, tag.as_deref()).map_err(|message| {
                    reporter.report(
                        Code::UnsupportedTag,
                        &self.child_pointer(),
                        span,
                        message,
                        None,
                    );
                })?;
                if secret && matches!(value, Value::Number(_) | Value::Bool(_)) {
                    // Messages quote numbers as JSON writes them (`012` → `12`).
                    self.facts.values.push(value.to_string());
                }
                let spans = if anchor == 0 { Vec::new() } else { vec![span] };
                self.complete(value, span, (anchor, spans), 1, 0, true);
                Ok(())
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.awaiting_key() {
                    return self.complex_key(span, reporter);
                }
                if self.stack.len() >= MAX_DEPTH {
                    reporter.report(
                        Code::TooDeep,
                        &self.current_pointer(),
                        span,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        None,
                    );
                    return Err(());
                }
                let container = if matches!(event, Event::SequenceStart(..)) {
                    Container::Seq(Vec::new())
                } else {
                    Container::Map {
                        map: Map::new(),
                        key: None,
                        key_spans: HashMap::new(),
                    }
                };
                self.stack.push(Frame {
                    container,
                    pointer: self.child_pointer(),
                    start: span.start as usize,
                    anchor,
                    depth_below: 0,
                    secret: self.in_secret(),
                    scalars_from: self.facts.scalars.len(),
                    aliased_spans: Vec::new(),
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let value = match frame.container {
                    Container::Seq(items) => Value::Array(items),
                    Container::Map { map, .. } => Value::Object(map),
                };
                let nodes = count_nodes(&value);
                let end = (span.end as usize).max(frame.start);
                if let Some(parent) = self.stack.last_mut() {
                    parent.aliased_spans.extend_from_slice(&frame.aliased_spans);
                }
                let spans = if frame.anchor == 0 {
                    Vec::new()
                } else {
                    let mut spans = self.facts.scalars[frame.scalars_from..].to_vec();
                    spans.extend_from_slice(&frame.aliased_spans);
                    spans
                };
                self.complete(
                    value,
                    Span::new(frame.start, end),
                    (frame.anchor, spans),
                    nodes,
                    frame.depth_below + 1,
                    false,
                );
                Ok(())
            }
            Event::Alias(id) => {
                if self.awaiting_key() {
                    return self.complex_key(span, reporter);
                }
                let Some(anchored) = self.anchors.get(&id) else {
                    // The parser rejects unknown anchors, so this alias points into a
                    // node still being read: a recursive structure JSON cannot hold.
                    reporter.report(
                        Code::YamlSyntax,
                        &self.child_pointer(),
                        span,
                        "invalid YAML: this alias refers to a node that contains it",
                        Some("recursive aliases are not supported; write the value out".into()),
                    );
                    return Err(());
                };
                self.alias_nodes += anchored.nodes;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    reporter.report(
                        Code::AliasExpansion,
                        &self.child_pointer(),
                        span,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                        Some("write the values out instead of nesting aliases".into()),
                    );
                    return Err(());
                }
                if self.stack.len() + anchored.depth > MAX_DEPTH {
                    reporter.report(
                        Code::TooDeep,
                        &self.child_pointer(),
                        span,
                        format!("this alias nests values deeper than {MAX_DEPTH} levels"),
                        None,
                    );
                    return Err(());
                }
                let (value, nodes, depth) =
                    (anchored.value.clone(), anchored.nodes, anchored.depth);
                let spans = anchored.spans.clone();
                if self.in_secret() {
                    // An alias used as a secret: its anchor's text is a secret too.
                    self.facts.spans.extend_from_slice(&spans);
                    collect_strings(&value, &mut self.facts.values);
                }
                if let Some(parent) = self.stack.last_mut() {
                    parent.aliased_spans.extend_from_slice(&spans);
                }
                self.complete(value, span, (0, Vec::new()), nodes, depth, false);
                Ok(())
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        }
    }

    fn awaiting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                container: Container::Map { key: None, .. },
                ..
            })
        )
    }

    fn complex_key(&self, span: Span, reporter: &mut Reporter<'_>) -> Step {
        reporter.report(
            Code::ComplexKey,
            &self.current_pointer(),
            span,
            "a list, mapping or alias is used as a key",
            Some("use a plain name as the key".into()),
        );
        Err(())
    }

    fn key(&mut self, key: String, span: Span, reporter: &mut Reporter<'_>) -> Step {
        let Some(Frame {
            container:
                Container::Map {
                    key: slot,
                    key_spans,
                    ..
                },
            pointer,
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if let Some(first) = key_spans.get(&key) {
            let line = self.text[..first.start as usize].matches('\n').count() + 1;
            reporter.report(
                Code::DuplicateKey,
                &format!("{pointer}/{}", escape_segment(&key)),
                span,
                format!("duplicate key `{key}`"),
                Some(format!(
                    "`{key}` is first set on line {line}; keep one of the two"
                )),
            );
            return Err(());
        }
        key_spans.insert(key.clone(), span);
        *slot = Some((key, span));
        Ok(())
    }

    /// Pointer of the node about to be completed under the current container.
    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(frame) => match &frame.container {
                Container::Seq(items) => format!("{}/{}", frame.pointer, items.len()),
                Container::Map { key, .. } => format!(
                    "{}/{}",
                    frame.pointer,
                    key.as_ref()
                        .map_or(String::new(), |(k, _)| escape_segment(k))
                ),
            },
        }
    }

    /// Stores a finished node in its parent (or as the root).
    fn complete(
        &mut self,
        value: Value,
        span: Span,
        (anchor, spans): (usize, Vec<Span>),
        nodes: usize,
        depth: usize,
        scalar: bool,
    ) {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    value: value.clone(),
                    nodes,
                    depth,
                    spans,
                },
            );
        }
        let pointer = self.child_pointer();
        let mut key_span = None;
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(parent) => {
                parent.depth_below = parent.depth_below.max(depth);
                match &mut parent.container {
                    Container::Seq(items) => items.push(value),
                    Container::Map { map, key, .. } => {
                        let Some((key, span_of_key)) = key.take() else {
                            return;
                        };
                        key_span = Some(span_of_key);
                        map.insert(key, value);
                    }
                }
            }
        }
        self.nodes.insert(
            pointer,
            NodeSpan {
                key: key_span,
                value: span,
                scalar,
            },
        );
    }
}

/// Every key and scalar of `value` as text (numbers and booleans as JSON writes them).
fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => {
            for (key, value) in map {
                out.push(key.clone());
                collect_strings(value, out);
            }
        }
        other => out.push(other.to_string()),
    }
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Resolves a scalar per the YAML 1.2 core schema. Quoted and block scalars are
/// strings; `!!str`, `!!int`, `!!float`, `!!bool` and `!!null` are honoured.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if !tag.is_yaml_core_schema() {
            return Err(format!("tag `{tag}` is not supported"));
        }
        let plain = resolve_plain(text);
        let fits = match tag.suffix.as_str() {
            "str" => return Ok(Value::String(text.to_owned())),
            "int" => plain.is_i64() || plain.is_u64(),
            "float" => plain.is_number(),
            "bool" => plain.is_boolean(),
            "null" => plain.is_null(),
            other => return Err(format!("tag `!!{other}` is not supported")),
        };
        return if fits {
            Ok(plain)
        } else {
            Err(format!("the value does not fit its tag `!!{}`", tag.suffix))
        };
    }
    Ok(match style {
        ScalarStyle::Plain => resolve_plain(text),
        _ => Value::String(text.to_owned()),
    })
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8)] {
        if let Some(digits) = text.strip_prefix(prefix)
            && let Ok(n) = u64::from_str_radix(digits, radix)
        {
            return Value::Number(n.into());
        }
    }
    if looks_like_float(unsigned)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

/// `1.5`, `.5`, `1e3`, `1.5E-3`: the core schema's float form (no `inf`/`nan`,
/// which JSON cannot hold; those stay strings).
fn looks_like_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())
}

#[cfg(test)]
mod replace_tests {
    use super::replace_scalar;

    #[test]
    fn a_scalar_is_replaced_in_place() {
        let text = "postgres:\n  password: 'old pw' # keep me\n  username: app\n";
        assert_eq!(
            replace_scalar(text, "/postgres/password", "n\"ew").unwrap(),
            "postgres:\n  password: \"n\\\"ew\" # keep me\n  username: app\n"
        );
        assert_eq!(
            replace_scalar("postgres: {password: x}", "/postgres/password", "y").unwrap(),
            "postgres: {password: \"y\"}"
        );
        assert!(
            replace_scalar(
                "a: &p x\npostgres:\n  password: *p\n",
                "/postgres/password",
                "y"
            )
            .is_none()
        );
        assert!(
            replace_scalar(
                "postgres:\n  password: |\n    x\n",
                "/postgres/password",
                "y"
            )
            .is_none()
        );
        assert!(replace_scalar("postgres: {}\n", "/postgres/password", "y").is_none());
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    fn parse_ok(text: &str) -> Document {
        let mut reporter = Reporter::new(text);
        let parsed = parse(text, &mut reporter);
        assert!(!reporter.has_errors(), "{:?}", reporter.finish());
        parsed.document.unwrap()
    }

    fn parse_err(text: &str) -> Code {
        let mut reporter = Reporter::new(text);
        let parsed = parse(text, &mut reporter);
        assert!(parsed.document.is_none());
        reporter.finish()[0].code
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let doc = parse_ok("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: on\ng: 0x1f\nh: -3\ni: .inf\n");
        assert_eq!(
            doc.value,
            serde_json::json!({"a":1,"b":"1","c":true,"d":null,"e":1.5,"f":"on","g":31,"h":-3,"i":".inf"})
        );
    }

    #[test]
    fn records_byte_spans_for_keys_and_values() {
        let text = "name: é\nlist:\n  - x\n  - yy\n";
        let doc = parse_ok(text);
        let node = doc.node("/name").unwrap();
        assert_eq!(&text[node.key.unwrap().range()], "name");
        assert_eq!(&text[node.value.range()], "é");
        assert_eq!(&text[doc.node("/list/1").unwrap().value.range()], "yy");
        assert_eq!(&text[doc.span_of("/list").range()], "list");
        // Absent pointers fall back to the nearest ancestor.
        assert_eq!(&text[doc.span_of("/list/1/deeper").range()], "yy");
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(parse_err("a: 1\na: 2\n"), Code::DuplicateKey);
        assert_eq!(parse_err("a: 1\n---\nb: 2\n"), Code::MultipleDocuments);
        assert_eq!(parse_err("? [a]\n: 1\n"), Code::ComplexKey);
        assert_eq!(parse_err("- a\n"), Code::RootNotMapping);
        assert_eq!(parse_err("# nothing\n"), Code::EmptyDocument);
        assert_eq!(parse_err("a: !!binary aGk=\n"), Code::UnsupportedTag);
        assert_eq!(parse_err("a: !!int x\n"), Code::UnsupportedTag);
        assert_eq!(parse_err("a: [1, 2\n"), Code::YamlSyntax);
        assert_eq!(parse_err("a: &a [1, *a]\n"), Code::YamlSyntax);
        assert_eq!(parse_err("a: *unknown\n"), Code::YamlSyntax);
        assert_eq!(parse_err(&"[".repeat(10_000)), Code::TooDeep);
        let block: String = (0..200).fold(String::new(), |mut s, i| {
            s.push_str(&" ".repeat(i));
            s.push_str("k:\n");
            s
        });
        assert_eq!(parse_err(&block), Code::TooDeep);
    }

    #[test]
    fn bounds_alias_expansion() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            let items = vec![prev; 10].join(", ");
            writeln!(text, "a{i}: &a{i} [{items}]").unwrap();
        }
        assert_eq!(parse_err(&text), Code::AliasExpansion);
        // A modest alias is fine and expands.
        let doc = parse_ok("base: &b {cpu: 1}\ncopy: *b\n");
        assert_eq!(doc.value["copy"], serde_json::json!({"cpu": 1}));
    }

    #[test]
    fn remembers_secret_spans_even_after_an_error() {
        let text = "postgres:\n  password: s3cr3t\n  bad: [\n";
        let mut reporter = Reporter::new(text);
        let parsed = parse(text, &mut reporter);
        assert!(parsed.document.is_none());
        assert_eq!(&text[parsed.secrets.spans[0].range()], "s3cr3t");
        assert_eq!(parsed.secrets.unproven_from, Some(text.len() - 1));
    }

    #[test]
    fn aliases_of_secrets_are_secrets_both_ways() {
        let text = "x: &pw S3cret
y: &list [a, *pw]
postgres: {password: *list}
";
        let mut reporter = Reporter::new(text);
        let parsed = parse(text, &mut reporter);
        let hidden: Vec<&str> = parsed
            .secrets
            .spans
            .iter()
            .map(|s| &text[s.range()])
            .collect();
        assert!(
            hidden.iter().any(|h| h.ends_with("S3cret")) && hidden.contains(&"a"),
            "{hidden:?}"
        );
        assert!(parsed.secrets.values.contains(&"S3cret".to_owned()));
        // Anchored at the password and used elsewhere: the value is known as secret.
        let text = "postgres: {password: &pw S3cret}
internal_access: {type: *pw}
";
        let parsed = parse(text, &mut Reporter::new(text));
        assert!(parsed.document.unwrap().secrets.is_secret("S3cret"));
    }
}
