//! Reaching Patroni and PostgreSQL inside a member's container through the workload
//! exec websocket, without I/O: the first frame, a script wrapped with an end marker
//! (the platform does not report the remote exit status reliably), reading the output
//! back, and the scripts themselves. Secrets never travel in a command: the container
//! has its passwords in its environment, and other values go through standard input.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::operate::{Answer, Login, Request, Sql};
use crate::render::{PASSWORD_ENV, PATRONI_PORT, POSTGRES_PORT, RESTAPI_USER, SUPERUSER};

/// The container of a PostgreSQL member that runs Patroni.
pub const CONTAINER: &str = "postgres";

/// What the platform's terminal server says instead of running a command.
const BACKEND_ERRORS: [&str; 3] = [
    "Unauthorized: ",
    "unable to write to the audit trail: ",
    "Failed to create terminal session: ",
];

/// Where the wrapped command's end marker starts.
const END_MARKER: &str = "__postgres_ha_end_";

/// The exec socket's first frame (protocol `v4`). `token` without `Bearer `.
#[must_use]
pub fn first_frame(
    token: &str,
    place: &super::Place,
    pod: &str,
    command: &[String],
    context_id: &str,
    stdin: bool,
) -> Value {
    json!({
        "requestVersion": "v4",
        "token": token,
        "org": place.org,
        "gvc": place.gvc,
        "pod": pod,
        "container": CONTAINER,
        "contextId": context_id,
        "command": command,
        "stdin": stdin,
        "tty": false,
        "quiet": false,
    })
}

/// The command that runs `script` with bash and then prints an end marker with its
/// exit status; `nonce` keeps output that happens to look like a marker from
/// counting.
#[must_use]
pub fn wrap(script: &str, nonce: &str) -> Vec<String> {
    vec![
        "/bin/bash".into(),
        "-c".into(),
        format!("(\n{script}\n)\nprintf '\\n{END_MARKER}{nonce} %s\\n' \"$?\"\n"),
    ]
}

/// Why an exec did not give a command's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// The terminal server refused (a permission, the audit trail, the session).
    Refused(String),
    /// The stream ended before the end marker: the command did not finish.
    Unfinished(String),
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(message) => write!(f, "the platform refused the exec: {message}"),
            Self::Unfinished(tail) => write!(
                f,
                "the command ended without its end marker (cut off or killed){}",
                if tail.is_empty() {
                    String::new()
                } else {
                    format!("; its last output: {tail}")
                }
            ),
        }
    }
}

impl std::error::Error for ExecError {}

impl ExecError {
    /// Whether the command never started and trying again is safe: the terminal
    /// server could not create the session (the container is starting or gone).
    #[must_use]
    pub fn not_started(&self) -> bool {
        matches!(self, Self::Refused(message) if message.starts_with(BACKEND_ERRORS[2]))
    }
}

/// The command's output (stdout and stderr together, as the platform sends them) and
/// its exit status, from everything the socket delivered.
pub fn finished(output: &str, nonce: &str) -> Result<(String, i32), ExecError> {
    let marker = format!("\n{END_MARKER}{nonce} ");
    if let Some(at) = output.rfind(&marker) {
        let rest = &output[at + marker.len()..];
        let status = rest
            .lines()
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(-1);
        return Ok((output[..at].to_owned(), status));
    }
    let last = output
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if BACKEND_ERRORS.iter().any(|e| last.starts_with(e)) {
        return Err(ExecError::Refused(last.to_owned()));
    }
    let tail: String = last.chars().take(200).collect();
    Err(ExecError::Unfinished(tail))
}

/// Quotes `text` for bash as one word.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn env_of(key: crate::render::CredentialKey) -> &'static str {
    PASSWORD_ENV
        .iter()
        .find(|(_, k)| *k == key)
        .map_or("", |(name, _)| name)
}

/// A script that sends `request` to the member's own Patroni with curl and prints the
/// answer's body, a newline and its status; the request body comes on standard input.
/// Requests that change something carry the REST API credentials from the container's
/// environment.
#[must_use]
pub fn patroni_script(request: &Request, timeout_seconds: u64) -> String {
    let method = request.method.as_str();
    let mut script =
        format!("curl -sS --max-time {timeout_seconds} -X {method} -w '\\n%{{http_code}}'");
    if request.needs_credentials() {
        let _ = write!(
            script,
            " -u \"{RESTAPI_USER}:${}\"",
            env_of(crate::render::CredentialKey::RestApi)
        );
    }
    if request.body.is_some() {
        script.push_str(" -H 'Content-Type: application/json' --data-binary @-");
    }
    let _ = write!(
        script,
        " {}",
        quoted(&format!("http://127.0.0.1:{PATRONI_PORT}{}", request.path))
    );
    script
}

