//! The hooks in `.pre-commit-hooks.yaml`, run by the real `pre-commit` in a scratch
//! git repository: an invalid values file is refused with its diagnostic shown, a
//! valid one is committed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postgres_ha_tests::{Output, bin, root, run, tool};

fn git(dir: &Path, args: &[&str]) -> Output {
    run(
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid"),
        None,
        Duration::from_secs(60),
    )
}

fn git_ok(dir: &Path, args: &[&str]) {
    let out = git(dir, args);
    assert_eq!(out.code, Some(0), "git {args:?}: {out:?}");
}

/// A scratch repository with the hook configured and installed; PATH gets `extra`.
struct Scratch {
    dir: tempfile::TempDir,
    path: String,
    home: tempfile::TempDir,
}

impl Scratch {
    fn new(config: &str, extra_path: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        git_ok(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join(".pre-commit-config.yaml"), config).unwrap();
        let path = format!(
            "{}:{}:{}",
            extra_path.display(),
            tool("pre-commit").parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let scratch = Self { dir, path, home };
        let install = scratch.pre_commit(&["install"]);
        assert_eq!(install.code, Some(0), "{install:?}");
        git_ok(scratch.dir.path(), &["add", ".pre-commit-config.yaml"]);
        scratch
    }

    fn pre_commit(&self, args: &[&str]) -> Output {
        run(
            Command::new(tool("pre-commit"))
                .args(args)
                .current_dir(self.dir.path())
                .env("PATH", &self.path)
                .env("PRE_COMMIT_HOME", self.home.path()),
            None,
            Duration::from_secs(900),
        )
    }

    /// Commits `values.yaml` with `text` through `git commit` (so the installed hook runs).
    fn commit(&self, text: &str) -> Output {
        std::fs::write(self.dir.path().join("values.yaml"), text).unwrap();
        git_ok(self.dir.path(), &["add", "values.yaml"]);
        let mut command = Command::new("git");
        command
            .args(["commit", "-q", "-m", "values"])
            .current_dir(self.dir.path())
            .env("PATH", &self.path)
            .env("PRE_COMMIT_HOME", self.home.path())
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid");
        run(&mut command, None, Duration::from_secs(900))
    }
}

const INVALID: &str =
    "replicas: 3\netcd:\n  replicas: 4\npostgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n";
const VALID: &str =
    "replicas: 3\netcd:\n  replicas: 3\npostgres:\n  password: kR7-vQ2p-Lm9x-Tz4w\n";

fn assert_refuses_then_accepts(scratch: &Scratch) {
    let refused = scratch.commit(INVALID);
    assert_ne!(
        refused.code,
        Some(0),
        "invalid values were committed: {refused:?}"
    );
    let shown = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        shown.contains("error[R003]"),
        "diagnostic not shown:\n{shown}"
    );
    assert!(
        shown.contains("values.yaml:3:13"),
        "position not shown:\n{shown}"
    );
    let accepted = scratch.commit(VALID);
    assert_eq!(
        accepted.code,
        Some(0),
        "valid values were refused: {accepted:?}"
    );
    let log = git(scratch.dir.path(), &["log", "--oneline"]);
    assert_eq!(log.stdout.lines().count(), 1);
}

#[test]
fn system_hook_blocks_invalid_values() {
    let hooks = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    // A local repo entry with the manifest's own system hook definition.
    let hook = hooks
        .split("\n- ")
        .find(|h| h.contains("id: cpln-postgres-ha-validate-system"))
        .unwrap();
    let config = format!(
        "repos:\n- repo: local\n  hooks:\n  - {}",
        hook.trim().replace("\n  ", "\n    ")
    );
    let scratch = Scratch::new(&config, bin().parent().unwrap());
    assert_refuses_then_accepts(&scratch);
}

/// pre-commit clones the hook repository at a revision and runs `cargo install` in it,
/// so this builds a snapshot of the current sources as a one-commit repository.
#[test]
fn rust_hook_builds_and_blocks_invalid_values() {
    let source = tempfile::tempdir().unwrap();
    let tracked = git(
        &root(),
        &["ls-files", "--cached", "--others", "--exclude-standard"],
    );
    for file in tracked.stdout.lines() {
        let from = root().join(file);
        if !from.is_file() {
            continue;
        }
        let to = source.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git_ok(source.path(), &["init", "-q", "-b", "main"]);
    git_ok(source.path(), &["add", "-A"]);
    git_ok(source.path(), &["commit", "-q", "-m", "snapshot"]);
    let rev = git(source.path(), &["rev-parse", "HEAD"])
        .stdout
        .trim()
        .to_owned();
    let config = format!(
        "repos:\n- repo: {}\n  rev: {rev}\n  hooks:\n  - id: cpln-postgres-ha-validate\n",
        source.path().display()
    );
    // An empty PATH prefix: the hook must find only what pre-commit built.
    let scratch = Scratch::new(&config, Path::new("/nonexistent"));
    let installed = scratch.pre_commit(&["install-hooks"]);
    assert_eq!(
        installed.code,
        Some(0),
        "cargo install through pre-commit failed: {installed:?}"
    );
    assert_refuses_then_accepts(&scratch);
}
