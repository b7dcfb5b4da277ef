//! `ipam release --from-report`: frees what `ipam check -o` reports as leaked — addresses
//! allocated but used by nothing, and handle objects no allocation names — as upstream's
//! `ReleaseFromReports` does. Several reports release only what all of them call leaked
//! (unchanged handles, addresses still held by the same allocation), so reports taken some
//! time apart guard against releasing something that was only mid-assignment. The report must
//! be of this cluster, by this version (unless `--force`), and one of them current; the data
//! store should be locked (`datastore migrate lock`) unless `--force`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

use anyhow::{anyhow, bail, Result};
use datastore::{Datastore, HandleKey};
use ipam::{Ipam, ReleaseOptions};

use crate::check::{HandleInfo, Report};

pub fn from_reports(
    ds: &Datastore,
    files: &[String],
    force: bool,
    version: &str,
    out: &mut impl Write,
) -> Result<()> {
    let Some(ci) = ds.cluster_information()? else {
        bail!("{}", ds.missing_cluster_information());
    };
    let mut reports = Vec::new();
    let mut current = false;
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| {
            anyhow!(
                "{}",
                libcni::error::path_error_text("open", std::path::Path::new(file), &e)
            )
        })?;
        let r: Report = libcni::gojson::from_slice(&bytes)?;
        // Not even --force overrides this one: another cluster's report would free live
        // addresses.
        if r.cluster_guid != ci.spec.cluster_guid {
            bail!("cluster does not match the provided report ({file}): mismatched cluster GUID. Refusing to release");
        }
        if r.version != version {
            if !force {
                bail!(
                    "the provided report ({file}) was produced using a different version ({}) of calicoctl. Refusing to release",
                    r.version
                );
            }
            writeln!(out, "WARNING: Report was produced using a different version of calicoctl. Ignoring due to --force option")?;
        }
        current |= r.cluster_information_revision == ci.metadata.resource_version;
        reports.push(r);
    }
    if !current {
        bail!("the provided reports are all stale - at least one should be up-to-date. Please generate a new report while the data store is locked and try again");
    }
    if ci.spec.datastore_ready != Some(false) {
        if !force {
            bail!("data store is not locked. Either lock the data store, or re-run with --force");
        }
        writeln!(
            out,
            "WARNING: Data store is not locked. Ignoring due to --force option"
        )?;
    }
    let (ips, handles) = merge(&reports);
    if ips.is_empty() {
        writeln!(out, "Report didn't contain any leaked IPs to clean up.")?;
    } else {
        release_ips(ds, ips.into_values().collect(), out)?;
    }
    if handles.is_empty() {
        writeln!(out, "Report didn't contain any handles to clean up.")?;
    } else {
        release_handles(ds, handles.into_values().collect(), out)?;
    }
    Ok(())
}

/// `mergeReports`: the addresses not in use in every report (with the handle and sequence
/// number of the last report that saw them), and the leaked handles whose revision every
/// report agrees on.
fn merge(
    reports: &[Report],
) -> (
    BTreeMap<String, ReleaseOptions>,
    BTreeMap<String, HandleInfo>,
) {
    let mut ips: Option<BTreeMap<String, ReleaseOptions>> = None;
    let mut handles: Option<BTreeMap<String, HandleInfo>> = None;
    for r in reports {
        let mut merged = BTreeMap::new();
        for a in r.allocations.values().flatten() {
            if a.in_use || ips.as_ref().is_some_and(|prev| !prev.contains_key(&a.ip)) {
                continue;
            }
            let Ok(address) = a.ip.parse::<IpAddr>() else {
                continue;
            };
            merged.insert(
                a.ip.clone(),
                ReleaseOptions {
                    address,
                    handle: (!a.handle.is_empty()).then(|| a.handle.clone()),
                    sequence_number: Some(a.sequence_number),
                },
            );
        }
        ips = Some(merged);
        let merged: BTreeMap<String, HandleInfo> = r
            .leaked_handles
            .iter()
            .filter(|h| {
                handles
                    .as_ref()
                    .is_none_or(|prev| prev.get(&h.id).is_some_and(|p| p.revision == h.revision))
            })
            .map(|h| (h.id.clone(), h.clone()))
            .collect();
        handles = Some(merged);
    }
    (ips.unwrap_or_default(), handles.unwrap_or_default())
}

fn release_ips(ds: &Datastore, ips: Vec<ReleaseOptions>, out: &mut impl Write) -> Result<()> {
    writeln!(out, "Releasing {} old IPs...", ips.len())?;
    match Ipam::new(ds).release(&ips) {
        Ok(unallocated) => {
            writeln!(
                out,
                "Released {} IPs successfully",
                ips.len() - unallocated.len()
            )?;
            if !unallocated.is_empty() {
                writeln!(
                    out,
                    "{} addresses marked as leaked in the report had already been cleaned up.",
                    unallocated.len()
                )?;
            }
        }
        Err(e) => writeln!(
            out,
            "An error occurred while releasing some IPs: {e}.  Problems are often caused by an out-of-date IPAM report.  Try regenerating the IPAM report and retry."
        )?,
    }
    Ok(())
}

/// Deletes each handle still at the report's revision: `.` deleted, `x` gone or changed.
fn release_handles(ds: &Datastore, handles: Vec<HandleInfo>, out: &mut impl Write) -> Result<()> {
    writeln!(out, "Deleting {} handles...", handles.len())?;
    writeln!(
        out,
        "Key: '.' = Deleted OK; 'x' = skip, handle missing/changed."
    )?;
    let (mut released, mut skipped, mut errors) = (0, 0, 0);
    for h in &handles {
        let key = HandleKey::new(&h.id);
        let result = match ds.get(&key) {
            Ok(Some(cur)) if cur.revision.to_string() == h.revision => {
                ds.delete(&key, Some(cur.revision)).map(|_| true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        match result {
            Ok(true) => {
                released += 1;
                write!(out, ".")?;
            }
            Ok(false) => {
                skipped += 1;
                write!(out, "x")?;
            }
            Err(e) if e.is_not_found() || e.is_conflict() => {
                skipped += 1;
                write!(out, "x")?;
            }
            Err(e) => {
                errors += 1;
                write!(out, "\nDeleting handle {} failed: {e}.\n", h.id)?;
            }
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Released {released} handles; {skipped} skipped; {errors} errors."
    )?;
    Ok(())
}

/// `datastore migrate lock` / `unlock`: ClusterInformation's `datastoreReady`, which the CNI
/// plugins and calico-node honour (a locked data store makes every ADD wait).
pub fn set_lock(ds: &Datastore, locked: bool) -> Result<String> {
    let what = if locked { "locking" } else { "unlocking" };
    let mut ci = if locked {
        // Locking initialises ClusterInformation when it is missing, and uses what it holds.
        ds.ensure_cluster_information(env!("CARGO_PKG_VERSION"), "cni-rs")
            .map_err(|e| {
                anyhow!("unable to initialize cluster information for the datastore migration: {e}")
            })?
    } else {
        ds.cluster_information()
            .map_err(|e| anyhow!("error retrieving ClusterInformation for {what}: {e}"))?
            .ok_or_else(|| {
                anyhow!(
                    "error retrieving ClusterInformation for {what}: {}",
                    ds.missing_cluster_information()
                )
            })?
    };
    ci.spec.datastore_ready = Some(!locked);
    ds.update_resource(&ci)
        .map_err(|e| anyhow!("error updating ClusterInformation for {what}: {e}"))?;
    Ok(if locked {
        "Datastore locked.\n".into()
    } else {
        "Datastore unlocked.\n".into()
    })
}
