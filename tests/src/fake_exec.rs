//! A stand-in for a location's terminal server (a deployment's `status.remote`): the
//! exec websocket (`/exec`, protocol v4 as the cpln CLI speaks it) and the replica
//! list (`/replicas/org/O/gvc/G/workload/W`), run against a local cluster. Each exec
//! runs its bash command on this machine as if inside the member's container: the
//! container's addresses (Patroni on 127.0.0.1:8008, PostgreSQL on 5432, the member's
//! volume) are rewritten to the local member's ports and directory, and the container's
//! environment carries the passwords. What it proves and what it does not: README.
//!
//! Listens on 127.0.0.1; stops (and joins its threads) when dropped.

// Test helpers: failing loudly is their job.
#![allow(clippy::must_use_candidate, clippy::missing_panics_doc)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres_ha_core::cpln::exec::CONTAINER;
use postgres_ha_core::render::{MEMBER_HOME, PATRONI_PORT, POSTGRES_PORT};
use serde_json::{Value, json};
use tungstenite::Message;

/// A PostgreSQL member as the terminal server reaches it.
#[derive(Clone, Debug)]
pub struct Member {
    /// The replica (pod) name; on Control Plane also Patroni's member name.
    pub pod: String,
    pub api_port: u16,
    pub pg_port: u16,
    /// The member's own directory (where its `before_stop` hook looks).
    pub home: PathBuf,
}

/// How the server is set up.
pub struct Setup {
    pub token: String,
    pub workload: String,
    pub members: Vec<Member>,
    /// The container's environment (the passwords, as the platform sets them from
    /// the secret).
    pub env: Vec<(String, String)>,
    /// Directory of psql and the libraries it needs.
    pub pg_bin: PathBuf,
    pub pg_lib: PathBuf,
}

struct Shared {
    setup: Setup,
    /// The members as the platform runs them now (`set_members` after a scale).
    members: Mutex<Vec<Member>>,
    /// A member's environment when it differs from the setup's: a recreated
    /// container took the secret's values at its start.
    envs: Mutex<std::collections::HashMap<String, Vec<(String, String)>>>,
    stop: AtomicBool,
    /// Every first frame received, with the token blanked.
    frames: Mutex<Vec<Value>>,
}

