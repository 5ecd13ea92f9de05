//! Which organization, GVC, endpoint and credential a command uses, chosen as the cpln
//! CLI chooses them: flags, then environment, then the profile (`--profile`,
//! `CPLN_PROFILE`, the store's default, or its only profile). The CLI reads the files
//! and the environment; this decides.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The API when neither flags, environment nor profile name one.
pub const DEFAULT_ENDPOINT: &str = "https://api.cpln.io";

/// An access token is refreshed when it has less than this left, as the cpln CLI does.
pub const REFRESH_MARGIN_SECONDS: u64 = 600;

/// What authenticates the calls. `Debug` never shows a token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A service-account key or a token given directly: sent as it is.
    Token(String),
    /// A browser login's access token, renewed with its refresh token.
    Login { access: String, refresh: String },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token(_) => "Token(<hidden>)",
            Self::Login { .. } => "Login(<hidden>)",
        })
    }
}

/// One profile of the cpln CLI's store (`profiles/NAME.json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub org: Option<String>,
    pub gvc: Option<String>,
    pub endpoint: Option<String>,
    pub credential: Option<Credential>,
}

impl Profile {
    /// Reads a profile file; its name is the file's.
    pub fn from_json(name: &str, text: &str) -> Result<Self, ContextError> {
        let raw: Value = serde_json::from_str(text)
            .map_err(|e| ContextError(format!("profile `{name}` is not valid JSON: {e}")))?;
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let credential = match (
            text(&raw["request"]["token"]),
            text(&raw["authInfo"]["accessToken"]),
        ) {
            (Some(token), _) => Some(Credential::Token(token)),
            (None, Some(access)) => Some(Credential::Login {
                access,
                refresh: text(&raw["authInfo"]["refreshToken"]).unwrap_or_default(),
            }),
            (None, None) => None,
        };
        Ok(Self {
            name: name.to_owned(),
            org: text(&raw["context"]["org"]),
            gvc: text(&raw["context"]["gvc"]),
            endpoint: text(&raw["request"]["endpoint"]),
            credential,
        })
    }
}

/// What flags and environment say; `None` where they are silent.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    pub token: Option<String>,
    pub profile: Option<String>,
    pub org: Option<String>,
    pub gvc: Option<String>,
    pub endpoint: Option<String>,
}

/// The profile store as read: its profiles and the name in its `default` file.
#[derive(Clone, Debug, Default)]
pub struct Store {
    pub profiles: Vec<Profile>,
    pub default: Option<String>,
}

/// Everything a call to the API needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub endpoint: String,
    pub org: String,
    pub gvc: Option<String>,
    pub credential: Credential,
    /// The profile used, if any (a refreshed token is written back to it).
    pub profile: Option<String>,
}

/// Why no context could be chosen; says what to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextError(pub String);

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContextError {}

/// Chooses the context: `flags` over `env` over the profile, field by field.
pub fn resolve(flags: &Asked, env: &Asked, store: &Store) -> Result<Context, ContextError> {
    let first =
        |pick: fn(&Asked) -> &Option<String>| pick(flags).clone().or_else(|| pick(env).clone());
    let token = first(|a| &a.token);
    let profile = match first(|a| &a.profile) {
        Some(name) => Some(
            store
                .profiles
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| ContextError(format!("no cpln profile named `{name}`")))?,
        ),
        None => store
            .default
            .as_deref()
            .and_then(|name| store.profiles.iter().find(|p| p.name == name))
            .or(match store.profiles.as_slice() {
                [only] => Some(only),
                _ => None,
            }),
    };
    let credential = token
        .map(Credential::Token)
        .or_else(|| profile.and_then(|p| p.credential.clone()))
        .ok_or_else(|| {
            ContextError(
                "no Control Plane credentials: pass --token or set CPLN_TOKEN, or log in with \
                 `cpln login` (or `cpln profile update NAME --token KEY`)"
                    .into(),
            )
        })?;
    let org = first(|a| &a.org)
        .or_else(|| profile.and_then(|p| p.org.clone()))
        .or_else(|| match &credential {
            Credential::Token(token) => service_account_org(token),
            Credential::Login { .. } => None,
        })
        .ok_or_else(|| ContextError("no organization: pass --org or set CPLN_ORG".into()))?;
    Ok(Context {
        endpoint: first(|a| &a.endpoint)
            .or_else(|| profile.and_then(|p| p.endpoint.clone()))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
            .trim_end_matches('/')
            .to_owned(),
        org,
        gvc: first(|a| &a.gvc).or_else(|| profile.and_then(|p| p.gvc.clone())),
        credential,
        profile: profile.map(|p| p.name.clone()),
    })
}

