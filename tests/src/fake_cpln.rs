//! A fake of the Control Plane REST API, the one stand-in for the real service (which
//! tests cannot reach). It follows the platform's documented behaviour: `PUT` on a
//! collection upserts, `PATCH` merges with directive keys, workloads and volume sets
//! disappear only after a delay, deployments wedge on a missing secret, and errors
//! carry the API's JSON body. Faults (rate limits, 503s, dropped connections, some
//! after the change was applied) test a client's retries and idempotency.
//!
//! The HTTP/1.1 server is a plain socket loop with `httparse` for request heads, not
//! `tiny_http`: a dropped-connection fault must close the socket without a status
//! line (`tiny_http` answers 500 for a request dropped unanswered), and every server
//! thread must be joined on stop.

// Test helpers: every result is used by a test, and failing loudly is their job.
#![allow(clippy::must_use_candidate)]

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

/// Larger request bodies get 413.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// An oversized body up to this size is read and discarded so the client sees the
/// 413 rather than a reset; a larger one gets the connection closed.
const MAX_DRAIN: usize = 16 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;
const MAX_CONNECTIONS: usize = 64;
/// How often blocked reads and held requests look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A keep-alive connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(60);
/// A request must arrive whole within this.
const REQUEST_TIME: Duration = Duration::from_secs(30);
/// Replica names are listed for at most this many replicas.
const MAX_REPLICAS: u64 = 100;

const ORG_KINDS: [&str; 2] = ["secret", "policy"];
const GVC_KINDS: [&str; 3] = ["identity", "volumeset", "workload"];
/// Fields the API owns: ignored in request bodies, not part of a change.
const BOOKKEEPING: [&str; 6] = [
    "id",
    "version",
    "created",
    "lastModified",
    "links",
    "status",
];

/// How the fake is set up. `Default` gives one org with one GVC in one location.
#[derive(Clone, Debug)]
pub struct Options {
    /// The bearer token accepted.
    pub token: String,
    pub org: String,
    /// The GVCs that exist.
    pub gvcs: Vec<String>,
    /// Each GVC's locations: one deployment per location.
    pub locations: Vec<String>,
    /// How long after a workload version is written it becomes ready.
    pub ready_after: Duration,
    /// How long a deleted workload or volume set stays visible.
    pub deletion_delay: Duration,
    /// The org's replicas-per-workload quota.
    pub replicas_per_workload: u64,
    /// The share of requests (after auth) that fail, from 0.0 to 1.0.
    pub faults: f64,
    /// Seeds the fault choices, so a run is repeatable.
    pub seed: u64,
    /// The URL put in deployments' `status.remote`; `None` for the fake's own.
    pub remote: Option<String>,
    /// The server stops on its own after this, so a leaked fake ends.
    pub lifetime: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: "fake-cpln-token".to_owned(),
            org: "test-org".to_owned(),
            gvcs: vec!["test-gvc".to_owned()],
            locations: vec!["aws-us-east-2".to_owned()],
            ready_after: Duration::from_millis(300),
            deletion_delay: Duration::from_millis(500),
            replicas_per_workload: 5,
            faults: 0.0,
            seed: 1,
            remote: None,
            lifetime: Duration::from_secs(20 * 60),
        }
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// Whether an injected fault decided the outcome.
    pub faulted: bool,
    /// Whether the request changed state (even if its answer was then lost).
    pub applied: bool,
}

