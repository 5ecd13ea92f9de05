//! The Control Plane API over HTTPS: the requests core builds, sent with the bearer
//! token, timeouts and the cpln CLI's retry rule. Every message that leaves this module
//! has the token and the release's passwords masked by value.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use postgres_ha_core::Redactor;
use postgres_ha_core::cpln::{ApiError, ApiRequest, Method, backoff_ms, retryable};
use serde_json::Value;

/// Attempts per request: the first and up to this many minus one retries.
const ATTEMPTS: u32 = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The cpln CLI's default request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one endpoint with one credential.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::blocking::Client,
    endpoint: String,
    authorization: String,
    /// Shared by clones: a value hidden through one is masked by all.
    hidden: Arc<RwLock<Hidden>>,
}

/// The values masked in messages (the token first) and the redactor built from them.
struct Hidden {
    values: Vec<String>,
    redactor: Redactor,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    /// The `Location` header: where a created object (a command) is.
    pub(crate) location: Option<String>,
}

impl Api {
    /// `token` is sent as `Authorization: Bearer …` (a `Bearer ` it already has is kept).
    pub(crate) fn new(endpoint: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("cpln-postgres-ha/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up HTTPS: {e}"))?;
        let bare = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token);
        let values = vec![bare.to_owned()];
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {bare}"),
            hidden: Arc::new(RwLock::new(Hidden {
                redactor: Redactor::new(values.clone()),
                values,
            })),
        })
    }

    /// Masks these values too in every message from now on (the passwords a deploy
    /// sends or a day-2 command reads or sets: an error body might quote them).
    pub(crate) fn hide(&self, values: impl IntoIterator<Item = String>) {
        let Ok(mut hidden) = self.hidden.write() else {
            return;
        };
        let known = hidden.values.len();
        for value in values {
            if !value.is_empty() && !hidden.values.contains(&value) {
                hidden.values.push(value);
            }
        }
        if hidden.values.len() != known {
            hidden.redactor = Redactor::new(hidden.values.clone());
        }
    }

    /// Masks the token and hidden values in `text`.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.hidden.read().map_or_else(
            |_| "(message withheld: the masking state is unusable)".to_owned(),
            |hidden| hidden.redactor.redact(text),
        )
    }

    /// The raw bearer token, for the exec websocket's first frame.
    pub(crate) fn token(&self) -> &str {
        &self.authorization["Bearer ".len()..]
    }

    /// GET a path of the endpoint; `None` when it does not exist (404).
    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        self.get_url(&self.url(path))
    }

    /// The API's URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    /// GET an absolute URL (a deployment's `remote`) with the same credential.
    pub(crate) fn get_url(&self, url: &str) -> anyhow::Result<Option<Value>> {
        let reply = self.call(Method::Get, url, None)?;
        Ok((reply.status != 404).then_some(reply.body))
    }

    /// Sends a request core built. A DELETE of what is already gone succeeds (a retry
    /// after a lost answer finds its own deletion done).
    pub(crate) fn send(&self, request: &ApiRequest) -> anyhow::Result<Reply> {
        let url = format!("{}{}", self.endpoint, request.path);
        let reply = self.call(request.method, &url, request.body.as_ref())?;
        anyhow::ensure!(
            reply.status != 404 || request.method == Method::Delete,
            "{} {}: 404 not found",
            request.method.as_str(),
            request.path
        );
        Ok(reply)
    }

    /// One request with retries; a 404 comes back as a reply, other failures as errors.
    fn call(&self, method: Method, url: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        let shown = url.strip_prefix(&self.endpoint).unwrap_or(url);
        let mut attempt = 0;
        loop {
            let failure = match self.once(method, url, body) {
                Ok(reply) if (200..300).contains(&reply.status) || reply.status == 404 => {
                    return Ok(reply);
                }
                Ok(reply) => Some(ApiError::from_response(
                    reply.status,
                    reply.body.as_str().unwrap_or_default(),
                )),
                Err(network) => {
                    if attempt + 1 >= ATTEMPTS {
                        anyhow::bail!(
                            "{} {shown}: {}",
                            method.as_str(),
                            self.redact(&network_text(&network))
                        );
                    }
                    None
                }
            };
            if attempt + 1 >= ATTEMPTS || !retryable(method, failure.as_ref()) {
                let failure = failure.map_or_else(String::new, |f| f.to_string());
                anyhow::bail!("{} {shown}: {}", method.as_str(), self.redact(&failure));
            }
            std::thread::sleep(Duration::from_millis(backoff_ms(attempt, jitter())));
            attempt += 1;
        }
    }

    /// One attempt. A non-2xx body is kept as text (in `Reply::body` as a string) for
    /// the error; a 2xx body as JSON.
    fn once(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let verb = match method {
            Method::Get => reqwest::Method::GET,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
            Method::Post => reqwest::Method::POST,
        };
        let mut request = self
            .http
            .request(verb, url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text()?;
        let body = if (200..300).contains(&status) {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        } else {
            Value::String(text)
        };
        Ok(Reply {
            status,
            body,
            location,
        })
    }
}

/// A network error with its causes, which reqwest keeps in its source chain.
fn network_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Up to a second of jitter, so clients that failed together do not retry together.
fn jitter() -> u64 {
    let mut bytes = [0u8; 2];
    let _ = getrandom::fill(&mut bytes);
    u64::from(u16::from_le_bytes(bytes)) % 1000
}

#[cfg(test)]
mod tests {
    use super::Api;

    #[test]
    fn hidden_values_are_masked_in_every_clone() {
        let api = Api::new("http://127.0.0.1:9", "Bearer tok3n-tok3n").unwrap();
        let clone = api.clone();
        api.hide(["n3w-pa55word".to_owned(), String::new()]);
        for client in [&api, &clone] {
            let shown = client.redact("token tok3n-tok3n, password n3w-pa55word");
            assert!(
                !shown.contains("tok3n-tok3n") && !shown.contains("n3w-pa55word"),
                "{shown}"
            );
        }
        // Nothing empty is hidden: text stays readable.
        assert_eq!(api.redact("plain"), "plain");
    }
}
