//! The typed datastore: Calico objects under Calico's keys, on any [`Kv`] backend.

use std::sync::Mutex;
use std::time::SystemTime;

use crate::batch::{Read, Write};
use crate::error::{DatastoreError, Result};
use crate::keys::{IpamConfigKey, Key, ListOptions, ResourceKey, ResourceList};
use crate::kv::{retry_on_conflict, Kv, KvPair, Revision};
use crate::model::{IpamConfig, Model};
use crate::resources::{Object, Spec};

/// A value and the mod revision it was read at (pass it back to update or delete it).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: Revision,
}

/// One item of a typed listing: the key and its value.
pub type Listed<K> = (K, Versioned<<K as Key>::Value>);

/// What a [`Datastore::modify`] step wants done with the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<V> {
    /// Write this value (create if absent, compare-and-swap otherwise).
    Put(V),
    /// Delete the key (compare-and-delete); nothing if absent.
    Delete,
    /// Leave it alone.
    Keep,
}

/// Calico's objects on a key-value backend.
pub struct Datastore {
    pub(crate) kv: Box<dyn Kv>,
    /// Answers of a [`Datastore::prefetch`] not used yet; each serves one read, and any write
    /// through this handle drops them all (so nobody reads back older than their own write).
    prefetched: Mutex<Vec<(Read, Vec<KvPair>)>>,
}

impl Datastore {
    pub fn new(kv: Box<dyn Kv>) -> Self {
        Datastore {
            kv,
            prefetched: Mutex::new(Vec::new()),
        }
    }

    /// Reads several keys and listings in one round trip and keeps the answers for the typed
    /// reads that follow: the next `get` of each key and `list` of each prefix is answered
    /// from them (once). A hot path that knows what it will read calls this first.
    pub fn prefetch(&self, reads: Vec<Read>) -> Result<()> {
        if !self.kv.batches_reads() {
            return Ok(());
        }
        let answers = self.kv.read_many(&reads)?;
        let mut cache = self.cache();
        cache.clear();
        cache.extend(reads.into_iter().zip(answers));
        Ok(())
    }