/// A running fake; dropping it stops the server and joins its threads.
pub struct FakeCpln {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeCpln {
    /// Starts the server on a random loopback port.
    pub fn start(options: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("a bound address").port();
        let url = format!("http://127.0.0.1:{port}");
        let remote = options.remote.clone().unwrap_or_else(|| url.clone());
        let state = State {
            entries: BTreeMap::new(),
            log: Vec::new(),
            mutations: 0,
            faults: clamp_rate(options.faults),
            rng: XorShift::new(options.seed),
            replica_names: HashMap::new(),
            commands: Vec::new(),
            hold_at: None,
            held: 0,
        };
        let shared = Arc::new(Shared {
            deadline: Instant::now().checked_add(options.lifetime),
            ids: AtomicU64::new(options.seed ^ 0x05EE_D1D5),
            options,
            url,
            remote,
            state: Mutex::new(state),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fake-cpln-accept".to_owned())
                .spawn(move || accept_loop(&shared, &listener))
                .expect("a thread")
        };
        Self {
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The org the fake serves.
    pub fn org(&self) -> &str {
        &self.shared.options.org
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.shared.options.token
    }

    /// Stops the server and joins its threads (as dropping it does).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }

    /// Every request answered (or dropped) so far, in order of completion.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.lock().log.clone()
    }

    /// How many requests changed state.
    pub fn mutations(&self) -> usize {
        self.shared.lock().mutations
    }

    /// The stored object of `kind` named `name` (in any GVC), secrets with `data`.
    /// A workload or volume set being deleted is still there until its delay ends.
    pub fn object(&self, kind: &str, name: &str) -> Option<Value> {
        let mut state = self.shared.lock();
        state.purge(Instant::now());
        state
            .entries
            .iter()
            .find(|(key, _)| key.kind == kind && key.name == name)
            .map(|(_, entry)| entry.object.clone())
    }

    /// Seeds an object as if it had been applied long ago: bookkeeping and defaults are
    /// added, nothing is validated, logged or counted, and a seeded workload's version
    /// is ready at once (when its secrets exist).
    pub fn insert(&self, kind: &str, gvc: Option<&str>, object: Value) {
        let Value::Object(mut object) = object else {
            panic!("insert takes a JSON object, not {object}");
        };
        let in_gvc = GVC_KINDS.contains(&kind);
        assert!(
            in_gvc || ORG_KINDS.contains(&kind),
            "the fake has no kind {kind:?}"
        );
        assert_eq!(in_gvc, gvc.is_some(), "{kind} is GVC-scoped: {in_gvc}");
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .expect("the object has a name")
            .to_owned();
        let version = object.get("version").and_then(Value::as_u64).unwrap_or(1);
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| self.shared.uuid(), str::to_owned);
        object.remove("gvc");
        object.insert("kind".to_owned(), json!(kind));
        for field in BOOKKEEPING {
            object.remove(field);
        }
        let _ = normalize(kind, &mut object);
        let key = Key {
            kind: kind.to_owned(),
            gvc: gvc.map(str::to_owned),
            name,
        };
        let now = Instant::now();
        let long_ago = now
            .checked_sub(self.shared.options.ready_after)
            .unwrap_or(now);
        let stamp = timestamp();
        let stored = self
            .shared
            .stored(&key, object, &id, version, &stamp, &stamp);
        let mut state = self.shared.lock();
        let mut entry = Entry {
            object: Value::Object(stored),
            created: long_ago,
            deleting_at: None,
            versions: Vec::new(),
            was_ready: false,
        };
        if kind == "workload" {
            entry
                .versions
                .push(Deployed::of(&entry.object, version, long_ago));
        }
        state.entries.insert(key, entry);
    }

    /// Changes the fault rate from now on.
    pub fn set_faults(&self, rate: f64) {
        self.shared.lock().faults = clamp_rate(rate);
    }

    /// Once `n` more state-changing requests have been applied (counted from this
    /// call), every further request is held unanswered until [`Self::release`], so a
    /// test can kill a client at a known point. A held request whose client has gone
    /// by the release is dropped unapplied: the state stays as it was at the kill.
    pub fn hold_after_mutations(&self, n: usize) {
        let mut state = self.shared.lock();
        state.hold_at = Some(state.mutations.saturating_add(n));
    }

    /// Answers the held requests and stops holding.
    pub fn release(&self) {
        self.shared.lock().hold_at = None;
        self.shared.wake.notify_all();
    }

    /// Whether a request is being held now.
    pub fn held(&self) -> bool {
        self.shared.lock().held > 0
    }

    /// Names the replicas listed for `workload` (in every GVC), instead of
    /// `NAME-0 … NAME-(minScale-1)`.
    pub fn set_replica_names(&self, workload: &str, names: Vec<String>) {
        self.shared
            .lock()
            .replica_names
            .insert(workload.to_owned(), names);
    }

    /// The bodies of the commands posted (`stopReplica`, `deleteVolume` …), in order.
    pub fn commands(&self) -> Vec<Value> {
        self.shared
            .lock()
            .commands
            .iter()
            .map(|c| json!({"type": c["type"], "spec": c["spec"]}))
            .collect()
    }

    /// Every command posted, in order, as the API shows it (`id`, `lifecycleStage` …).
    pub fn commands_posted(&self) -> Vec<Value> {
        self.shared.lock().commands.clone()
    }

    /// The commands the platform has not acted on yet (`lifecycleStage` pending), as
    /// the API shows them (`id`, `type`, `spec` …).
    pub fn pending_commands(&self) -> Vec<Value> {
        self.shared
            .lock()
            .commands
            .iter()
            .filter(|c| c["lifecycleStage"] == "pending")
            .cloned()
            .collect()
    }

    /// Moves command `id` to `stage` (`running`, `completed`, `failed` …), as the
    /// platform does once it acted on it.
    pub fn finish_command(&self, id: &str, stage: &str) {
        let mut shared = self.shared.lock();
        for command in &mut shared.commands {
            if command["id"] == id {
                command["lifecycleStage"] = json!(stage);
                command["lastModified"] = json!(timestamp());
            }
        }
    }
}

impl Drop for FakeCpln {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// A tiny deterministic generator for fault choices (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        f64::from((self.next() >> 32) as u32) / 4_294_967_296.0
    }
}

/// Where an object lives: org-scoped kinds have no GVC.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind: String,
    gvc: Option<String>,
    name: String,
}

struct Entry {
    /// As stored, with bookkeeping and (for secrets) `data`.
    object: Value,
    created: Instant,
    /// When a workload or volume set being deleted disappears.
    deleting_at: Option<Instant>,
    /// A workload's last two versions, oldest first.
    versions: Vec<Deployed>,
    /// Whether a version no longer listed had become ready.
    was_ready: bool,
}

/// One version of a workload, as its deployments report it.
struct Deployed {
    version: u64,
    written: Instant,
    secrets: Vec<String>,
    containers: Vec<(String, String)>,
    /// Latched once seen ready: running replicas stay up.
    ready: bool,
}

impl Deployed {
    fn of(object: &Value, version: u64, written: Instant) -> Self {
        let containers = containers(object)
            .map(|c| {
                let field = |name: &str| c.get(name).and_then(Value::as_str).unwrap_or_default();
                (field("name").to_owned(), field("image").to_owned())
            })
            .collect();
        Self {
            version,
            written,
            secrets: secret_refs(object),
            containers,
            ready: false,
        }
    }

    /// Whether this version is ready now, and else why not when a secret is missing.
    fn check(
        &mut self,
        secrets: &HashMap<String, Instant>,
        ready_after: Duration,
        now: Instant,
    ) -> (bool, Option<String>) {
        if self.ready {
            return (true, None);
        }
        let missing: Vec<String> = self
            .secrets
            .iter()
            .filter(|s| !secrets.contains_key(*s))
            .map(|s| format!("secret \"{s}\" not found"))
            .collect();
        if !missing.is_empty() {
            return (false, Some(missing.join("; ")));
        }
        let since = self
            .secrets
            .iter()
            .filter_map(|s| secrets.get(s))
            .fold(self.written, |a, b| a.max(*b));
        self.ready = since.checked_add(ready_after).is_some_and(|at| now >= at);
        (self.ready, None)
    }
}

struct State {
    entries: BTreeMap<Key, Entry>,
    log: Vec<Logged>,
    mutations: usize,
    faults: f64,
    rng: XorShift,
    replica_names: HashMap<String, Vec<String>>,
    commands: Vec<Value>,
    /// Hold requests once `mutations` reaches this.
    hold_at: Option<usize>,
    held: usize,
}

impl State {
    /// Removes what finished being deleted.
    fn purge(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| e.deleting_at.is_none_or(|at| now < at));
    }

    fn record(&mut self, request: &Incoming, logged: (Option<u16>, bool, bool)) {
        let (status, faulted, applied) = logged;
        if applied {
            self.mutations += 1;
        }
        self.log.push(Logged {
            method: request.method.clone(),
            path: request.path.clone(),
            status,
            faulted,
            applied,
        });
    }

    /// Existing secrets and when each was created.
    fn secret_times(&self) -> HashMap<String, Instant> {
        self.entries
            .iter()
            .filter(|(key, _)| key.kind == "secret")
            .map(|(key, entry)| (key.name.clone(), entry.created))
            .collect()
    }
}

enum Fault {
    RateLimited,
    Unavailable,
    Dropped,
}

