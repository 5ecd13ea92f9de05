//! `edit FILE` serves the editor on loopback to the holder of its one-time link, and
//! saves to the real file: atomically, with a backup, never over a change on disk.
//! (The browser side is tested with Playwright in `web-editor/tests`.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// The editor process, stopped by PID when the test ends.
struct Editing {
    child: Child,
    link: String,
    base: String,
}

impl Drop for Editing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edit(file: &std::path::Path, site: &std::path::Path) -> Editing {
    let mut child = Command::new(postgres_ha_tests::bin())
        .args(["edit", "--no-open", "--site"])
        .arg(site)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let link = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no link in {first:?}"))
        .to_owned();
    let base = link.split_once("/?").unwrap().0.to_owned();
    Editing { child, link, base }
}

fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn edit_serves_its_link_once_and_saves_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><title>editor</title>",
    )
    .unwrap();
    std::fs::write(site.join("app.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not to be served").unwrap();
    let file = dir.path().join("values.yaml");
    let original = "# kept\nreplicas: 3\n";
    std::fs::write(&file, original).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let editing = edit(&file, &site);
    let http = client();

    // Without the link nothing is served; a wrong token or another Host is refused.
    assert_eq!(http.get(&editing.base).send().unwrap().status(), 403);
    let wrong = format!("{}/?token=nope", editing.base);
    assert_eq!(http.get(&wrong).send().unwrap().status(), 403);
    let rebound = http
        .get(&editing.link)
        .header("Host", "evil.example:80")
        .send()
        .unwrap();
    assert_eq!(rebound.status(), 403);

    // The link trades its token for a session cookie, once.
    let traded = http.get(&editing.link).send().unwrap();
    assert_eq!(traded.status(), 303);
    assert_eq!(traded.headers()["location"], "/?edit");
    let cookie = traded.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(http.get(&editing.link).send().unwrap().status(), 403);

    let get = |path: &str| {
        http.get(format!("{}{path}", editing.base))
            .header("Cookie", &session)
            .send()
            .unwrap()
    };
    let page = get("/");
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("<title>editor</title>"));
    assert_eq!(
        get("/app.wasm").headers()["content-type"],
        "application/wasm"
    );
    for outside in ["/../secret.txt", "/%2e%2e/secret.txt", "/site/index.html"] {
        assert_eq!(get(outside).status(), 404, "{outside}");
    }

    let loaded: Value = get("/api/file").json().unwrap();
    assert_eq!(loaded["text"], original);
    let put = |body: &Value| {
        http.put(format!("{}/api/file", editing.base))
            .header("Cookie", &session)
            .json(body)
            .send()
            .unwrap()
    };
    let edited = "# kept\nreplicas: 5\n";
    let saved = put(&json!({"text": edited, "version": loaded["version"]}));
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
    let backup = std::path::Path::new(saved["backup"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(backup).unwrap(), original);
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!((mode(&file), mode(backup)), (0o640, 0o640));

    // A save over a change made on disk meanwhile is refused; the disk wins.
    std::fs::write(&file, "replicas: 1\n").unwrap();
    let stale = put(&json!({"text": "replicas: 7\n", "version": saved["version"]}));
    assert_eq!(stale.status(), 409);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "replicas: 1\n");
    // Oversized or malformed saves change nothing.
    let current: Value = get("/api/file").json().unwrap();
    let huge = "x".repeat(postgres_ha_core::MAX_BYTES + 1);
    assert_eq!(
        put(&json!({"text": huge, "version": current["version"]})).status(),
        413
    );
    assert_eq!(put(&json!({"words": 1})).status(), 400);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "replicas: 1\n");
    // No request without the session changes the file.
    let anonymous = http
        .put(format!("{}/api/file", editing.base))
        .json(&json!({"text": "replicas: 9\n", "version": current["version"]}))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "replicas: 1\n");
}

#[test]
fn edit_refuses_what_it_cannot_edit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let edit_missing = || {
        postgres_ha_tests::run(
            Command::new(postgres_ha_tests::bin())
                .args(["edit", "--no-open", "--site"])
                .arg(dir.path())
                .arg(&missing),
            None,
            Duration::from_secs(20),
        )
    };
    // No built editor in the site directory, then no file to edit.
    let out = edit_missing();
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("index.html"), "{}", out.stderr);
    std::fs::write(dir.path().join("index.html"), "<p>").unwrap();
    let out = edit_missing();
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("missing.yaml"), "{}", out.stderr);
    // Bytes that are not UTF-8 would be changed by a round trip through the browser.
    std::fs::write(&missing, b"replicas: 3 # \xff\n").unwrap();
    let out = edit_missing();
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("not UTF-8"), "{}", out.stderr);
}
