//! Growing and shrinking a local cluster: ports for new members, a clean stop and
//! unregistration for leaving ones. The supervisor follows cluster.json (see
//! `Supervisor::follow_members`).

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use postgres_ha_core::local::{member_index, member_name, member_short};
use postgres_ha_core::render::CredentialKey;
use postgres_ha_core::render::{ETCD_PATRONI_USER, member_key};

use super::api;
use super::lifecycle::hold_members;
use super::process::free_port;
use super::state::Cluster;

/// Waits until the supervisor's record shows `members` Patroni slots.
fn wait_for_supervisor(cluster: &Cluster, members: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.load_pids().patroni.len() != members {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the supervisor did not take up the new member count; see `local logs {} supervisor`",
            cluster.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Adds `count` members with new free ports; returns their names.
pub(crate) fn grow(cluster: &Cluster, count: usize) -> anyhow::Result<Vec<String>> {
    let _turn = cluster.lock()?;
    let mut file = cluster.load()?;
    let mut taken: Vec<u16> = file
        .ports
        .etcd
        .iter()
        .chain(&file.ports.members)
        .flat_map(|(a, b)| [*a, *b])
        .collect();
    let first = file.ports.members.len();
    // A member removed without --purge left its data behind; a new member with its
    // index starts afresh, the old data kept aside.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for i in first..first + count {
        let home = cluster.member_home(i);
        if home.exists() {
            let aside = home.with_file_name(format!("{}.removed-{stamp}", member_short(i)));
            std::fs::rename(&home, &aside)
                .with_context(|| format!("cannot move {} aside", home.display()))?;
            let _ = writeln!(
                std::io::stderr(),
                "note: the data of a removed {} was moved to {}",
                member_short(i),
                aside.display()
            );
        }
    }
    for _ in 0..count {
        let postgres = free_port(&taken)?;
        taken.push(postgres);
        let api = free_port(&taken)?;
        taken.push(api);
        file.ports.members.push((postgres, api));
    }
    let total = file.ports.members.len();
    cluster.save(&file)?;
    wait_for_supervisor(cluster, total)?;
    Ok((first..total)
        .map(|i| member_name(&cluster.name, i))
        .collect())
}

/// Removes `members`, which must be the last ones: holds them down (a clean Patroni
/// stop), forgets them, deletes their registration in etcd, and with `purge` their
/// data.
pub(crate) fn shrink(cluster: &Cluster, members: &[String], purge: bool) -> anyhow::Result<()> {
    let _turn = cluster.lock()?;
    let mut file = cluster.load()?;
    let count = file.ports.members.len();
    let mut leaving = BTreeSet::new();
    for member in members {
        leaving.insert(
            member_index(&cluster.name, member)
                .filter(|i| *i < count)
                .with_context(|| format!("{} has no member {member}", cluster.name))?,
        );
    }
    let keep = count - leaving.len();
    anyhow::ensure!(
        leaving.iter().all(|i| *i >= keep),
        "only the last members can be removed (as a stateful workload removes its highest replicas)"
    );
    // A clean stop first: the supervisor neither fences nor restarts a held member.
    hold_members(cluster, &leaving.iter().copied().collect::<Vec<_>>(), true)?;
    file.ports.members.truncate(keep);
    cluster.save(&file)?;
    let mut held = cluster.load_held();
    held.retain(|i| *i < keep);
    cluster.save_held(&held)?;
    wait_for_supervisor(cluster, keep)?;
    // Their registrations would otherwise linger until their ttl runs out.
    let credentials = cluster.load_credentials()?;
    let password = credentials
        .get(CredentialKey::EtcdPatroni)
        .unwrap_or_default();
    let client = api::client();
    for i in &leaving {
        let key = member_key(&cluster.name, &member_name(&cluster.name, *i));
        api::delete_key(
            &client,
            &file.etcd_client_ports(),
            (ETCD_PATRONI_USER, password),
            &key,
        )?;
    }
    if purge {
        for i in &leaving {
            let home = cluster.member_home(*i);
            if home.exists() {
                std::fs::remove_dir_all(&home)
                    .with_context(|| format!("cannot remove {}", home.display()))?;
            }
            let _ = std::fs::remove_file(cluster.log(&member_short(*i)));
        }
    }
    Ok(())
}