struct Shared {
    options: Options,
    url: String,
    remote: String,
    state: Mutex<State>,
    /// Wakes held requests.
    wake: Condvar,
    stop: AtomicBool,
    /// `None` when the lifetime is too long to represent: no deadline.
    deadline: Option<Instant>,
    /// Counter behind object and error ids, apart from the fault generator so ids do
    /// not change which requests fail.
    ids: AtomicU64,
}

/// An HTTP answer.
struct Reply {
    status: u16,
    body: Option<Value>,
    location: Option<String>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            location: None,
        }
    }
}

enum Outcome {
    Reply(Reply),
    /// Close the connection without answering.
    Drop,
}

/// What a handler did: its answer and whether it changed state.
type Handled = (Reply, bool);

/// A request read off a connection.
struct Incoming {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Vec<u8>,
    close: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// A uuid-shaped id.
    fn uuid(&self) -> String {
        // splitmix64 over a counter.
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let n = self.ids.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let (a, b) = (mix(n), mix(n ^ 0xA5A5_A5A5_A5A5_A5A5));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// The API's error body.
    fn error(&self, status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"status": status, "message": message, "code": code, "id": self.uuid()}),
        )
    }

    fn not_found(&self, what: &str) -> Handled {
        (
            self.error(404, "not_found", &format!("{what} not found")),
            false,
        )
    }

    /// A path under an unknown kind, or an unknown path under a known one.
    fn unknown(&self, kind: &str, path: &str) -> Handled {
        if GVC_KINDS.contains(&kind) || ORG_KINDS.contains(&kind) || kind == "gvc" {
            self.not_found(&format!("path {path}"))
        } else {
            (
                self.error(404, "not_found", &format!("unknown kind \"{kind}\"")),
                false,
            )
        }
    }

    fn invalid(&self, message: &str) -> Handled {
        (self.error(400, "invalid", message), false)
    }

    fn conflict(&self, message: &str) -> Handled {
        (self.error(409, "conflict", message), false)
    }

    fn method_not_allowed(&self, method: &str) -> Handled {
        (
            self.error(
                405,
                "method_not_allowed",
                &format!("method {method} is not allowed here"),
            ),
            false,
        )
    }

    fn authorized(&self, request: &Incoming) -> bool {
        let Some(header) = request.authorization.as_deref() else {
            return false;
        };
        let header = header.trim();
        let Some((scheme, token)) = header.split_once(char::is_whitespace) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && token.trim() == self.options.token
    }

    /// Answers one request: holds it if asked to, checks auth, injects a fault or
    /// routes it, and logs it. `gone` tells whether the client has disconnected.
    fn serve(&self, request: &Incoming, gone: &dyn Fn() -> bool) -> Outcome {
        let mut state = self.lock();
        let mut was_held = false;
        while state.hold_at.is_some_and(|at| state.mutations >= at) {
            was_held = true;
            if self.stopping() {
                state.record(request, (None, false, false));
                return Outcome::Drop;
            }
            state.held += 1;
            state = self
                .wake
                .wait_timeout(state, POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.held -= 1;
        }
        if was_held && gone() {
            state.record(request, (None, false, false));
            return Outcome::Drop;
        }
        if !self.authorized(request) {
            let reply = self.error(401, "unauthorized", "Unauthorized");
            state.record(request, (Some(401), false, false));
            return Outcome::Reply(reply);
        }
        state.purge(Instant::now());
        let fault = if state.faults > 0.0 && state.rng.unit() < state.faults {
            Some(match state.rng.next() % 3 {
                0 => Fault::RateLimited,
                1 => Fault::Unavailable,
                _ => Fault::Dropped,
            })
        } else {
            None
        };
        let (outcome, logged) = match fault {
            None => {
                let (reply, applied) = self.route(&mut state, request);
                let status = reply.status;
                (Outcome::Reply(reply), (Some(status), false, applied))
            }
            Some(Fault::RateLimited) => (
                Outcome::Reply(self.error(429, "rate_limited", "Too many requests, retry later")),
                (Some(429), true, false),
            ),
            Some(Fault::Unavailable) => (
                Outcome::Reply(self.error(503, "unavailable", "Service unavailable, retry later")),
                (Some(503), true, false),
            ),
            Some(Fault::Dropped) => {
                // A mutation's answer is lost half the time after it was applied.
                let after = request.method != "GET" && state.rng.next().is_multiple_of(2);
                let applied = after && self.route(&mut state, request).1;
                (Outcome::Drop, (None, true, applied))
            }
        };
        state.record(request, logged);
        outcome
    }

    fn route(&self, state: &mut State, request: &Incoming) -> Handled {
        let method = request.method.as_str();
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["replicas", "org", org, "gvc", gvc, "workload", name] => {
                if let Some(missing) = self.missing_place(org, Some(*gvc)) {
                    return missing;
                }
                if method != "GET" {
                    return self.method_not_allowed(method);
                }
                self.replicas(state, gvc, name)
            }
            ["org", org, rest @ ..] => {
                if let Some(missing) = self.missing_place(org, None) {
                    return missing;
                }
                self.route_org(state, request, rest)
            }
            _ => self.not_found(&format!("path {}", request.path)),
        }
    }

    /// An unknown org or GVC gives 404.
    fn missing_place(&self, org: &str, gvc: Option<&str>) -> Option<Handled> {
        if org != self.options.org {
            return Some(self.not_found(&format!("org \"{org}\"")));
        }
        match gvc {
            Some(gvc) if !self.options.gvcs.iter().any(|g| g == gvc) => {
                Some(self.not_found(&format!("gvc \"{gvc}\"")))
            }
            _ => None,
        }
    }

    fn route_org(&self, state: &mut State, request: &Incoming, rest: &[&str]) -> Handled {
        let method = request.method.as_str();
        let org = &self.options.org;
        match rest {
            [] if method == "GET" => (
                Reply::json(200, json!({"kind": "org", "name": org, "links": []})),
                false,
            ),
            ["gvc"] if method == "GET" => {
                let items: Vec<Value> = self.options.gvcs.iter().map(|g| self.gvc(g)).collect();
                (
                    Reply::json(
                        200,
                        json!({"kind": "list", "itemKind": "gvc", "items": items, "links": []}),
                    ),
                    false,
                )
            }
            ["gvc", gvc, rest @ ..] => {
                if let Some(missing) = self.missing_place(org, Some(*gvc)) {
                    return missing;
                }
                match rest {
                    [] if method == "GET" => (Reply::json(200, self.gvc(gvc)), false),
                    [kind] if GVC_KINDS.contains(kind) => {
                        self.collection(state, request, kind, Some(*gvc))
                    }
                    [kind, name] if GVC_KINDS.contains(kind) => {
                        self.item(state, request, kind, Some(*gvc), name)
                    }
                    ["workload", name, "deployment", location @ ..] if location.len() <= 1 => {
                        if method != "GET" {
                            return self.method_not_allowed(method);
                        }
                        self.deployments(state, gvc, name, location.first().copied())
                    }
                    [kind @ ("workload" | "volumeset"), name, "-command"] => {
                        if method != "POST" {
                            return self.method_not_allowed(method);
                        }
                        self.command(state, request, kind, gvc, name)
                    }
                    [kind @ ("workload" | "volumeset"), name, "-command", id] => {
                        if method != "GET" {
                            return self.method_not_allowed(method);
                        }
                        let path = format!(
                            "/org/{}/gvc/{gvc}/{kind}/{name}/-command/{id}",
                            self.options.org
                        );
                        match state
                            .commands
                            .iter()
                            .find(|c| c["links"][0]["href"] == path)
                        {
                            Some(command) => (Reply::json(200, command.clone()), false),
                            None => self.not_found(&format!("command \"{id}\"")),
                        }
                    }
                    [] => self.method_not_allowed(method),
                    [kind, ..] => self.unknown(kind, &request.path),
                }
            }
            [kind] if ORG_KINDS.contains(kind) => self.collection(state, request, kind, None),
            [kind, name] if ORG_KINDS.contains(kind) => self.item(state, request, kind, None, name),
            ["secret", name, "-reveal"] => {
                if method != "GET" {
                    return self.method_not_allowed(method);
                }
                let key = key("secret", None, name);
                match state.entries.get(&key) {
                    Some(entry) => (Reply::json(200, entry.object.clone()), false),
                    None => self.not_found(&format!("secret \"{name}\"")),
                }
            }
            [] | ["gvc"] => self.method_not_allowed(method),
            [kind, ..] => self.unknown(kind, &request.path),
        }
    }

    fn gvc(&self, name: &str) -> Value {
        let org = &self.options.org;
        let links: Vec<String> = self
            .options
            .locations
            .iter()
            .map(|l| format!("/org/{org}/location/{l}"))
            .collect();
        json!({
            "kind": "gvc",
            "name": name,
            "spec": {"staticPlacement": {"locationLinks": links}},
            "links": [{"rel": "self", "href": format!("/org/{org}/gvc/{name}")}],
        })
    }

    fn path(&self, key: &Key) -> String {
        let org = &self.options.org;
        match &key.gvc {
            Some(gvc) => format!("/org/{org}/gvc/{gvc}/{}/{}", key.kind, key.name),
            None => format!("/org/{org}/{}/{}", key.kind, key.name),
        }
    }

    fn collection(
        &self,
        state: &mut State,
        request: &Incoming,
        kind: &str,
        gvc: Option<&str>,
    ) -> Handled {
        match request.method.as_str() {
            "GET" => {
                let items: Vec<Value> = state
                    .entries
                    .iter()
                    .filter(|(k, _)| k.kind == kind && k.gvc.as_deref() == gvc)
                    .map(|(_, e)| view(kind, &e.object))
                    .collect();
                (
                    Reply::json(
                        200,
                        json!({"kind": "list", "itemKind": kind, "items": items, "links": []}),
                    ),
                    false,
                )
            }
            "PUT" => self.upsert(state, request, kind, gvc, Mode::Apply),
            "POST" => self.upsert(state, request, kind, gvc, Mode::Create),
            other => self.method_not_allowed(other),
        }
    }

    fn item(
        &self,
        state: &mut State,
        request: &Incoming,
        kind: &str,
        gvc: Option<&str>,
        name: &str,
    ) -> Handled {
        let key = key(kind, gvc, name);
        match request.method.as_str() {
            "GET" => match state.entries.get(&key) {
                Some(entry) => (Reply::json(200, view(kind, &entry.object)), false),
                None => self.not_found(&format!("{kind} \"{name}\"")),
            },
            "PUT" => self.upsert(state, request, kind, gvc, Mode::Item(name)),
            "PATCH" => self.patch(state, request, &key),
            "DELETE" => self.delete(state, &key),
            other => self.method_not_allowed(other),
        }
    }

    /// The body as a JSON object, or the 400 to answer.
    fn body(&self, request: &Incoming) -> Result<Map<String, Value>, Handled> {
        match serde_json::from_slice(&request.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.invalid("the body must be a JSON object")),
            Err(e) => Err(self.invalid(&format!("the body is not JSON: {e}"))),
        }
    }

    /// `PUT` (upsert) or `POST` (create) of a whole object.
    fn upsert(
        &self,
        state: &mut State,
        request: &Incoming,
        kind: &str,
        gvc: Option<&str>,
        mode: Mode,
    ) -> Handled {
        let mut object = match self.body(request) {
            Ok(object) => object,
            Err(handled) => return handled,
        };
        if object.get("kind").and_then(Value::as_str) != Some(kind) {
            return self.invalid(&format!("kind must be \"{kind}\" at this path"));
        }
        let name = match object.get("name").and_then(Value::as_str) {
            Some(name) if valid_name(name) => name.to_owned(),
            Some(name) => {
                return self.invalid(&format!(
                    "name \"{name}\" must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ and have at most 64 characters"
                ));
            }
            None => return self.invalid("name is required"),
        };
        if let Mode::Item(path_name) = mode
            && path_name != name
        {
            return self.invalid(&format!(
                "name \"{name}\" does not match the path's \"{path_name}\""
            ));
        }
        if let Err(handled) = self.take_gvc(&mut object, gvc) {
            return handled;
        }
        let version = object.remove("version");
        for field in BOOKKEEPING {
            object.remove(field);
        }
        if let Err(message) = normalize(kind, &mut object) {
            return self.invalid(&message);
        }
        let key = key(kind, gvc, &name);
        match state.entries.get(&key) {
            None => {
                if let Some(quota) = self.over_quota(kind, &object) {
                    return quota;
                }
                self.create(state, key, object)
            }
            Some(_) if matches!(mode, Mode::Create) => {
                self.conflict(&format!("{kind} \"{name}\" already exists"))
            }
            Some(_) => self.update(state, &key, object, version.as_ref()),
        }
    }

    /// Takes a GVC-scoped object's `gvc` field, which must name the path's GVC.
    fn take_gvc(&self, object: &mut Map<String, Value>, gvc: Option<&str>) -> Result<(), Handled> {
        let Some(gvc) = gvc else {
            return Ok(());
        };
        match object.remove("gvc") {
            None => Ok(()),
            Some(Value::String(named)) if named == gvc => Ok(()),
            Some(other) => Err(self.invalid(&format!(
                "gvc {other} does not match the path's gvc \"{gvc}\""
            ))),
        }
    }

    fn over_quota(&self, kind: &str, object: &Map<String, Value>) -> Option<Handled> {
        if kind != "workload" {
            return None;
        }
        let quota = self.options.replicas_per_workload;
        let spec = object.get("spec")?;
        let mut options: Vec<&Value> = spec.get("defaultOptions").into_iter().collect();
        if let Some(local) = spec.get("localOptions").and_then(Value::as_array) {
            options.extend(local);
        }
        options.iter().find_map(|o| {
            ["maxScale", "minScale"].iter().find_map(|field| {
                let n = o.get("autoscaling")?.get(field)?.as_u64()?;
                (n > quota).then(|| {
                    (
                        self.error(
                            429,
                            "quota_exceeded",
                            &format!(
                                "{field} {n} exceeds the org's quota of {quota} replicas per workload"
                            ),
                        ),
                        false,
                    )
                })
            })
        })
    }

    /// The stored form: bookkeeping first, then the content, then links (and a
    /// workload's status, which the API computes).
    fn stored(
        &self,
        key: &Key,
        content: Map<String, Value>,
        id: &str,
        version: u64,
        created: &str,
        modified: &str,
    ) -> Map<String, Value> {
        let mut stored = Map::new();
        stored.insert("id".to_owned(), json!(id));
        stored.insert("name".to_owned(), json!(key.name));
        stored.insert("kind".to_owned(), json!(key.kind));
        stored.insert("version".to_owned(), json!(version));
        for (field, value) in content {
            if field != "name" && field != "kind" {
                stored.insert(field, value);
            }
        }
        stored.insert("created".to_owned(), json!(created));
        stored.insert("lastModified".to_owned(), json!(modified));
        stored.insert(
            "links".to_owned(),
            json!([{"rel": "self", "href": self.path(key)}]),
        );
        if key.kind == "workload" {
            let gvc = key.gvc.as_deref().unwrap_or_default();
            let endpoint = self.endpoint(gvc, &key.name);
            stored.insert(
                "status".to_owned(),
                json!({
                    "endpoint": endpoint,
                    "canonicalEndpoint": endpoint,
                    "internalName": format!("{}.{gvc}.cpln.local", key.name),
                }),
            );
        }
        stored
    }

    fn endpoint(&self, gvc: &str, name: &str) -> String {
        // FNV-1a of org and GVC: a stable alias, as the platform's is.
        let hash = format!("{}/{gvc}", self.options.org)
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("https://{name}-{:010x}.cpln.app", hash & 0xff_ffff_ffff)
    }

    fn create(&self, state: &mut State, key: Key, content: Map<String, Value>) -> Handled {
        let stamp = timestamp();
        let object = Value::Object(self.stored(&key, content, &self.uuid(), 1, &stamp, &stamp));
        let now = Instant::now();
        let mut entry = Entry {
            created: now,
            deleting_at: None,
            versions: Vec::new(),
            was_ready: false,
            object,
        };
        if key.kind == "workload" {
            entry.versions.push(Deployed::of(&entry.object, 1, now));
        }
        let location = self.path(&key);
        let view = view(&key.kind, &entry.object);
        state.entries.insert(key, entry);
        (
            Reply {
                status: 201,
                body: Some(view),
                location: Some(location),
            },
            true,
        )
    }

    /// Replaces a stored object's content; the version moves only on a change.
    fn update(
        &self,
        state: &mut State,
        key: &Key,
        content: Map<String, Value>,
        version: Option<&Value>,
    ) -> Handled {
        let secrets = state.secret_times();
        let ready_after = self.options.ready_after;
        let Some(entry) = state.entries.get_mut(key) else {
            return self.not_found(&format!("{} \"{}\"", key.kind, key.name));
        };
        if entry.deleting_at.is_some() {
            return self.conflict(&format!("{} \"{}\" is being deleted", key.kind, key.name));
        }
        let stored = entry
            .object
            .get("version")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        if let Some(version) = version
            && version.as_u64() != Some(stored)
        {
            return self.conflict(&format!(
                "version {version} is stale: the stored version is {stored}"
            ));
        }
        let old = content_of(&entry.object);
        if let Some(field) = immutable_change(&key.kind, &old, &content) {
            return self.invalid(&format!("{field} cannot be changed"));
        }
        if let Some(quota) = self.over_quota(&key.kind, &content) {
            return quota;
        }
        if old == content {
            return (Reply::json(200, view(&key.kind, &entry.object)), false);
        }
        let field = |name: &str| {
            entry
                .object
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (id, created) = (field("id"), field("created"));
        let version = stored.saturating_add(1);
        entry.object =
            Value::Object(self.stored(key, content, &id, version, &created, &timestamp()));
        if key.kind == "workload" {
            let now = Instant::now();
            entry
                .versions
                .push(Deployed::of(&entry.object, version, now));
            while entry.versions.len() > 2 {
                let mut oldest = entry.versions.remove(0);
                entry.was_ready |= oldest.check(&secrets, ready_after, now).0;
            }
        }
        (Reply::json(200, view(&key.kind, &entry.object)), true)
    }

    fn patch(&self, state: &mut State, request: &Incoming, key: &Key) -> Handled {
        let Some(entry) = state.entries.get(key) else {
            return self.not_found(&format!("{} \"{}\"", key.kind, key.name));
        };
        let mut patch = match self.body(request) {
            Ok(patch) => patch,
            Err(handled) => return handled,
        };
        for (field, expected) in [("kind", &key.kind), ("name", &key.name)] {
            if let Some(value) = patch.remove(field)
                && value.as_str() != Some(expected)
            {
                return self.invalid(&format!("{field} cannot be changed"));
            }
        }
        if let Err(handled) = self.take_gvc(&mut patch, key.gvc.as_deref()) {
            return handled;
        }
        let version = patch.remove("version");
        for field in BOOKKEEPING {
            patch.remove(field);
        }
        let mut content = content_of(&entry.object);
        if let Err(message) = merge(&mut content, &patch) {
            return self.invalid(&message);
        }
        content.insert("name".to_owned(), json!(key.name));
        content.insert("kind".to_owned(), json!(key.kind));
        if let Err(message) = normalize(&key.kind, &mut content) {
            return self.invalid(&message);
        }
        self.update(state, key, content, version.as_ref())
    }

    fn delete(&self, state: &mut State, key: &Key) -> Handled {
        let Some(entry) = state.entries.get(key) else {
            return self.not_found(&format!("{} \"{}\"", key.kind, key.name));
        };
        let accepted = Reply {
            status: 202,
            body: None,
            location: None,
        };
        if entry.deleting_at.is_some() {
            return (accepted, false);
        }
        if key.kind == "volumeset"
            && let Some((user, _)) = state.entries.iter().find(|(k, e)| {
                k.kind == "workload"
                    && k.gvc == key.gvc
                    && volumeset_refs(&e.object).contains(&key.name)
            })
        {
            return self.conflict(&format!(
                "volumeset \"{}\" is in use by workload \"{}\"",
                key.name, user.name
            ));
        }
        if key.kind == "workload" || key.kind == "volumeset" {
            let now = Instant::now();
            if let Some(entry) = state.entries.get_mut(key) {
                entry.deleting_at =
                    Some(now.checked_add(self.options.deletion_delay).unwrap_or(now));
            }
        } else {
            state.entries.remove(key);
        }
        (accepted, true)
    }

    fn deployments(
        &self,
        state: &mut State,
        gvc: &str,
        name: &str,
        location: Option<&str>,
    ) -> Handled {
        let secrets = state.secret_times();
        let Some(entry) = state.entries.get_mut(&key("workload", Some(gvc), name)) else {
            return self.not_found(&format!("workload \"{name}\""));
        };
        if let Some(location) = location
            && !self.options.locations.iter().any(|l| l == location)
        {
            return self.not_found(&format!("deployment \"{location}\""));
        }
        let now = Instant::now();
        let version = entry
            .object
            .get("version")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let mut ready = entry.was_ready;
        let mut latest_ready = false;
        let mut versions = Vec::new();
        for deployed in entry.versions.iter_mut().rev() {
            let (is_ready, message) = deployed.check(&secrets, self.options.ready_after, now);
            ready |= is_ready;
            if deployed.version == version {
                latest_ready = is_ready;
            }
            let containers: Map<String, Value> = deployed
                .containers
                .iter()
                .map(|(c, image)| {
                    (
                        c.clone(),
                        json!({"name": c, "image": image, "ready": is_ready}),
                    )
                })
                .collect();
            let mut item = json!({
                "name": format!("v{}", deployed.version),
                "workload": deployed.version,
                "ready": is_ready,
                "containers": containers,
            });
            if let (Some(message), Value::Object(item)) = (message, &mut item) {
                item.insert("message".to_owned(), json!(message));
            }
            versions.push(item);
        }
        let status = json!({
            "remote": self.remote,
            "endpoint": self.endpoint(gvc, name),
            "lastProcessedVersion": version,
            "expectedDeploymentVersion": version,
            "ready": ready,
            "deploying": !latest_ready,
            "versions": versions,
        });
        let item = |location: &str| {
            json!({
                "name": location,
                "kind": "deployment",
                "links": [],
                "lastModified": entry.object.get("lastModified"),
                "status": status,
            })
        };
        let body = if let Some(location) = location {
            item(location)
        } else {
            let items: Vec<Value> = self.options.locations.iter().map(|l| item(l)).collect();
            json!({"kind": "list", "itemKind": "deployment", "items": items, "links": []})
        };
        (Reply::json(200, body), false)
    }

    fn replicas(&self, state: &State, gvc: &str, name: &str) -> Handled {
        let Some(entry) = state.entries.get(&key("workload", Some(gvc), name)) else {
            return self.not_found(&format!("workload \"{name}\""));
        };
        let names = state.replica_names.get(name).cloned().unwrap_or_else(|| {
            let count = entry
                .object
                .pointer("/spec/defaultOptions/autoscaling/minScale")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .min(MAX_REPLICAS);
            (0..count).map(|i| format!("{name}-{i}")).collect()
        });
        (
            Reply::json(200, json!({"items": names, "links": []})),
            false,
        )
    }

    fn command(
        &self,
        state: &mut State,
        request: &Incoming,
        kind: &str,
        gvc: &str,
        name: &str,
    ) -> Handled {
        if !state.entries.contains_key(&key(kind, Some(gvc), name)) {
            return self.not_found(&format!("{kind} \"{name}\""));
        }
        let body = match self.body(request) {
            Ok(body) => body,
            Err(handled) => return handled,
        };
        let Some(command_type) = body.get("type").and_then(Value::as_str) else {
            return self.invalid("a command needs a type");
        };
        let id = self.uuid();
        let location = format!(
            "/org/{}/gvc/{gvc}/{kind}/{name}/-command/{id}",
            self.options.org
        );
        let command = json!({
            "id": id,
            "kind": "command",
            "type": command_type,
            "spec": body.get("spec").cloned().unwrap_or_else(|| json!({})),
            "lifecycleStage": "pending",
            "created": timestamp(),
            "links": [{"rel": "self", "href": location}],
        });
        state.commands.push(command.clone());
        (
            Reply {
                status: 201,
                body: Some(command),
                location: Some(location),
            },
            true,
        )
    }
}

