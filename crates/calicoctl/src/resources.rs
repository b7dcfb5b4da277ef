//! apply / create / delete / get for the resource kinds users need without calico-node.

use anyhow::{anyhow, bail, Result};
use datastore::model::IpamConfig;
use datastore::resources::{
    ClusterInformationSpec, IpPoolSpec, IpReservationSpec, IpamConfigurationSpec, NodeSpec, Object,
    Spec,
};
use datastore::{Datastore, IpamConfigKey, ResourceKey, ResourceList};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verb {
    Apply,
    Create,
    Delete,
}

impl Verb {
    fn past(self) -> &'static str {
        match self {
            Verb::Apply => "applied",
            Verb::Create => "created",
            Verb::Delete => "deleted",
        }
    }
}

/// The canonical kind for a user's spelling (`ippool`, `ippools`, `IPPool`, ...).
pub fn canonical_kind(k: &str) -> Option<&'static str> {
    let k = k.to_ascii_lowercase();
    let k = k.trim_end_matches('s');
    Some(match k {
        "ippool" | "pool" => "IPPool",
        "node" => "Node",
        "clusterinformation" => "ClusterInformation",
        "ipamconfiguration" | "ipamconfig" => "IPAMConfiguration",
        "ipreservation" => "IPReservation",
        _ => return None,
    })
}

/// Runs `verb` on every document; returns calicoctl's summary line.
pub fn run_verb(ds: &Datastore, verb: Verb, docs: &[Value]) -> Result<String> {
    if docs.is_empty() {
        bail!("no resources specified in file");
    }
    let mut kinds = Vec::new();
    for d in docs {
        let kind = d
            .get("kind")
            .and_then(Value::as_str)
            .and_then(canonical_kind)
            .ok_or_else(|| {
                anyhow!(
                    "resource type '{}' is not supported",
                    d.get("kind").and_then(Value::as_str).unwrap_or("")
                )
            })?;
        match kind {
            "IPPool" => {
                one::<IpPoolSpec>(ds, verb, d)?;
            }
            "Node" => {
                one::<NodeSpec>(ds, verb, d)?;
            }
            "ClusterInformation" => {
                one::<ClusterInformationSpec>(ds, verb, d)?;
            }
            "IPReservation" => {
                one::<IpReservationSpec>(ds, verb, d)?;
            }
            "IPAMConfiguration" => {
                let obj = one::<IpamConfigurationSpec>(ds, verb, d)?;
                // libcalico-go's IPAM reads /calico/ipam/v2/config in etcd mode: keep both.
                match (verb, obj) {
                    (Verb::Delete, _) => {
                        let _ = ds.delete(&IpamConfigKey, None);
                    }
                    (_, Some(o)) => {
                        let cfg = IpamConfig::from(&o.spec);
                        cfg.validate().map_err(|e| anyhow!(e))?;
                        ds.put(&IpamConfigKey, &cfg)?;
                    }
                    _ => {}
                }
            }
            _ => unreachable!(),
        }
        kinds.push(kind);
    }
    let kind = if kinds.iter().all(|k| *k == kinds[0]) {
        kinds[0]
    } else {
        "resource"
    };
    Ok(format!(
        "Successfully {} {} '{}' resource(s)",
        verb.past(),
        kinds.len(),
        kind
    ))
}

fn one<S: Spec>(ds: &Datastore, verb: Verb, doc: &Value) -> Result<Option<Object<S>>> {
    let obj: Object<S> = serde_json::from_value(doc.clone())
        .map_err(|e| anyhow!("failed to parse {} resource: {e}", S::KIND))?;
    if obj.metadata.name.is_empty() {
        bail!("error with field Metadata.Name = '' (name is required)");
    }
    Ok(match verb {
        Verb::Apply => Some(ds.apply_resource(&obj)?),
        Verb::Create => {
            let mut fresh = obj.clone();
            fresh.metadata.resource_version.clear();
            Some(ds.create_resource(&fresh)?)
        }
        Verb::Delete => {
            let key = ResourceKey::<S>::global(obj.metadata.name.clone());
            match ds.delete_resource(&key, None) {
                Ok(o) => o,
                Err(e) if e.is_not_found() => {
                    bail!(
                        "resource does not exist: {}({})",
                        S::KIND,
                        obj.metadata.name
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
    })
}

/// `get <kind> [name]`: the objects as JSON values.
pub fn get(ds: &Datastore, kind: &str, name: Option<&str>) -> Result<Vec<Value>> {
    let kind =
        canonical_kind(kind).ok_or_else(|| anyhow!("resource type '{kind}' is not supported"))?;
    match kind {
        "IPPool" => list::<IpPoolSpec>(ds, name),
        "Node" => list::<NodeSpec>(ds, name),
        "ClusterInformation" => list::<ClusterInformationSpec>(ds, name),
        "IPReservation" => list::<IpReservationSpec>(ds, name),
        "IPAMConfiguration" => list::<IpamConfigurationSpec>(ds, name),
        _ => unreachable!(),
    }
}

fn list<S: Spec>(ds: &Datastore, name: Option<&str>) -> Result<Vec<Value>> {
    let objs = match name {
        Some(n) => match ds.get_resource(&ResourceKey::<S>::global(n))? {
            Some(o) => vec![o],
            None => bail!("resource does not exist: {}({n})", S::KIND),
        },
        None => ds.list_resources(&ResourceList::<S>::all())?,
    };
    Ok(objs
        .iter()
        .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
        .collect())
}
