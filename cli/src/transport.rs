//! How day-2 steps reach a cluster: one trait, one implementation per target. The
//! loopback one (local cluster) speaks HTTP and runs `psql` on 127.0.0.1; the Control
//! Plane one will run the same requests through the workload exec websocket.

use postgres_ha_core::operate::{Answer, ClusterView, Login, MemberStatus, Pickup, Request, Sql};
use postgres_ha_core::render::CredentialKey;

/// Patroni and PostgreSQL of each member, as a target reaches them.
pub(crate) trait Transport: Send + Sync {
    /// The cluster's member names, in order.
    fn members(&self) -> Vec<String>;

    /// Sends `request` to `member`'s Patroni REST API (with the REST API credentials
    /// when the request changes something).
    fn patroni(&self, member: &str, request: &Request) -> anyhow::Result<Answer>;

    /// Runs `sql` on `member` as the superuser; its output rows, `|`-separated.
    fn sql(&self, member: &str, sql: &Sql) -> anyhow::Result<String>;

    /// Writes a small file into `member`'s directory (where its hooks look for it).
    fn put_file(&self, member: &str, name: &str, text: &str) -> anyhow::Result<()>;

    /// Removes a file `put_file` wrote, if it is still there.
    fn remove_file(&self, member: &str, name: &str) -> anyhow::Result<()>;

    /// Adds `count` members (names, addresses, storage and a start); their names.
    fn add_members(&self, count: usize) -> anyhow::Result<Vec<String>>;

    /// Stops the last members cleanly, unregisters and forgets them; deletes their
    /// data with `purge`.
    fn remove_members(&self, members: &[String], purge: bool) -> anyhow::Result<()>;

    /// Stops `member`'s processes so that they start afresh from what the target keeps
    /// (its configuration; on Control Plane the secret's values, as the platform
    /// recreates the replica). Returns once the old processes are gone or on their
    /// way out; the caller waits for the member to stream again.
    fn recreate(&self, member: &str) -> anyhow::Result<()>;

    /// How members take a changed internal password.
    fn pickup(&self) -> Pickup;

    /// Whether `password` logs in as `login` on `member` (`false` when refused).
    fn try_login(&self, member: &str, login: &Login, password: &str) -> anyhow::Result<bool>;

    /// Tries `password` too, first, for the transport's own REST API and superuser
    /// logins: a rotation changes them while some members still have the old one.
    fn also_accept(&self, key: CredentialKey, password: &str);

    /// The values the application password is checked against (its role and
    /// database), as YAML: a rotation's new password must pass the values' rules.
    fn app_values(&self) -> anyhow::Result<Vec<u8>>;

    /// The password the target keeps for `key`.
    fn stored_password(&self, key: CredentialKey) -> anyhow::Result<String>;

    /// Keeps a new password for `key` where the target keeps it and where each
    /// member reads it (its configuration); a reload makes the members take it.
    fn store_password(&self, key: CredentialKey, password: &str) -> anyhow::Result<()>;

    /// The cluster as the first member that answers sees it.
    fn view(&self) -> anyhow::Result<ClusterView> {
        let mut last = None;
        for member in self.members() {
            match self.patroni(&member, &Request::cluster()) {
                Ok(answer) if answer.status == 200 => {
                    return Ok(ClusterView::from_json(&answer.body)?);
                }
                Ok(answer) => last = Some(anyhow::anyhow!("{member} answered {}", answer.status)),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the cluster has no members")))
            .map_err(|e| e.context("no member's Patroni answers"))
    }

    /// The view with each streaming replica's lag measured now, from the members'
    /// own positions (the leader's asked first): what choosing a candidate needs,
    /// since the view's lag trails by up to a loop under writes.
    fn current_view(&self) -> anyhow::Result<ClusterView> {
        let mut view = self.view()?;
        let position = |member: &str| {
            self.patroni(member, &Request::member_status())
                .ok()
                .filter(|answer| answer.status == 200)
                .and_then(|answer| MemberStatus::from_json(&answer.body).ok())
                .and_then(|status| status.wal_position)
        };
        let Some(leader) = view.healthy_leader().map(|m| m.name.clone()) else {
            return Ok(view);
        };
        let Some(leader_position) = position(&leader) else {
            return Ok(view);
        };
        let replicas: Vec<(String, u64)> = view
            .streaming()
            .filter_map(|m| position(&m.name).map(|p| (m.name.clone(), p)))
            .collect();
        view.refresh_lag(leader_position, &replicas);
        Ok(view)
    }

    /// Patroni's dynamic configuration.
    fn config(&self) -> anyhow::Result<serde_json::Value> {
        let view = self.view()?;
        let member = view
            .healthy_leader()
            .or_else(|| view.members.first())
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let answer = self.patroni(&member, &Request::config())?;
        anyhow::ensure!(answer.status == 200, "{member} answered {}", answer.status);
        Ok(serde_json::from_str(&answer.body)?)
    }
}
