//! The object store: objects by resource and etcd-style key (`<namespace>/<name>` or `<name>`,
//! so lists come back in etcd's key order), one global resourceVersion counter.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::resources::ResourceDef;
use super::util::Rng;

#[derive(Debug)]
pub struct Store {
    /// The last resourceVersion handed out (etcd's revision).
    pub rv: u64,
    pub rng: Rng,
    objects: HashMap<(String, String), BTreeMap<String, Value>>,
}

/// The key of an object within its resource.
pub fn key(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

impl Store {
    pub fn new() -> Store {
        Store {
            rv: 0,
            rng: Rng::from_entropy(),
            objects: HashMap::new(),
        }
    }

    fn table(&self, rd: &ResourceDef) -> Option<&BTreeMap<String, Value>> {
        self.objects
            .get(&(rd.group.to_string(), rd.plural.to_string()))
    }

    pub fn get(&self, rd: &ResourceDef, ns: Option<&str>, name: &str) -> Option<&Value> {
        self.table(rd)?.get(&key(ns, name))
    }

    /// Stores `obj` under a new resourceVersion (written into it); returns it.
    pub fn put(&mut self, rd: &ResourceDef, ns: Option<&str>, name: &str, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.objects
            .entry((rd.group.to_string(), rd.plural.to_string()))
            .or_default()
            .insert(key(ns, name), obj.clone());
        obj
    }

    /// Removes an object (a write: the revision moves on); returns it as it was.
    pub fn remove(&mut self, rd: &ResourceDef, ns: Option<&str>, name: &str) -> Option<Value> {
        let t = self
            .objects
            .get_mut(&(rd.group.to_string(), rd.plural.to_string()))?;
        let v = t.remove(&key(ns, name))?;
        self.rv += 1;
        Some(v)
    }

    /// The objects of a resource after key `after` (exclusive), in key order, limited to
    /// namespace `ns` if given.
    pub fn scan<'a>(
        &'a self,
        rd: &ResourceDef,
        ns: Option<&'a str>,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        let prefix = ns.map(|n| format!("{n}/"));
        self.table(rd)
            .into_iter()
            .flat_map(|t| t.iter())
            .filter(move |(k, _)| after.is_none_or(|a| k.as_str() > a))
            .filter(move |(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())))
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}
