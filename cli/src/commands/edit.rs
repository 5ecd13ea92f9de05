//! `edit FILE`: the browser values editor on the user's own file. Serves the built
//! editor on 127.0.0.1 (a random port unless asked), opens it, and writes the file
//! back on save — atomically, the previous text kept as `FILE.bak`.
//!
//! Only the user's browser may use it: the printed link carries a token that works
//! once (it is traded for an `HttpOnly`, `SameSite=Strict` session cookie and the address
//! bar loses it), every request needs that session, and a `Host` other than the
//! loopback address and port is refused (DNS rebinding).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use postgres_ha_core::MAX_BYTES;
use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::ExitStatus;
use crate::args::EditArgs;
use crate::input::{Privacy, read};
use crate::secrets::{random_password, write_atomic};

/// The built editor's files, where each kind of installation keeps them: beside the
/// executable, in a `share` tree, or in this repository's build (`target/*/` → the
/// checkout's `web-editor/dist`).
const SITE_PLACES: [&str; 3] = [
    "editor",
    "../share/cpln-postgres-ha/editor",
    "../../web-editor/dist",
];

/// A save's body: the text, JSON-escaped (at most 6 bytes per byte), and its version.
const MAX_BODY: usize = MAX_BYTES * 6 + 1024;

pub(crate) fn run(args: &EditArgs) -> anyhow::Result<ExitStatus> {
    let site = Site::load(&site_dir(args.site.as_deref())?)?;
    let file = std::fs::canonicalize(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let bytes = read(&file, Privacy::Any).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        std::str::from_utf8(&bytes).is_ok(),
        "{} is not UTF-8 text: the editor could not show it, or save it, without changing \
         its bytes (`validate` points at the first bad one)",
        file.display()
    );
    let server = Server::http(("127.0.0.1", args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let port = server.server_addr().to_ip().map_or(args.port, |a| a.port());
    let mut editor = Editor {
        file,
        site,
        port,
        token: Some(random_password()?),
        session: random_password()?,
    };
    let link = format!(
        "http://127.0.0.1:{port}/?token={}",
        editor.token.as_deref().unwrap_or_default()
    );
    let mut out = std::io::stdout();
    writeln!(
        out,
        "editing {} at {link}\n(the link works once; Ctrl-C stops the editor)",
        editor.file.display()
    )?;
    out.flush()?;
    if !args.no_open {
        open_browser(&link);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    while !stop.load(Ordering::Relaxed) {
        if let Some(request) = server.recv_timeout(Duration::from_millis(200))? {
            editor.answer(request);
        }
    }
    Ok(ExitStatus::Success)
}

fn site_dir(asked: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = asked {
        return Ok(dir.to_owned());
    }
    let exe = std::env::current_exe()?;
    let beside = exe.parent().unwrap_or(Path::new("."));
    SITE_PLACES
        .iter()
        .map(|place| beside.join(place))
        .find(|dir| dir.join("index.html").is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the web editor is not built: run `scripts/build-editor.sh` in a checkout, \
                 or pass --site DIR (or CPLN_POSTGRES_HA_EDITOR) with the built editor"
            )
        })
}

/// The editor's files, read once: names are a closed set, so no request path ever
/// reaches the file system.
struct Site {
    files: HashMap<String, (Vec<u8>, &'static str)>,
}

impl Site {
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut files = HashMap::new();
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = content_type(&name);
            files.insert(name, (std::fs::read(entry.path())?, kind));
        }
        anyhow::ensure!(
            files.contains_key("index.html"),
            "{} has no index.html: not a built editor",
            dir.display()
        );
        Ok(Self { files })
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "yaml" | "yml" => "text/yaml; charset=utf-8",
        _ => "application/octet-stream",
    }
}

struct Editor {
    file: PathBuf,
    site: Site,
    port: u16,
    /// The link's token until its first use.
    token: Option<String>,
    session: String,
}

/// What a request gets: status, content type and body, plus extra headers.
struct Answer {
    status: u16,
    kind: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            kind: "application/json",
            body: body.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "error": message }))
    }
}