#[derive(Clone, Copy)]
enum Mode<'a> {
    /// `PUT` on the collection: create or replace.
    Apply,
    /// `POST` on the collection: create only.
    Create,
    /// `PUT` on the item: create or replace, the body naming the same item.
    Item(&'a str),
}

fn key(kind: &str, gvc: Option<&str>, name: &str) -> Key {
    Key {
        kind: kind.to_owned(),
        gvc: gvc.map(str::to_owned),
        name: name.to_owned(),
    }
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`, at most 64 characters.
fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.last() != Some(&b'-')
}

/// What a client sees with view permission: secrets without `data`.
fn view(kind: &str, object: &Value) -> Value {
    let mut view = object.clone();
    if kind == "secret"
        && let Value::Object(map) = &mut view
    {
        map.remove("data");
    }
    view
}

/// The client-owned part of a stored object.
fn content_of(object: &Value) -> Map<String, Value> {
    let mut content = object.as_object().cloned().unwrap_or_default();
    for field in BOOKKEEPING {
        content.remove(field);
    }
    content
}

fn timestamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The object at `field`, created when absent.
fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    field: &str,
) -> Result<&'a mut Map<String, Value>, String> {
    map.entry(field)
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| format!("{field} must be an object"))
}

/// Adds the defaults the platform adds (so clients prove they ignore them) and drops
/// what it drops.
fn normalize(kind: &str, object: &mut Map<String, Value>) -> Result<(), String> {
    if kind != "workload" && kind != "volumeset" {
        return Ok(());
    }
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return Err(format!("a {kind} needs a spec object"));
    };
    if kind == "volumeset" {
        spec.entry("fileSystemType")
            .or_insert_with(|| json!("ext4"));
        spec.entry("performanceClass")
            .or_insert_with(|| json!("general-purpose-ssd"));
        return Ok(());
    }
    if let Some(containers) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            container.entry("inheritEnv").or_insert(json!(false));
        }
    }
    object_at(spec, "defaultOptions")?
        .entry("timeoutSeconds")
        .or_insert(json!(5));
    object_at(object_at(spec, "firewallConfig")?, "external")?
        .entry("outboundAllowHostname")
        .or_insert_with(|| json!([]));
    if spec.get("type").and_then(Value::as_str) == Some("stateful")
        && let Some(rollout) = spec
            .get_mut("rolloutOptions")
            .and_then(Value::as_object_mut)
    {
        rollout.remove("maxUnavailableReplicas");
    }
    Ok(())
}

/// The first immutable field that differs, as `spec.FIELD`.
fn immutable_change(
    kind: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Option<&'static str> {
    let fields: &[&'static str] = match kind {
        "workload" => &["type"],
        "volumeset" => &["fileSystemType", "performanceClass"],
        _ => &[],
    };
    let at =
        |map: &Map<String, Value>, field: &str| map.get("spec").and_then(|s| s.get(field)).cloned();
    fields
        .iter()
        .find(|f| at(old, f) != at(new, f))
        .map(|f| match *f {
            "type" => "spec.type",
            "fileSystemType" => "spec.fileSystemType",
            _ => "spec.performanceClass",
        })
}

fn containers(object: &Value) -> impl Iterator<Item = &Value> {
    object
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The names behind `cpln://PREFIX/NAME…` in containers' env values and volume URIs.
fn refs(object: &Value, prefix: &str, cut: &[char]) -> Vec<String> {
    let mut names: Vec<String> = containers(object)
        .flat_map(|c| {
            let env = c
                .get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("value").and_then(Value::as_str));
            let volumes = c
                .get("volumes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.get("uri").and_then(Value::as_str));
            env.chain(volumes)
        })
        .filter_map(|uri| uri.strip_prefix(prefix))
        .filter_map(|rest| rest.split(cut).next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Secrets a workload references (`cpln://secret/NAME` or `cpln://secret/NAME.KEY`).
fn secret_refs(object: &Value) -> Vec<String> {
    refs(object, "cpln://secret/", &['.', '/'])
}

/// Volume sets a workload mounts.
fn volumeset_refs(object: &Value) -> Vec<String> {
    refs(object, "cpln://volumeset/", &['/'])
}

fn strings(value: &Value) -> Option<Vec<&str>> {
    value.as_array()?.iter().map(Value::as_str).collect()
}

/// Applies a PATCH body: objects merge, arrays and scalars replace, `null` removes,
/// and `$replace/`, `$drop`, `$drop/`, `$append/` and `$patch/` keys act on the
/// field they name at their own level.
fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in patch {
        if key == "$drop" {
            let fields = strings(value).ok_or("$drop takes a list of field names")?;
            for field in fields {
                target.remove(field);
            }
        } else if let Some(field) = key.strip_prefix("$replace/") {
            if value.is_null() {
                target.remove(field);
            } else {
                target.insert(field.to_owned(), value.clone());
            }
        } else if let Some(field) = key.strip_prefix("$drop/") {
            let names = strings(value).ok_or_else(|| format!("{key} takes a list of names"))?;
            if let Some(items) = target.get_mut(field).and_then(Value::as_array_mut) {
                items.retain(|item| {
                    let id = item
                        .as_str()
                        .or_else(|| item.get("name").and_then(Value::as_str));
                    !id.is_some_and(|id| names.contains(&id))
                });
            }
        } else if let Some(field) = key.strip_prefix("$append/") {
            let Value::Array(new) = value else {
                return Err(format!("{key} takes a list"));
            };
            let Value::Array(items) = target.entry(field).or_insert_with(|| json!([])) else {
                return Err(format!("{field} is not a list"));
            };
            items.extend(new.iter().cloned());
        } else if let Some(field) = key.strip_prefix("$patch/") {
            let Value::Array(new) = value else {
                return Err(format!("{key} takes a list"));
            };
            let Value::Array(items) = target.entry(field).or_insert_with(|| json!([])) else {
                return Err(format!("{field} is not a list"));
            };
            for change in new {
                let (Some(change), Some(name)) = (
                    change.as_object(),
                    change.get("name").and_then(Value::as_str),
                ) else {
                    return Err(format!("{key} takes objects with a name"));
                };
                let found = items
                    .iter()
                    .position(|i| i.get("name").and_then(Value::as_str) == Some(name));
                if let Some(Value::Object(item)) = found.and_then(|i| items.get_mut(i)) {
                    merge(item, change)?;
                } else {
                    let mut item = Map::new();
                    merge(&mut item, change)?;
                    items.push(Value::Object(item));
                }
            }
        } else if key.starts_with('$') {
            return Err(format!("unknown patch directive {key}"));
        } else if value.is_null() {
            target.remove(key);
        } else if let Value::Object(inner) = value {
            let slot = target.entry(key.as_str()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            if let Value::Object(slot) = slot {
                merge(slot, inner)?;
            }
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

// ---- HTTP ----

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                let (done, running): (Vec<_>, Vec<_>) =
                    workers.into_iter().partition(JoinHandle::is_finished);
                workers = running;
                for worker in done {
                    let _ = worker.join();
                }
                if workers.len() >= MAX_CONNECTIONS {
                    continue; // dropping the stream refuses it
                }
                let shared = Arc::clone(shared);
                if let Ok(worker) = std::thread::Builder::new()
                    .name("fake-cpln-conn".to_owned())
                    .spawn(move || serve_connection(&shared, stream))
                {
                    workers.push(worker);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    shared.wake.notify_all();
    for worker in workers {
        let _ = worker.join();
    }
}

/// Why reading a request ended without one.
enum Unread {
    /// End of stream, stop, timeout or an I/O error: just close.
    Closed,
    /// Answer with this error, then close.
    Reject {
        method: String,
        path: String,
        status: u16,
        code: &'static str,
        message: String,
    },
}

struct Connection<'a> {
    shared: &'a Shared,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection<'_> {
    /// Reads more bytes into the buffer, giving up on stop or after `limit` since
    /// `since`.
    fn fill(&mut self, since: Instant, limit: Duration) -> Result<(), Unread> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stopping() || since.elapsed() > limit {
                return Err(Unread::Closed);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Unread::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(Unread::Closed),
            }
        }
    }

    fn read_request(&mut self) -> Result<Incoming, Unread> {
        let idle_since = Instant::now();
        let mut started = None;
        let (head, method, path, version, headers) = loop {
            if !self.buf.is_empty() {
                started.get_or_insert_with(Instant::now);
                let mut slots = [httparse::EMPTY_HEADER; 64];
                let mut parsed = httparse::Request::new(&mut slots);
                match parsed.parse(&self.buf) {
                    Ok(httparse::Status::Complete(head)) => {
                        let headers: Vec<(String, String)> = parsed
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_ascii_lowercase(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect();
                        break (
                            head,
                            parsed.method.unwrap_or_default().to_owned(),
                            parsed.path.unwrap_or_default().to_owned(),
                            parsed.version.unwrap_or(1),
                            headers,
                        );
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD => {}
                    Ok(httparse::Status::Partial) => {
                        return Err(reject(
                            "",
                            "",
                            431,
                            "headers_too_large",
                            "request head too large",
                        ));
                    }
                    Err(e) => {
                        return Err(reject("", "", 400, "invalid", &format!("bad request: {e}")));
                    }
                }
            }
            match started {
                Some(started) => self.fill(started, REQUEST_TIME)?,
                None => self.fill(idle_since, IDLE)?,
            }
        };
        self.buf.drain(..head);
        let started = started.unwrap_or(idle_since);
        let path = path.split('?').next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.trim().to_owned())
        };
        let connection = header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let close =
            connection.contains("close") || (version == 0 && !connection.contains("keep-alive"));
        let too_large = || {
            reject(
                &method,
                &path,
                413,
                "payload_too_large",
                &format!("the body is larger than {MAX_BODY} bytes"),
            )
        };
        let chunked =
            header("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let length = if chunked {
            None
        } else {
            match header("content-length").map(|l| l.parse::<usize>()) {
                None => Some(0),
                Some(Ok(length)) => Some(length),
                Some(Err(_)) => {
                    return Err(reject(&method, &path, 400, "invalid", "bad Content-Length"));
                }
            }
        };
        let expects = header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
        if length.is_some_and(|l| l > MAX_BODY) && (expects || length > Some(MAX_DRAIN)) {
            return Err(too_large());
        }
        if expects {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let body = match length {
            Some(length) => {
                while self.buf.len() < length {
                    self.fill(started, REQUEST_TIME)?;
                }
                let body: Vec<u8> = self.buf.drain(..length).collect();
                if length > MAX_BODY {
                    return Err(too_large());
                }
                body
            }
            None => self.read_chunked(started).map_err(|e| match e {
                Chunked::TooLarge => too_large(),
                Chunked::Bad => reject(&method, &path, 400, "invalid", "bad chunked body"),
                Chunked::Closed => Unread::Closed,
            })?,
        };
        Ok(Incoming {
            authorization: header("authorization"),
            method,
            path,
            body,
            close,
        })
    }

    /// Decodes a chunked body.
    fn read_chunked(&mut self, started: Instant) -> Result<Vec<u8>, Chunked> {
        let mut body = Vec::new();
        loop {
            let line = self.line(started)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| Chunked::Bad)?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line(started)?.is_empty() {}
                return Ok(body);
            }
            if size > MAX_BODY - body.len() {
                return Err(Chunked::TooLarge);
            }
            while self.buf.len() < size + 2 {
                self.fill(started, REQUEST_TIME)
                    .map_err(|_| Chunked::Closed)?;
            }
            body.extend(self.buf.drain(..size));
            if self.buf.drain(..2).as_slice() != b"\r\n" {
                return Err(Chunked::Bad);
            }
        }
    }

    fn line(&mut self, started: Instant) -> Result<String, Chunked> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return String::from_utf8(line).map_err(|_| Chunked::Bad);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Chunked::Bad);
            }
            self.fill(started, REQUEST_TIME)
                .map_err(|_| Chunked::Closed)?;
        }
    }

    fn write(&mut self, reply: &Reply, close: bool) -> io::Result<()> {
        let body = reply
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let content_type = if reply.body.is_some() {
            "Content-Type: application/json\r\n"
        } else {
            ""
        };
        let location = reply
            .location
            .as_ref()
            .map(|l| format!("Location: {l}\r\n"))
            .unwrap_or_default();
        let connection = if close { "Connection: close\r\n" } else { "" };
        let head = format!(
            "HTTP/1.1 {} {}\r\n{content_type}Content-Length: {}\r\n{location}{connection}\r\n",
            reply.status,
            reason(reply.status),
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend(body);
        self.stream.write_all(&bytes)?;
        self.stream.flush()
    }
}