/// What `patroni_script` reads on standard input.
#[must_use]
pub fn patroni_input(request: &Request) -> Option<String> {
    request.body.as_ref().map(Value::to_string)
}

/// Patroni's answer from `patroni_script`'s output.
#[must_use]
pub fn patroni_answer(output: &str) -> Option<Answer> {
    let (body, status) = output.rsplit_once('\n').unwrap_or(("", output));
    let status = status
        .trim()
        .parse()
        .ok()
        .filter(|s| (100..600).contains(s))?;
    Some(Answer {
        status,
        body: body.to_owned(),
    })
}

/// A script that runs SQL as the superuser on the member's own PostgreSQL. Standard
/// input holds a password to try first, NUL-terminated (empty for none: during a
/// rotation, a member not yet restarted has the old one in its environment while the
/// database already takes the new one), then the statements ([`psql_input`]). A
/// refused password moves on to the environment's.
#[must_use]
pub fn psql_script() -> String {
    format!(
        r#"IFS= read -r -d '' first; input="$(cat)"
for password in ${{first:+"$first"}} "${env}"; do
out="$(printf '%s\n' "$input" | PGPASSWORD="$password" PGCONNECT_TIMEOUT=3 PGAPPNAME=cpln-postgres-ha psql -h 127.0.0.1 -p {POSTGRES_PORT} -U {SUPERUSER} -d postgres --no-psqlrc --no-align --tuples-only --quiet -v ON_ERROR_STOP=1 -f - 2>&1)"; code=$?
case "$code $out" in
"0 "*) printf '%s\n' "$out"; exit 0 ;;
*'password authentication failed'*) continue ;;
esac
printf '%s\n' "$out"; exit "$code"
done
printf '%s\n' "$out"; exit 1"#,
        env = env_of(crate::render::CredentialKey::Superuser)
    )
}

/// `psql_script`'s standard input: the password to try first (`None`: the
/// environment's only), then each variable as a `\set` (quoted as psql reads quoted
/// meta-command arguments), then the statement.
#[must_use]
pub fn psql_input(sql: &Sql, first: Option<&str>) -> String {
    let mut input = format!("{}\0", first.unwrap_or_default());
    for (name, value) in &sql.variables {
        let mut escaped = String::with_capacity(value.len());
        for c in value.chars() {
            match c {
                '\\' => escaped.push_str(r"\\"),
                '\'' => escaped.push_str("''"),
                '\n' => escaped.push_str(r"\n"),
                '\r' => escaped.push_str(r"\r"),
                other => escaped.push(other),
            }
        }
        let _ = writeln!(input, "\\set {name} '{escaped}'");
    }
    input.push_str(sql.text);
    input.push_str(";\n");
    input
}

/// A script that tries a login and says whether it was accepted, reading the role (for
/// a database login) and the password from standard input, NUL-terminated
/// ([`login_input`]): neither may appear in a command line. Its output ends with
/// `accepted` or `refused`; anything else is a failure to try.
#[must_use]
pub fn login_script(login: &Login) -> String {
    match login {
        Login::Database { replication, .. } => {
            let (extra, statement) = if *replication {
                (" replication=true", "IDENTIFY_SYSTEM")
            } else {
                ("", "SELECT 1")
            };
            // psql takes the role from PGUSER: no quoting of it needed.
            format!(
                r#"IFS= read -r -d '' PGUSER; IFS= read -r -d '' PGPASSWORD; export PGUSER PGPASSWORD
out="$(psql "dbname=postgres connect_timeout=3{extra}" -h 127.0.0.1 -p {POSTGRES_PORT} --no-psqlrc -Atc '{statement}' 2>&1)"; code=$?
if [ $code -eq 0 ]; then echo accepted
elif printf '%s' "$out" | grep -q 'password authentication failed'; then echo refused
else printf '%s\n' "$out"; exit 1; fi"#
            )
        }
        // curl reads the credentials from its configuration on standard input.
        Login::RestApi => format!(
            r#"IFS= read -r -d '' role; IFS= read -r -d '' password
escaped="$(printf '%s:%s' "$role" "$password" | sed 's/[\\"]/\\&/g')"
code="$(printf 'user = "%s"\n' "$escaped" | curl -sS --max-time 10 -K - -o /dev/null -w '%{{http_code}}' -X POST 'http://127.0.0.1:{PATRONI_PORT}/reload')" || exit 1
if [ "$code" = 401 ]; then echo refused; else echo accepted; fi"#
        ),
    }
}