pub struct FakeExec {
    url: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Longest one exec may run.
const EXEC_LIMIT: Duration = Duration::from_secs(200);

impl FakeExec {
    pub fn start(setup: Setup) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            members: Mutex::new(setup.members.clone()),
            envs: Mutex::new(std::collections::HashMap::new()),
            setup,
            stop: AtomicBool::new(false),
            frames: Mutex::new(Vec::new()),
        });
        let serving = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            let started = Instant::now();
            // A leaked server stops on its own after a test run's worth of time.
            while !serving.stop.load(Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(1800)
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let shared = Arc::clone(&serving);
                        workers.push(std::thread::spawn(move || serve(&shared, stream)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
                workers.retain(|w: &JoinHandle<()>| !w.is_finished());
            }
            for worker in workers {
                let _ = worker.join();
            }
        });
        Self {
            url,
            shared,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`: what a deployment's `status.remote` holds.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The members the platform runs from now on (what a scale left).
    pub fn set_members(&self, members: Vec<Member>) {
        *self.shared.members.lock().unwrap() = members;
    }

    /// The environment `pod`'s container has from now on (the platform started it
    /// again with the secret's current values).
    pub fn set_env(&self, pod: &str, env: Vec<(String, String)>) {
        self.shared.envs.lock().unwrap().insert(pod.to_owned(), env);
    }

    pub fn members(&self) -> Vec<Member> {
        self.shared.members.lock().unwrap().clone()
    }

    /// The first frames of every exec so far (tokens blanked).
    pub fn frames(&self) -> Vec<Value> {
        self.shared.frames.lock().unwrap().clone()
    }
}

impl Drop for FakeExec {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = [0u8; 512];
    let Ok(n) = stream.peek(&mut head) else {
        return;
    };
    let line = String::from_utf8_lossy(&head[..n]).to_string();
    if line.starts_with("GET /replicas/") {
        replicas(shared, stream);
    } else {
        exec(shared, stream);
    }
}

/// The replica list: plain strings, as the platform gives them.
fn replicas(shared: &Shared, mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let authorized = text.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("authorization:")
            && l.ends_with(&format!(" {}", shared.setup.token))
    });
    let path = text.split_whitespace().nth(1).unwrap_or_default();
    let (status, body) = if !authorized {
        (
            401,
            json!({"status": 401, "message": "Unauthorized", "code": "unauthorized"}),
        )
    } else if path.ends_with(&format!("/workload/{}", shared.setup.workload)) {
        let pods: Vec<String> = shared
            .members
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.pod.clone())
            .collect();
        (200, json!({"items": pods, "links": []}))
    } else {
        (
            404,
            json!({"status": 404, "message": "not found", "code": "not_found"}),
        )
    };
    let body = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn exec(shared: &Shared, stream: TcpStream) {
    let Ok(mut socket) = tungstenite::accept_hdr(stream, only_exec) else {
        return;
    };
    let Ok(Message::Text(first)) = socket.read() else {
        return;
    };
    let mut frame: Value = serde_json::from_str(first.as_str()).unwrap_or(Value::Null);
    let token_ok = frame["token"] == shared.setup.token.as_str();
    frame["token"] = json!("<blanked>");
    shared.frames.lock().unwrap().push(frame.clone());
    // The terminal server's refusals end the stream with a recognisable last line.
    let refuse = |socket: &mut tungstenite::WebSocket<TcpStream>, message: &str| {
        let _ = socket.send(Message::text(format!("{message}, exit code 1\n")));
        let _ = socket.close(None);
        let _ = socket.flush();
    };
    if !token_ok {
        return refuse(&mut socket, "Unauthorized: invalid token");
    }
    let member = shared
        .members
        .lock()
        .unwrap()
        .iter()
        .find(|m| frame["pod"] == m.pod.as_str())
        .cloned();
    let (Some(member), true) = (member, frame["container"] == CONTAINER) else {
        return refuse(
            &mut socket,
            "Failed to create terminal session: no such pod or container",
        );
    };
    let command: Vec<String> = frame["command"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let [shell, flag, script] = command.as_slice() else {
        return refuse(
            &mut socket,
            "Failed to create terminal session: unexpected command",
        );
    };
    assert_eq!((shell.as_str(), flag.as_str()), ("/bin/bash", "-c"));
    let input = if frame["stdin"] == true {
        match socket.read() {
            Ok(Message::Binary(bytes)) => bytes.to_vec(),
            _ => return,
        }
    } else {
        Vec::new()
    };
    let script = inside(script, &member);
    let env = shared
        .envs
        .lock()
        .unwrap()
        .get(&member.pod)
        .cloned()
        .unwrap_or_else(|| shared.setup.env.clone());
    let mut child = Command::new("/bin/bash")
        .args(["-c", &script])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(
            "PATH",
            format!(
                "{}:{}",
                shared.setup.pg_bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("LD_LIBRARY_PATH", &shared.setup.pg_lib)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input);
    }
    // Read the output while waiting (a full pipe would stall the command), bounded.
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let Ok(Ok(output)) = finished.recv_timeout(EXEC_LIMIT) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        return;
    };
    // The platform does not tell stdout from stderr.
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    for chunk in text.chunks(4096) {
        let _ = socket.send(Message::binary(chunk.to_vec()));
    }
    let _ = socket.close(None);
    let _ = socket.flush();
    // Drain until the client acknowledges the close.
    while socket.read().is_ok() {}
}

/// The handshake's check: the terminal server answers `/exec` only.
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn only_exec(
    request: &tungstenite::handshake::server::Request,
    response: tungstenite::handshake::server::Response,
) -> Result<tungstenite::handshake::server::Response, tungstenite::handshake::server::ErrorResponse>
{
    if request.uri().path() == "/exec" {
        Ok(response)
    } else {
        let mut refusal = tungstenite::handshake::server::ErrorResponse::new(None);
        *refusal.status_mut() = tungstenite::http::StatusCode::NOT_FOUND;
        Err(refusal)
    }
}

/// The script as it would run inside the member's container, pointed at the local
/// member: Patroni's and PostgreSQL's ports and the member's volume.
fn inside(script: &str, member: &Member) -> String {
    let script = script
        .replace(
            &format!("127.0.0.1:{PATRONI_PORT}"),
            &format!("127.0.0.1:{}", member.api_port),
        )
        .replace(
            &format!("-p {POSTGRES_PORT} "),
            &format!("-p {} ", member.pg_port),
        )
        .replace(
            &format!("{MEMBER_HOME}/"),
            &format!("{}/", member.home.display()),
        );
    // The platform sends stdout and stderr as one stream, in order.
    format!("exec 2>&1\n{script}")
}