/// The organization a service-account key belongs to: its second dot-separated part
/// is base64url of `ORG.ACCOUNT.…`.
#[must_use]
pub fn service_account_org(token: &str) -> Option<String> {
    if !token.starts_with('s') {
        return None;
    }
    let part = token.split('.').nth(1)?;
    let decoded =
        String::from_utf8(URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?).ok()?;
    decoded
        .split('.')
        .next()
        .filter(|org| !org.is_empty())
        .map(str::to_owned)
}

/// Whether a login's access token (a JWT) expires within the margin at `now` (Unix
/// seconds); an unreadable token is refreshed.
#[must_use]
pub fn needs_refresh(access: &str, now: u64) -> bool {
    let expiry = access
        .split('.')
        .nth(1)
        .and_then(|claims| URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok())
        .and_then(|claims| serde_json::from_slice::<Value>(&claims).ok())
        .and_then(|claims| claims["exp"].as_u64());
    expiry.is_none_or(|exp| exp.saturating_sub(now) < REFRESH_MARGIN_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, org: &str, token: &str) -> Profile {
        Profile::from_json(
            name,
            &format!(
                r#"{{"name":"{name}","context":{{"org":"{org}","gvc":"g-{name}"}},
                    "request":{{"endpoint":"https://api.test.cpln.io/","token":"{token}"}},
                    "authInfo":{{"email":"[sa]","accessToken":"","refreshToken":""}}}}"#
            ),
        )
        .unwrap()
    }

    #[test]
    fn flags_then_environment_then_the_profile() {
        let store = Store {
            profiles: vec![profile("a", "org-a", "ta"), profile("b", "org-b", "tb")],
            default: Some("b".into()),
        };
        let none = Asked::default();
        let from_default = resolve(&none, &none, &store).unwrap();
        assert_eq!(
            (from_default.org.as_str(), from_default.gvc.as_deref()),
            ("org-b", Some("g-b"))
        );
        assert_eq!(from_default.endpoint, "https://api.test.cpln.io");
        assert_eq!(from_default.credential, Credential::Token("tb".into()));
        let env = Asked {
            profile: Some("a".into()),
            org: Some("env-org".into()),
            ..Asked::default()
        };
        let flags = Asked {
            org: Some("flag-org".into()),
            token: Some("direct".into()),
            ..Asked::default()
        };
        let chosen = resolve(&flags, &env, &store).unwrap();
        assert_eq!(chosen.org, "flag-org");
        assert_eq!(chosen.gvc.as_deref(), Some("g-a"));
        assert_eq!(chosen.credential, Credential::Token("direct".into()));
        assert_eq!(chosen.profile.as_deref(), Some("a"));
        let missing = Asked {
            profile: Some("zz".into()),
            ..Asked::default()
        };
        assert!(
            resolve(&missing, &none, &store)
                .unwrap_err()
                .0
                .contains("`zz`")
        );
        // No default file and two profiles: none is guessed.
        let two = Store {
            default: None,
            ..store
        };
        assert!(
            resolve(&none, &none, &two)
                .unwrap_err()
                .0
                .contains("--token")
        );
    }

    #[test]
    fn a_token_alone_is_enough_when_it_names_its_org() {
        let key = format!("s{}.{}.sig", "x", URL_SAFE_NO_PAD.encode("acme.deployer.1"));
        assert_eq!(service_account_org(&key).as_deref(), Some("acme"));
        let flags = Asked {
            token: Some(key),
            ..Asked::default()
        };
        let context = resolve(&flags, &Asked::default(), &Store::default()).unwrap();
        assert_eq!(
            (context.org.as_str(), context.endpoint.as_str()),
            ("acme", DEFAULT_ENDPOINT)
        );
        assert!(!format!("{context:?}").contains("deployer"));
        assert_eq!(service_account_org("eyJhbGciOi.x.y"), None);
    }

    #[test]
    fn login_tokens_are_refreshed_before_they_expire() {
        let jwt = |exp: u64| {
            format!(
                "eyJhbGciOiJSUzI1NiJ9.{}.sig",
                URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#))
            )
        };
        assert!(!needs_refresh(&jwt(10_000), 9_000));
        assert!(needs_refresh(&jwt(10_000), 9_500));
        assert!(needs_refresh(&jwt(10_000), 20_000));
        assert!(needs_refresh("not-a-jwt", 0));
        let login = Profile::from_json(
            "me",
            r#"{"context":{"org":"o"},"authInfo":{"accessToken":"ey.a.b","refreshToken":"r"}}"#,
        )
        .unwrap();
        assert!(matches!(login.credential, Some(Credential::Login { .. })));
        assert!(!format!("{login:?}").contains("ey.a.b"));
        assert!(Profile::from_json("bad", "{").is_err());
    }
}
