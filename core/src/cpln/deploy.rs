//! Deploying a rendered release, without I/O: the reads a deploy makes, then from their
//! answers the plan — create, update or leave each resource — and its requests.

use std::fmt::Write as _;

use serde_json::Value;

use super::api::{ApiRequest, Kind, Method, Place};

/// What a deploy does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Unchanged,
    /// A resource of the release these values no longer render (the proxy turned
    /// off): deleted after everything else is applied.
    Delete,
}

impl Change {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Delete => "delete",
        }
    }
}

/// One resource of the plan: its change and, unless unchanged, the request.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub kind: Kind,
    pub name: String,
    pub change: Change,
    pub request: Option<ApiRequest>,
}

/// A rendered resource this module cannot place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

fn identify(resource: &Value) -> Result<(Kind, &str), PlanError> {
    let kind = resource["kind"].as_str().unwrap_or_default();
    let kind = Kind::parse(kind).ok_or_else(|| PlanError(format!("unknown kind `{kind}`")))?;
    let name = resource["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| PlanError(format!("a {kind} without a name")))?;
    Ok((kind, name))
}

/// The tag each applied resource carries: a digest of the body last applied. A field
/// the release stops setting changes the digest, which comparing the fields it sets
/// cannot notice. Secret data is left out of the digest (a digest of a password is
/// not to be published in a tag); it is compared whole instead.
pub const APPLIED_TAG: &str = "app.cpln.io/applied-digest";

/// The reads that tell what exists, one per rendered resource, in order. Secrets are
/// revealed: their data is compared, and a deploy keeps the passwords it finds.
pub fn reads(at: &Place, rendered: &[Value]) -> Result<Vec<ApiRequest>, PlanError> {
    rendered
        .iter()
        .map(|r| identify(r).map(|(kind, name)| ApiRequest::get(kind.read(at, name))))
        .collect()
}

/// The plan, in apply order, from the rendered resources and what each read found
/// (`None`: 404). A resource is unchanged when it carries the digest of this body
/// and every field the release sets still holds that value (so an edit made by
/// hand is undone); fields the API adds (`id`, `version`, `status`, defaults) are
/// not compared, so a second deploy of the same values sends nothing.
pub fn plan_deploy(
    at: &Place,
    rendered: &[Value],
    existing: &[Option<Value>],
) -> Result<Vec<Step>, PlanError> {
    if rendered.len() != existing.len() {
        return Err(PlanError(format!(
            "{} resources but {} reads",
            rendered.len(),
            existing.len()
        )));
    }
    let mut steps = rendered
        .iter()
        .zip(existing)
        .map(|(resource, found)| {
            let (kind, name) = identify(resource)?;
            let body = body(resource);
            let change = match found {
                None => Change::Create,
                Some(found) if current(&body, found) => Change::Unchanged,
                Some(_) => Change::Update,
            };
            Ok(Step {
                kind,
                name: name.to_owned(),
                change,
                // Apply is a PUT on the collection: an upsert, whichever it turns out.
                request: (change != Change::Unchanged).then(|| ApiRequest {
                    method: Method::Put,
                    path: kind.collection(at),
                    body: Some(body),
                }),
            })
        })
        .collect::<Result<Vec<_>, PlanError>>()?;
    steps.sort_by_key(|s| s.kind); // stable: render order within a kind
    Ok(steps)
}

/// The release's resources (`all`, by kind and name) that `rendered` leaves out:
/// the candidates a deploy reads and, where they exist, deletes. Volume sets are
/// never among them: their data outlives any change of values.
#[must_use]
pub fn leftovers<'a>(all: &[(Kind, &'a str)], rendered: &[Value]) -> Vec<(Kind, &'a str)> {
    all.iter()
        .copied()
        .filter(|(kind, name)| {
            *kind != Kind::VolumeSet
                && !rendered
                    .iter()
                    .any(|r| identify(r).is_ok_and(|(k, n)| k == *kind && n == *name))
        })
        .collect()
}

/// The steps that delete these resources, in reverse apply order (workloads before
/// the secrets they mount and the volume sets they use): the leftovers a deploy
/// found, or a whole release.
#[must_use]
pub fn plan_prune(at: &Place, existing_leftovers: &[(Kind, &str)]) -> Vec<Step> {
    let mut items = existing_leftovers.to_vec();
    items.sort_by_key(|(kind, _)| std::cmp::Reverse(*kind));
    items
        .into_iter()
        .map(|(kind, name)| Step {
            kind,
            name: name.to_owned(),
            change: Change::Delete,
            request: Some(ApiRequest {
                method: Method::Delete,
                path: kind.item(at, name),
                body: None,
            }),
        })
        .collect()
}

