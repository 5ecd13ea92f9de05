//! Shared helpers for the integration tests: paths, the CLI binary, fixtures with
//! inline expectations, and external commands run with a time bound.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use wait_timeout::ChildExt;

pub mod cluster;
pub mod fake_cpln;
pub mod fake_exec;

/// The repository root.
#[must_use]
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `../shared` beside the repository, where the reference fixtures live.
#[must_use]
pub fn shared() -> PathBuf {
    root().join("../shared")
}

/// The seed's example values (the existing template's 1.2.0 values file).
#[must_use]
pub fn seed_values() -> PathBuf {
    shared().join("fixtures/template-values/1.2.0.values.yaml")
}

/// The `cpln-postgres-ha` binary, built once per test process so tests always run the
/// current code (the binary belongs to another package, so cargo does not build it
/// for this one).
#[must_use]
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "cpln-postgres-ha",
                "--bin",
                "cpln-postgres-ha",
            ])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building cpln-postgres-ha failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root().join("target"), PathBuf::from);
        target.join("debug/cpln-postgres-ha")
    })
}

/// What a finished command produced.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` with stdin from `input`, killing it after `limit`.
pub fn run(command: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    let mut child = command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &input);
        });
    }
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let Some(status) = child.wait_timeout(limit).expect("wait works") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} did not finish within {limit:?}");
    };
    Output {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs the CLI with `args` (30 s bound).
#[must_use]
pub fn cli(args: &[&str]) -> Output {
    cli_with(args, None, &[])
}

/// Runs the CLI with `args`, standard input and extra environment.
#[must_use]
pub fn cli_with(args: &[&str], input: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(bin());
    command
        .args(args)
        .current_dir(root())
        .env_remove("NO_COLOR");
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command, input, Duration::from_secs(30))
}

/// A values fixture and the diagnostics it declares with `# expect: CODE@LINE:COL …`.
#[derive(Debug)]
pub struct Fixture {
    pub path: PathBuf,
    pub expected: Vec<String>,
}

/// Every fixture under `tests/fixtures/values`, sorted by name.
#[must_use]
pub fn fixtures() -> Vec<Fixture> {
    let dir = root().join("tests/fixtures/values");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture is UTF-8");
            let mut expected: Vec<String> = text
                .lines()
                .filter_map(|l| l.strip_prefix("# expect:"))
                .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            expected.sort();
            Fixture { path, expected }
        })
        .collect()
}

/// `CODE@LINE:COL` for each diagnostic, sorted: the form fixtures declare.
#[must_use]
pub fn located(checked: &postgres_ha_core::Checked) -> Vec<String> {
    let mut found: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}@{}:{}",
                d.code.as_str(),
                d.start(postgres_ha_core::Encoding::Scalar).line,
                d.start(postgres_ha_core::Encoding::Scalar).column
            )
        })
        .collect();
    found.sort();
    found
}

/// Finds an executable on PATH, or under the repository's `.tools` (where the test
/// command installs the external tools).
#[must_use]
pub fn tool(name: &str) -> PathBuf {
    let local = root().join(".tools/bin").join(name);
    if local.exists() {
        return local;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.exists())
        })
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed; run scripts/test.sh, which installs it")
        })
}

/// Whether the tests run as root (then servers run as `nobody`: PostgreSQL refuses root).
#[must_use]
pub fn is_root() -> bool {
    // The real uid, from the kernel's view of this process (no libc call needed).
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A loopback port free at the time of asking.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Base64 of `text` (the test crate has no base64 dependency; HTTP basic auth and
/// etcd's JSON gateway need it).
#[must_use]
pub fn b64(text: &str) -> String {
    // Small enough to do by hand: the test crate has no base64 dependency.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