enum Chunked {
    TooLarge,
    Bad,
    Closed,
}

fn reject(method: &str, path: &str, status: u16, code: &'static str, message: &str) -> Unread {
    Unread::Reject {
        method: method.to_owned(),
        path: path.to_owned(),
        status,
        code,
        message: message.to_owned(),
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let configured = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))))
        .and_then(|()| stream.set_nodelay(true));
    if configured.is_err() {
        return;
    }
    let mut connection = Connection {
        shared,
        stream,
        buf: Vec::new(),
    };
    loop {
        match connection.read_request() {
            Ok(request) => match shared.serve(&request, &|| peer_gone(&connection.stream)) {
                Outcome::Drop => break,
                Outcome::Reply(reply) => {
                    if connection.write(&reply, request.close).is_err() || request.close {
                        break;
                    }
                }
            },
            Err(Unread::Closed) => break,
            Err(Unread::Reject {
                method,
                path,
                status,
                code,
                message,
            }) => {
                let reply = shared.error(status, code, &message);
                let logged = Incoming {
                    method,
                    path,
                    authorization: None,
                    body: Vec::new(),
                    close: true,
                };
                shared.lock().record(&logged, (Some(status), false, false));
                let _ = connection.write(&reply, true);
                break;
            }
        }
    }
    let _ = connection.stream.shutdown(Shutdown::Both);
}

/// Whether the client closed its end (a killed process's socket is closed by the
/// kernel).
fn peer_gone(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let gone = match stream.peek(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    gone || stream.set_nonblocking(false).is_err()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}