/// The deletions of a release's resources, in reverse apply order; volume sets (the
/// data) only when asked.
#[must_use]
pub fn plan_destroy(at: &Place, resources: &[(Kind, &str)], keep_volumes: bool) -> Vec<Step> {
    let items: Vec<(Kind, &str)> = resources
        .iter()
        .copied()
        .filter(|(kind, _)| !(keep_volumes && *kind == Kind::VolumeSet))
        .collect();
    plan_prune(at, &items)
}

/// What is sent: the resource without `gvc`, which the collection path carries (the
/// API does not store it as a field), tagged with its digest.
fn body(resource: &Value) -> Value {
    let mut body = resource.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("gvc");
    }
    let digest = digest(&body);
    if let Some(object) = body.as_object_mut() {
        let tags = object
            .entry("tags")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(tags) = tags.as_object_mut() {
            tags.insert(APPLIED_TAG.into(), Value::String(digest));
        }
    }
    body
}

/// SHA-256 (hex) of the body without its digest tag and secret data.
fn digest(body: &Value) -> String {
    use sha2::Digest as _;
    let mut plain = body.clone();
    if let Some(object) = plain.as_object_mut() {
        object.remove("data");
        if let Some(tags) = object.get_mut("tags").and_then(Value::as_object_mut) {
            tags.remove(APPLIED_TAG);
        }
    }
    let mut hex = String::with_capacity(64);
    for byte in sha2::Sha256::digest(plain.to_string().as_bytes()) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Whether `found` is what applying `body` leaves: the same digest, every field the
/// body sets, and for a secret exactly its data (a key dropped from it is a change).
fn current(body: &Value, found: &Value) -> bool {
    found["tags"][APPLIED_TAG] == body["tags"][APPLIED_TAG]
        && holds(body, found)
        && (body.get("data").is_none() || body["data"] == found["data"])
}

/// Whether `found` holds every value `wanted` sets: objects key by key (extra keys
/// in `found` are the API's), arrays element by element and of the same length.
fn holds(wanted: &Value, found: &Value) -> bool {
    match (wanted, found) {
        (Value::Object(wanted), Value::Object(found)) => wanted
            .iter()
            .all(|(key, value)| found.get(key).is_some_and(|f| holds(value, f))),
        (Value::Array(wanted), Value::Array(found)) => {
            wanted.len() == found.len() && wanted.iter().zip(found).all(|(w, f)| holds(w, f))
        }
        (Value::Number(wanted), Value::Number(found)) => wanted.as_f64() == found.as_f64(),
        _ => wanted == found,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at() -> Place {
        Place {
            org: "acme".into(),
            gvc: "prod".into(),
        }
    }

    fn release() -> Vec<Value> {
        vec![
            json!({"kind": "workload", "name": "db-postgres", "gvc": "prod",
                   "spec": {"type": "stateful", "containers": [{"name": "pg", "cpu": "1"}]}}),
            json!({"kind": "secret", "name": "db-credentials", "type": "dictionary",
                   "data": {"password": "x"}}),
            json!({"kind": "volumeset", "name": "db-postgres-vs", "gvc": "prod",
                   "spec": {"initialCapacity": 10}}),
        ]
    }

    #[test]
    fn a_first_deploy_creates_everything_in_apply_order() {
        let rendered = release();
        let reads = reads(&at(), &rendered).unwrap();
        assert_eq!(reads[0].path, "/org/acme/gvc/prod/workload/db-postgres");
        assert_eq!(reads[1].path, "/org/acme/secret/db-credentials/-reveal");
        let plan = plan_deploy(&at(), &rendered, &[None, None, None]).unwrap();
        let order: Vec<_> = plan.iter().map(|s| (s.kind, s.change)).collect();
        assert_eq!(
            order,
            [
                (Kind::Secret, Change::Create),
                (Kind::VolumeSet, Change::Create),
                (Kind::Workload, Change::Create)
            ]
        );
        let put = plan[2].request.as_ref().unwrap();
        assert_eq!(put.method, Method::Put);
        assert_eq!(put.path, "/org/acme/gvc/prod/workload");
        assert!(put.body.as_ref().unwrap().get("gvc").is_none());
    }

    #[test]
    fn what_the_api_adds_is_no_change_and_what_we_set_is() {
        let rendered = release();
        // As the API returns them: bookkeeping, defaults, a float for an integer.
        let stored: Vec<Option<Value>> = rendered
            .iter()
            .map(|r| {
                let mut found = body(r);
                found["id"] = json!("a1");
                found["version"] = json!(3);
                found["status"] = json!({"endpoint": "x"});
                if found["kind"] == "workload" {
                    found["spec"]["containers"][0]["inheritEnv"] = json!(false);
                }
                if found["kind"] == "volumeset" {
                    found["spec"]["initialCapacity"] = json!(10.0);
                }
                Some(found)
            })
            .collect();
        let plan = plan_deploy(&at(), &rendered, &stored).unwrap();
        assert!(
            plan.iter()
                .all(|s| s.change == Change::Unchanged && s.request.is_none())
        );

        let mut changed = stored.clone();
        changed[0].as_mut().unwrap()["spec"]["containers"][0]["cpu"] = json!("2");
        changed[1].as_mut().unwrap()["data"] = json!({"password": "x", "extra": "y"});
        let plan = plan_deploy(&at(), &rendered, &changed).unwrap();
        let updated: Vec<_> = plan
            .iter()
            .filter(|s| s.change == Change::Update)
            .map(|s| s.kind)
            .collect();
        // The workload's cpu is ours; a secret's data is ours whole.
        assert_eq!(updated, [Kind::Secret, Kind::Workload]);
        // An array that grew or shrank is a change.
        let mut fewer = stored;
        fewer[0].as_mut().unwrap()["spec"]["containers"] = json!([]);
        let plan = plan_deploy(&at(), &rendered, &fewer).unwrap();
        assert_eq!(plan[2].change, Change::Update);
    }

    #[test]
    fn a_field_the_release_stops_setting_is_a_change() {
        let before = release();
        let stored: Vec<Option<Value>> = before.iter().map(|r| Some(body(r))).collect();
        let mut after = before.clone();
        after[0]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("cpu");
        let plan = plan_deploy(&at(), &after, &stored).unwrap();
        let workload = plan.iter().find(|s| s.kind == Kind::Workload).unwrap();
        assert_eq!(workload.change, Change::Update);
        // The digest leaves secret data out: no password's digest in a tag.
        let secret = body(&before[1]);
        let mut other = before[1].clone();
        other["data"]["password"] = json!("y");
        assert_eq!(
            secret["tags"][APPLIED_TAG],
            body(&other)["tags"][APPLIED_TAG]
        );
    }

    #[test]
    fn destroy_runs_in_reverse_and_keeps_volumes_when_asked() {
        let rendered = release();
        let items: Vec<(Kind, &str)> = rendered.iter().map(|r| identify(r).unwrap()).collect();
        let all = plan_destroy(&at(), &items, false);
        let paths: Vec<_> = all
            .iter()
            .map(|s| s.request.as_ref().unwrap().path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "/org/acme/gvc/prod/workload/db-postgres",
                "/org/acme/gvc/prod/volumeset/db-postgres-vs",
                "/org/acme/secret/db-credentials"
            ]
        );
        assert!(
            all.iter().all(|s| s.change == Change::Delete
                && s.request.as_ref().unwrap().method == Method::Delete)
        );
        let kept = plan_destroy(&at(), &items, true);
        assert_eq!(kept.len(), 2);
        assert!(!kept.iter().any(|s| s.kind == Kind::VolumeSet));
    }

    #[test]
    fn resources_no_longer_rendered_are_deleted_but_never_volumes() {
        let rendered = release();
        let all = [
            (Kind::Secret, "db-credentials"),
            (Kind::Secret, "db-proxy-start"),
            (Kind::VolumeSet, "db-postgres-vs"),
            (Kind::VolumeSet, "db-old-vs"),
            (Kind::Workload, "db-postgres"),
            (Kind::Workload, "db-proxy"),
        ];
        let left = leftovers(&all, &rendered);
        assert_eq!(
            left,
            [
                (Kind::Secret, "db-proxy-start"),
                (Kind::Workload, "db-proxy")
            ]
        );
        let steps = plan_prune(&at(), &left);
        assert_eq!(steps[0].kind, Kind::Workload);
        assert!(
            steps.iter().all(|s| s.change == Change::Delete
                && s.request.as_ref().unwrap().method == Method::Delete)
        );
    }

    #[test]
    fn resources_it_cannot_place_are_refused() {
        let odd = [json!({"kind": "gvc", "name": "prod"})];
        assert!(reads(&at(), &odd).is_err());
        let nameless = [json!({"kind": "secret"})];
        assert!(plan_deploy(&at(), &nameless, &[None]).is_err());
        assert!(plan_deploy(&at(), &release(), &[None]).is_err());
    }
}