/// [`login_script`]'s standard input.
#[must_use]
pub fn login_input(login: &Login, password: &str) -> String {
    let role = match login {
        Login::Database { user, .. } => user.as_str(),
        Login::RestApi => RESTAPI_USER,
    };
    format!("{role}\0{password}\0")
}

/// Whether a login was accepted, from [`login_script`]'s output; `None` when the
/// script could not try (its output says why).
#[must_use]
pub fn login_accepted(output: &str) -> Option<bool> {
    match output.lines().rev().find(|l| !l.trim().is_empty())?.trim() {
        "accepted" => Some(true),
        "refused" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_marker_gives_status_and_output() {
        let command = wrap("echo hi", "n1");
        assert_eq!(command[0], "/bin/bash");
        assert!(command[2].contains("__postgres_ha_end_n1"));
        let (output, status) = finished("hi\n\n__postgres_ha_end_n1 3\n", "n1").unwrap();
        assert_eq!((output.as_str(), status), ("hi\n", 3));
        // A marker with another nonce is output, not the end.
        assert!(matches!(
            finished("x\n__postgres_ha_end_zz 0\n", "n1"),
            Err(ExecError::Unfinished(_))
        ));
        assert!(
            finished(
                "Failed to create terminal session: no pod, exit code 1\n",
                "n1"
            )
            .unwrap_err()
            .not_started()
        );
        assert!(
            !finished("Unauthorized: no, exit code 1\n", "n1")
                .unwrap_err()
                .not_started()
        );
        assert_eq!(
            finished("Unauthorized: no exec permission, exit code 1\n", "n1"),
            Err(ExecError::Refused(
                "Unauthorized: no exec permission, exit code 1".into()
            ))
        );
    }

    #[test]
    fn patroni_requests_become_curl_and_answers_come_back() {
        let script = patroni_script(&Request::cluster(), 3);
        assert!(script.contains("-X GET"));
        assert!(script.ends_with("'http://127.0.0.1:8008/cluster'"));
        assert!(!script.contains("-u "));
        let change = Request::reload();
        let script = patroni_script(&change, 60);
        assert!(script.contains("-u \"patroni:$PATRONI_RESTAPI_PASSWORD\""));
        let answer = patroni_answer("{\"members\":[]}\n200").unwrap();
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "{\"members\":[]}")
        );
        assert_eq!(patroni_answer("\n503").unwrap().status, 503);
        assert!(patroni_answer("curl: (7) Failed to connect").is_none());
    }

    #[test]
    fn logins_take_role_and_password_from_standard_input() {
        let login = Login::Database {
            user: "app".into(),
            replication: false,
        };
        let script = login_script(&login);
        assert!(!script.contains("app") && script.contains("PGUSER"));
        assert_eq!(login_input(&login, "pw"), "app\0pw\0");
        assert_eq!(login_input(&Login::RestApi, "pw"), "patroni\0pw\0");
        assert!(login_script(&Login::RestApi).contains("-K -"));
        assert_eq!(login_accepted("x\naccepted\n"), Some(true));
        assert_eq!(login_accepted("refused\n"), Some(false));
        assert_eq!(login_accepted("psql: could not connect\n"), None);
    }

    #[test]
    fn sql_variables_go_through_standard_input_quoted() {
        let sql = Sql {
            text: "SELECT :'v'",
            variables: vec![("v", "it's a \\ test\nok".into())],
        };
        assert_eq!(
            psql_input(&sql, None),
            "\0\\set v 'it''s a \\\\ test\\nok'\nSELECT :'v';\n"
        );
        assert!(psql_input(&sql, Some("new")).starts_with("new\0\\set v"));
        assert!(psql_script().contains(r#""$PATRONI_SUPERUSER_PASSWORD"; do"#));
        assert!(psql_script().contains("-p 5432 -U postgres"));
    }
}