    /// Applies several writes as one transaction (see [`Kv::txn`]).
    pub fn commit(&self, writes: &[Write]) -> Result<Revision> {
        self.forget_prefetched();
        self.kv.txn(writes)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Vec<(Read, Vec<KvPair>)>> {
        // A panic elsewhere cannot leave the cache half-updated: recover it as is.
        self.prefetched.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_prefetched(&self, read: &Read) -> Option<Vec<KvPair>> {
        let mut cache = self.cache();
        let at = cache.iter().position(|(r, _)| r == read)?;
        Some(cache.swap_remove(at).1)
    }

    fn forget_prefetched(&self) {
        self.cache().clear();
    }

    fn raw_get(&self, path: String) -> Result<Option<KvPair>> {
        let read = Read::Key(path);
        match self.take_prefetched(&read) {
            Some(pairs) => Ok(pairs.into_iter().next()),
            None => self.kv.get(read.key()),
        }
    }

    fn raw_list(&self, prefix: String) -> Result<Vec<KvPair>> {
        let read = Read::Prefix(prefix);
        match self.take_prefetched(&read) {
            Some(pairs) => Ok(pairs),
            None => self.kv.list(read.key()),
        }
    }

    /// The raw key-value interface (for exports, tools and tests).
    pub fn kv(&self) -> &dyn Kv {
        self.kv.as_ref()
    }

    /// The Kubernetes backend's API client, if it was configured from `sources` exactly: then
    /// a plugin's own Kubernetes reads can share its connection (one TLS handshake per run)
    /// and the objects it already read.
    pub fn kube_client_for(&self, sources: &kubeclient::Sources) -> Option<&kubeclient::Client> {
        self.kv
            .kube_client()
            .filter(|(_, s)| *s == sources)
            .map(|(c, _)| c)
    }

    /// An API client for `settings` (a plugin's own Kubernetes reads): the Kubernetes
    /// backend's when it was made from the same sources ([`Datastore::kube_client_for`]),
    /// else a new one.
    pub fn kube_client_or_new(
        &self,
        settings: &kubeclient::Settings,
    ) -> std::result::Result<kubeclient::Client, kubeclient::Error> {
        match self.kube_client_for(&settings.sources()) {
            Some(c) => Ok(c.clone()),
            None => kubeclient::Client::new(settings),
        }
    }

    /// Whether batched reads ([`Datastore::prefetch`]) save round trips on this backend.
    pub fn batches_reads(&self) -> bool {
        self.kv.batches_reads()
    }

    /// Requests end within `after` from now (see [`Kv::set_timeout`]).
    pub fn set_timeout(&self, after: Option<std::time::Duration>) {
        self.kv.set_timeout(after);
    }

    /// See [`Kv::upgrade_host`].
    pub fn upgrade_host(&self, host: &str) -> Result<()> {
        self.forget_prefetched();
        self.kv.upgrade_host(host)
    }

    /// WorkloadEndpoints are derived (from pods), not stored (see [`Kv::derives_endpoints`]).
    pub fn derives_endpoints(&self) -> bool {
        self.kv.derives_endpoints()
    }

    /// `etcdv3`, `kubernetes` or `local`.
    pub fn backend(&self) -> &'static str {
        self.kv.backend()
    }

    // ---- typed keys --------------------------------------------------------------------

    /// The value at `key`, `None` when absent. A value that does not parse is an error.
    pub fn get<K: Key>(&self, key: &K) -> Result<Option<Versioned<K::Value>>> {
        match self
            .raw_get(key.path())
            .map_err(|e| e.with_identifier(|| key.to_string()))?
        {
            None => Ok(None),
            Some(pair) => decode::<K::Value>(&pair).map(Some),
        }
    }

    /// Creates `key` if absent; `AlreadyExists` otherwise.
    pub fn create<K: Key>(&self, key: &K, value: &K::Value) -> Result<Revision> {
        self.forget_prefetched();
        self.kv
            .create(&key.path(), &value.encode())
            .map_err(|e| e.with_identifier(|| key.to_string()))
    }

    /// Compare-and-swap: writes only if `key` is still at `revision`.
    pub fn update<K: Key>(
        &self,
        key: &K,
        value: &K::Value,
        revision: Revision,
    ) -> Result<Revision> {
        self.forget_prefetched();
        self.kv
            .update(&key.path(), &value.encode(), revision)
            .map_err(|e| e.with_identifier(|| key.to_string()))
    }

    /// Writes `key` unconditionally.
    pub fn put<K: Key>(&self, key: &K, value: &K::Value) -> Result<Revision> {
        self.forget_prefetched();
        self.kv
            .put(&key.path(), &value.encode())
            .map_err(|e| e.with_identifier(|| key.to_string()))
    }

    /// Deletes `key` (only if still at `revision`, when given) and returns what it held; a value
    /// that no longer parses is still deleted and comes back as `None`.
    pub fn delete<K: Key>(
        &self,
        key: &K,
        revision: Option<Revision>,
    ) -> Result<Option<Versioned<K::Value>>> {
        self.forget_prefetched();
        let old = self
            .kv
            .delete(&key.path(), revision)
            .map_err(|e| e.with_identifier(|| key.to_string()))?;
        Ok(decode::<K::Value>(&old).ok())
    }

    /// Every key of a listing with its value, sorted by path. Like libcalico-go, paths that do
    /// not parse as the listing's keys and values that do not parse are skipped.
    pub fn list<L: ListOptions>(&self, opts: &L) -> Result<Vec<Listed<L::Key>>> {
        let pairs = self.raw_list(opts.prefix())?;
        Ok(pairs
            .iter()
            .filter_map(|pair| {
                let key = opts.key_from_path(&pair.key)?;
                let value = decode(pair).ok()?;
                Some((key, value))
            })
            .collect())
    }

    /// Read-modify-write with compare-and-swap, retried on lost races: `f` sees the current
    /// value (`None` when absent) and says what to do; a conflicting concurrent write makes
    /// the loop read again and call `f` again, at most `max_attempts` times. Returns the value
    /// now stored (`None` after a delete or when absent and kept).
    pub fn modify<K: Key>(
        &self,
        key: &K,
        max_attempts: u32,
        mut f: impl FnMut(Option<&K::Value>) -> Result<Change<K::Value>>,
    ) -> Result<Option<Versioned<K::Value>>> {
        retry_on_conflict(max_attempts, |_| {
            let current = self.get(key)?;
            match (f(current.as_ref().map(|v| &v.value))?, current) {
                (Change::Keep, current) => Ok(current),
                (Change::Put(value), None) => {
                    let revision = self.create(key, &value)?;
                    Ok(Some(Versioned { value, revision }))
                }
                (Change::Put(value), Some(cur)) => {
                    let revision = self.update(key, &value, cur.revision)?;
                    Ok(Some(Versioned { value, revision }))
                }
                (Change::Delete, None) => Ok(None),
                (Change::Delete, Some(cur)) => match self.delete(key, Some(cur.revision)) {
                    Ok(_) | Err(DatastoreError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                },
            }
        })
    }

    // ---- IPAM conveniences ---------------------------------------------------------------

    /// The IPAM settings in force: the stored ones, or libcalico-go's defaults (automatic block
    /// allocation on, strict affinity off) when none are stored.
    ///
    /// On Kubernetes, Calico v3.31/v3.32's `GetIPAMConfig` creates `ipamconfigs/default`
    /// with those defaults when it is missing (a race with another node is fine: theirs
    /// stands), so the cluster shows the settings in force; so does this.
    pub fn ipam_config(&self) -> Result<IpamConfig> {
        if let Some(v) = self.get(&IpamConfigKey)? {
            return Ok(v.value);
        }
        let default = IpamConfig::calico_default();
        if self.backend() != crate::config::KUBERNETES {
            return Ok(default);
        }
        let created = IpamConfig {
            kube_virt_vm_address_persistence: Some(
                crate::model::VM_ADDRESS_PERSISTENCE_ENABLED.to_string(),
            ),
            ..default
        };
        match self.create(&IpamConfigKey, &created) {
            Ok(_) => Ok(created),
            Err(e) if e.is_already_exists() => self.get(&IpamConfigKey)?.map(|v| v.value).ok_or(e),
            Err(e) => Err(e),
        }
    }

    // ---- v3 resources ----------------------------------------------------------------------

    /// A resource with `metadata.resourceVersion` set to its revision; `None` when absent.
    /// The default-allow profile always exists, as in libcalico-go.
    pub fn get_resource<S: Spec>(&self, key: &ResourceKey<S>) -> Result<Option<Object<S>>> {
        if let Some(builtin) = S::builtin(&key.name) {
            return Ok(Some(builtin));
        }
        Ok(self.get(key)?.map(with_resource_version))
    }

    /// Creates a resource as libcalico-go's client does: a `uid` and `creationTimestamp` are
    /// filled in when missing, `resourceVersion` must be empty. Returns the stored object.
    pub fn create_resource<S: Spec>(&self, obj: &Object<S>) -> Result<Object<S>> {
        check_name(obj)?;
        if !obj.metadata.resource_version.is_empty() {
            return Err(validation(
                "Metadata.ResourceVersion",
                "field must not be set for a Create request",
            ));
        }
        let mut stored = obj.prepared_for_write();
        stored.metadata.fill_create_defaults(SystemTime::now());
        let key = ResourceKey::of(&stored);
        let revision = self.create(&key, &stored)?;
        Ok(with_resource_version(Versioned {
            value: stored,
            revision,
        }))
    }

    /// Compare-and-swap update of a resource read earlier: `metadata.resourceVersion` is the
    /// revision it must still be at. Returns the stored object.
    pub fn update_resource<S: Spec>(&self, obj: &Object<S>) -> Result<Object<S>> {
        check_name(obj)?;
        let revision: Revision = obj.metadata.resource_version.parse().map_err(|_| {
            validation(
                "Metadata.ResourceVersion",
                "field must be set for an Update request",
            )
        })?;
        let stored = obj.prepared_for_write();
        let key = ResourceKey::of(&stored);
        let revision = self.update(&key, &stored, revision)?;
        Ok(with_resource_version(Versioned {
            value: stored,
            revision,
        }))
    }

    /// Create or replace (calicoctl `apply`): an existing object keeps its `uid` and
    /// `creationTimestamp`; lost races are retried.
    pub fn apply_resource<S: Spec>(&self, obj: &Object<S>) -> Result<Object<S>> {
        let key = ResourceKey::of(obj);
        retry_on_conflict(10, |_| match self.get(&key)? {
            None => {
                let mut fresh = obj.clone();
                fresh.metadata.resource_version.clear();
                self.create_resource(&fresh)
            }
            Some(current) => {
                let mut next = obj.clone();
                let cur = &current.value.metadata;
                if next.metadata.uid.is_empty() {
                    next.metadata.uid = cur.uid.clone();
                }
                if next.metadata.creation_timestamp.is_none() {
                    next.metadata.creation_timestamp = cur.creation_timestamp.clone();
                }
                next.metadata.resource_version = current.revision.to_string();
                self.update_resource(&next)
            }
        })
    }

    /// Deletes a resource (only if still at `revision`, when given); returns what was stored.
    pub fn delete_resource<S: Spec>(
        &self,
        key: &ResourceKey<S>,
        revision: Option<Revision>,
    ) -> Result<Option<Object<S>>> {
        Ok(self.delete(key, revision)?.map(with_resource_version))
    }

    /// The resources of a listing, each with its `resourceVersion`. Listing all profiles
    /// includes the default-allow profile, as in libcalico-go.
    pub fn list_resources<S: Spec>(&self, opts: &ResourceList<S>) -> Result<Vec<Object<S>>> {
        let mut out: Vec<Object<S>> = self
            .list(opts)?
            .into_iter()
            .map(|(_, v)| with_resource_version(v))
            .collect();
        if opts.name_prefix.is_none() {
            if let Some(builtin) = S::builtin(crate::resources::DEFAULT_ALLOW_PROFILE) {
                out.retain(|o| o.metadata.name != builtin.metadata.name);
                out.push(builtin);
            }
        }
        Ok(out)
    }
}

fn decode<V: Model>(pair: &KvPair) -> Result<Versioned<V>> {
    V::decode(&pair.value)
        .map(|value| Versioned {
            value,
            revision: pair.revision,
        })
        .map_err(|source| DatastoreError::Decode {
            key: pair.key.clone(),
            source,
        })
}

fn with_resource_version<S: Spec>(v: Versioned<Object<S>>) -> Object<S> {
    let mut obj = v.value;
    obj.metadata.resource_version = v.revision.to_string();
    obj
}

fn check_name<S: Spec>(obj: &Object<S>) -> Result<()> {
    if obj.metadata.name.is_empty() {
        return Err(validation(
            "Metadata.Name",
            "field must be set for a Create request",
        ));
    }
    if S::NAMESPACED && obj.metadata.namespace.is_empty() {
        return Err(validation(
            "Metadata.Namespace",
            "namespace is not specified on namespaced resource",
        ));
    }
    Ok(())
}

/// libcalico-go's `ErrorValidation` text for one field.
fn validation(field: &str, reason: &str) -> DatastoreError {
    DatastoreError::Config(format!("error with field {field} = '' ({reason})"))
}