impl Editor {
    fn answer(&mut self, mut request: Request) {
        let answer = self.route(&mut request);
        let mut response = Response::from_data(answer.body).with_status_code(answer.status);
        let mut headers = vec![
            ("Content-Type", answer.kind.to_owned()),
            ("Cache-Control", "no-store".to_owned()),
            ("X-Content-Type-Options", "nosniff".to_owned()),
            ("Referrer-Policy", "no-referrer".to_owned()),
            // The page loads its own files only; nothing leaves the machine.
            (
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                 style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                 connect-src 'self'; frame-ancestors 'none'"
                    .to_owned(),
            ),
        ];
        headers.extend(answer.headers);
        for (name, value) in headers {
            if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }

    fn route(&mut self, request: &mut Request) -> Answer {
        if !self.host_is_ours(request) {
            return Answer::error(403, "this editor answers only on its loopback address");
        }
        let url = request.url().to_owned();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        if path == "/" && query.starts_with("token=") {
            return self.trade_token(&query["token=".len()..]);
        }
        if !self.has_session(request) {
            return Answer::error(
                403,
                "open the link `cpln-postgres-ha edit` printed (each link works once)",
            );
        }
        match (request.method(), path) {
            (Method::Get, "/api/file") => self.load(),
            (Method::Put, "/api/file") => self.save(request),
            (Method::Get, _) => {
                let name = if path == "/" {
                    "index.html"
                } else {
                    &path[1..]
                };
                match self.site.files.get(name) {
                    Some((body, kind)) => Answer {
                        status: 200,
                        kind,
                        body: body.clone(),
                        headers: Vec::new(),
                    },
                    None => Answer::error(404, "no such file"),
                }
            }
            _ => Answer::error(405, "not allowed"),
        }
    }

    fn host_is_ours(&self, request: &Request) -> bool {
        let host = header(request, "Host").unwrap_or_default();
        [
            format!("127.0.0.1:{}", self.port),
            format!("localhost:{}", self.port),
        ]
        .contains(&host.to_owned())
    }

    fn has_session(&self, request: &Request) -> bool {
        header(request, "Cookie").is_some_and(|cookies| {
            cookies
                .split(';')
                .filter_map(|c| c.trim().split_once('='))
                .any(|(name, value)| name == "session" && value == self.session)
        })
    }

    /// The link's token, once: a session cookie, and the page without the token.
    fn trade_token(&mut self, token: &str) -> Answer {
        if self.token.as_deref() != Some(token) {
            return Answer::error(
                403,
                "this link is not valid (each works once): run `cpln-postgres-ha edit` again",
            );
        }
        self.token = None;
        Answer {
            status: 303,
            kind: "text/plain; charset=utf-8",
            body: Vec::new(),
            headers: vec![
                ("Location", "/?edit".to_owned()),
                (
                    "Set-Cookie",
                    format!(
                        "session={}; HttpOnly; SameSite=Strict; Path=/",
                        self.session
                    ),
                ),
            ],
        }
    }

    /// The file as it is now; never a lossy decoding, which a save would write back.
    fn current(&self) -> Result<String, Answer> {
        let bytes =
            read(&self.file, Privacy::Any).map_err(|e| Answer::error(500, &e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| {
            Answer::error(
                409,
                "the file on disk is no longer UTF-8 text; nothing was written",
            )
        })
    }

    fn load(&self) -> Answer {
        match self.current() {
            Ok(text) => Answer::json(
                200,
                &json!({
                    "path": self.file.display().to_string(),
                    "text": text,
                    "version": version(&text),
                }),
            ),
            Err(answer) => answer,
        }
    }

    /// Writes the text if the file is still the one the page loaded.
    fn save(&self, request: &mut Request) -> Answer {
        let mut body = Vec::new();
        let read_body = request
            .as_reader()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body);
        if read_body.is_err() || body.len() > MAX_BODY {
            return Answer::error(413, "the text is larger than a values file may be");
        }
        let Ok(save) = serde_json::from_slice::<Value>(&body) else {
            return Answer::error(400, "expected {\"text\": ..., \"version\": ...}");
        };
        let (Some(text), Some(loaded)) = (save["text"].as_str(), save["version"].as_str()) else {
            return Answer::error(400, "expected {\"text\": ..., \"version\": ...}");
        };
        if text.len() > MAX_BYTES {
            return Answer::error(413, "the text is larger than a values file may be (1 MiB)");
        }
        let before = match self.current() {
            Ok(before) => before,
            Err(answer) => return answer,
        };
        if version(&before) != loaded {
            return Answer::error(
                409,
                "the file changed on disk since the editor loaded it; reload to see it \
                 (your text is still in the editor)",
            );
        }
        let backup = backup_path(&self.file);
        let mode = std::fs::metadata(&self.file).map_or(0o644, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
        });
        let written = write_atomic(&backup, &before, mode)
            .and_then(|()| write_atomic(&self.file, text, mode));
        match written {
            Ok(()) => Answer::json(
                200,
                &json!({
                    "saved": true,
                    "backup": backup.display().to_string(),
                    "version": version(text),
                }),
            ),
            Err(error) => Answer::error(500, &format!("{error:#}")),
        }
    }
}

fn header<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// `values.yaml` → `values.yaml.bak`.
fn backup_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_owned();
    name.push(".bak");
    file.with_file_name(name)
}

/// Identifies a text the page loaded (not a security measure: the session is).
fn version(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016x}-{}", hasher.finish(), text.len())
}

/// Best effort: the link is printed anyway.
fn open_browser(link: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(link)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
