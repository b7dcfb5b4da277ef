//! The etcd v3 backend, with the transactions libcalico-go's `etcdv3` client uses:
//! create = `If(version == 0) Then(put) Else(get)`, update = `If(mod_revision == rev) Then(put)
//! Else(get)`, delete = `If(mod_revision == rev) Then(delete) Else(get)`.
//!
//! The API is synchronous: a plugin is one short-lived process, so each call runs on a
//! current-thread tokio runtime owned by the store, under a per-request deadline.

pub mod discovery;

use std::future::Future;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Identity,
    KeyValue, TlsOptions, Txn, TxnOp, TxnOpResponse,
};

use crate::batch::{Read, Write};
use crate::config::EtcdConfig;
use crate::error::{DatastoreError, Result};
use crate::kv::{Kv, KvPair, Revision};

pub struct EtcdStore {
    runtime: tokio::runtime::Runtime,
    client: Client,
    request_timeout: Duration,
    endpoints: Vec<String>,
}

impl EtcdStore {
    /// Connects as libcalico-go's `NewEtcdV3Client` does: endpoints or SRV discovery (not
    /// both), optional TLS files and user/password, 10 s dial timeout, 30 s/10 s keepalive.
    /// The connection itself is made on the first request.
    pub fn connect(config: &EtcdConfig) -> Result<Self> {
        let endpoints = resolve_endpoints(config)?;
        // No per-endpoint request timeout: `call` puts one deadline over the whole request,
        // including waiting for a connection and trying another endpoint.
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.dial_timeout)
            .with_keep_alive(config.keepalive_time, config.keepalive_timeout);
        if let Some(tls) = tls_options(config)? {
            options = options.with_tls(tls);
        }
        if !config.username.is_empty() && !config.password.is_empty() {
            options = options.with_user(config.username.clone(), config.password.clone());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                DatastoreError::Unavailable(format!("cannot start the etcd client: {e}"))
            })?;
        let timeout = config.request_timeout;
        let eps = endpoints.clone();
        let client = runtime
            .block_on(async move {
                tokio::time::timeout(timeout, Client::connect(eps, Some(options))).await
            })
            .map_err(|_| deadline_exceeded(timeout))?
            .map_err(map_error)?;
        Ok(EtcdStore {
            runtime,
            client,
            request_timeout: config.request_timeout,
            endpoints,
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Runs one request to completion under the request deadline. A request that could not
    /// connect was never sent, so it is safe to send again: it is retried (the balancer then
    /// likely picks another endpoint, as etcd's Go client fails over) until the deadline.
    fn call<T, F, Fut>(&self, mut request: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let timeout = self.request_timeout;
        // The connect failure behind a deadline, for the error text.
        let last_connect_error = std::cell::RefCell::new(None);
        let attempts = async {
            let mut backoff = Duration::from_millis(20);
            loop {
                match request().await {
                    Err(e) if not_sent(&e) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(500));
                        *last_connect_error.borrow_mut() = Some(e.to_string());
                    }
                    other => return other,
                }
            }
        };
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, attempts).await })
        {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(match last_connect_error.take() {
                Some(e) => DatastoreError::Unavailable(format!("etcdv3: {e}")),
                None => deadline_exceeded(timeout),
            }),
        }
    }

    /// A transaction that compares, then writes or reads the key back.
    fn txn(&self, compare: Option<Compare>, then: TxnOp, key: &str) -> Result<TxnResult> {
        let txn = Txn::new()
            .when(compare.into_iter().collect::<Vec<_>>())
            .and_then(vec![then])
            .or_else(vec![TxnOp::get(key, None)]);
        let kv = self.client.kv_client();
        let resp = self.call(|| {
            let (mut kv, txn) = (kv.clone(), txn.clone());
            async move { kv.txn(txn).await }
        })?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut current = None;
        let mut prev = None;
        let mut deleted = 0;
        for op in resp.op_responses() {
            match op {
                TxnOpResponse::Get(get) => current = get.kvs().first().map(pair),
                TxnOpResponse::Delete(del) => {
                    deleted = del.deleted();
                    prev = del.prev_kvs().first().map(pair);
                }
                _ => {}
            }
        }
        Ok(TxnResult {
            succeeded: resp.succeeded(),
            revision,
            current,
            prev,
            deleted,
        })
    }
}

struct TxnResult {
    succeeded: bool,
    revision: Revision,
    /// The `Else(get)` result when the comparison failed.
    current: Option<KvPair>,
    /// The deleted pair (delete with prev_kv).
    prev: Option<KvPair>,
    deleted: i64,
}

impl Kv for EtcdStore {
    fn backend(&self) -> &'static str {
        "etcdv3"
    }

    fn get(&self, key: &str) -> Result<Option<KvPair>> {
        let kv = self.client.kv_client();
        let resp = self.call(|| {
            let (mut kv, key) = (kv.clone(), key.to_string());
            async move { kv.get(key, None).await }
        })?;
        Ok(resp.kvs().first().map(pair))
    }

    fn create(&self, key: &str, value: &[u8]) -> Result<Revision> {
        let r = self.txn(
            Some(Compare::version(key, CompareOp::Equal, 0)),
            TxnOp::put(key, value, None),
            key,
        )?;
        if r.succeeded {
            return Ok(r.revision);
        }
        Err(DatastoreError::AlreadyExists {
            identifier: key.to_string(),
            existing: r.current.map(Box::new),
        })
    }

    fn update(&self, key: &str, value: &[u8], revision: Revision) -> Result<Revision> {
        let r = self.txn(
            Some(Compare::mod_revision(key, CompareOp::Equal, revision)),
            TxnOp::put(key, value, None),
            key,
        )?;
        if r.succeeded {
            return Ok(r.revision);
        }
        Err(match r.current {
            None => DatastoreError::NotFound {
                identifier: key.to_string(),
            },
            Some(cur) => DatastoreError::Conflict {
                identifier: key.to_string(),
                current: Some(Box::new(cur)),
            },
        })
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<Revision> {
        let kv = self.client.kv_client();
        let resp = self.call(|| {
            let (mut kv, key, value) = (kv.clone(), key.to_string(), value.to_vec());
            async move { kv.put(key, value, None).await }
        })?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    fn delete(&self, key: &str, revision: Option<Revision>) -> Result<KvPair> {
        let r = self.txn(
            revision.map(|rev| Compare::mod_revision(key, CompareOp::Equal, rev)),
            TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key())),
            key,
        )?;
        let not_found = || DatastoreError::NotFound {
            identifier: key.to_string(),
        };
        if !r.succeeded {
            return Err(match r.current {
                None => not_found(),
                Some(cur) => DatastoreError::Conflict {
                    identifier: key.to_string(),
                    current: Some(Box::new(cur)),
                },
            });
        }
        if r.deleted == 0 {
            return Err(not_found());
        }
        r.prev.ok_or_else(not_found)
    }

    fn list(&self, prefix: &str) -> Result<Vec<KvPair>> {
        let kv = self.client.kv_client();
        // An empty prefix means every key.
        let (start, options) = if prefix.is_empty() {
            ("\0", GetOptions::new().with_all_keys())
        } else {
            (prefix, GetOptions::new().with_prefix())
        };
        let resp = self.call(|| {
            let (mut kv, start, options) = (kv.clone(), start.to_string(), options.clone());
            async move { kv.get(start, Some(options)).await }
        })?;
        // etcd returns a range sorted by key.
        Ok(resp.kvs().iter().map(pair).collect())
    }

    fn revision(&self) -> Result<Revision> {
        // A count-only get of one key is the cheapest request that returns the header.
        let kv = self.client.kv_client();
        let resp = self.call(|| {
            let mut kv = kv.clone();
            async move {
                kv.get("/calico/", Some(GetOptions::new().with_count_only()))
                    .await
            }
        })?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    fn read_many(&self, reads: &[Read]) -> Result<Vec<Vec<KvPair>>> {
        // A transaction without comparisons runs its `then` reads at one revision.
        let txn = Txn::new().and_then(reads.iter().map(range_op).collect::<Vec<_>>());
        let kv = self.client.kv_client();
        let resp = self.call(|| {
            let (mut kv, txn) = (kv.clone(), txn.clone());
            async move { kv.txn(txn).await }
        })?;
        let answers: Vec<Vec<KvPair>> = resp
            .op_responses()
            .iter()
            .filter_map(|op| match op {
                TxnOpResponse::Get(get) => Some(get.kvs().iter().map(pair).collect()),
                _ => None,
            })
            .collect();
        if answers.len() != reads.len() {
            return Err(DatastoreError::Request(format!(
                "etcdv3: {} answers to {} reads",
                answers.len(),
                reads.len()
            )));
        }
        Ok(answers)
    }

    fn txn(&self, writes: &[Write]) -> Result<Revision> {
        let compares: Vec<Compare> = writes
            .iter()
            .map(|w| match w {
                Write::Create { key, .. } => Compare::version(key.as_str(), CompareOp::Equal, 0),
                Write::Update { key, revision, .. }
                | Write::Delete {
                    key,
                    revision: Some(revision),
                } => Compare::mod_revision(key.as_str(), CompareOp::Equal, *revision),
                Write::Delete {
                    key,
                    revision: None,
                } => Compare::version(key.as_str(), CompareOp::Greater, 0),
            })
            .collect();
        let ops: Vec<TxnOp> = writes
            .iter()
            .map(|w| match w {
                Write::Create { key, value } | Write::Update { key, value, .. } => {
                    TxnOp::put(key.as_str(), value.clone(), None)
                }
                Write::Delete { key, .. } => TxnOp::delete(key.as_str(), None),
            })
            .collect();
        // On failure, read every key back to say which precondition failed and why.
        let reads: Vec<TxnOp> = writes.iter().map(|w| TxnOp::get(w.key(), None)).collect();
        let txn = Txn::new().when(compares).and_then(ops).or_else(reads);
        let kv = self.client.kv_client();
        let resp = self.call(|| {
            let (mut kv, txn) = (kv.clone(), txn.clone());
            async move { kv.txn(txn).await }
        })?;
        if resp.succeeded() {
            return Ok(resp.header().map_or(0, |h| h.revision()));
        }
        let current = resp.op_responses().into_iter().map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().map(pair),
            _ => None,
        });
        Err(writes
            .iter()
            .zip(current)
            .find_map(|(w, cur)| w.failure(cur.as_ref()))
            .unwrap_or_else(|| DatastoreError::Conflict {
                identifier: writes.first().map_or("", |w| w.key()).to_string(),
                current: None,
            }))
    }
}

/// The range request of one batched read; an empty prefix means every key.
fn range_op(read: &Read) -> TxnOp {
    match read {
        Read::Key(key) => TxnOp::get(key.as_str(), None),
        Read::Prefix(p) if p.is_empty() => {
            TxnOp::get("\0", Some(GetOptions::new().with_all_keys()))
        }
        Read::Prefix(p) => TxnOp::get(p.as_str(), Some(GetOptions::new().with_prefix())),
    }
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

fn pair(kv: &KeyValue) -> KvPair {
    KvPair {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        revision: kv.mod_revision(),
    }
}

fn resolve_endpoints(config: &EtcdConfig) -> Result<Vec<String>> {
    if !config.endpoints.is_empty() && !config.discovery_srv.is_empty() {
        return Err(DatastoreError::Config(
            "multiple discovery or bootstrap options specified, use either \"etcdEndpoints\" or \"etcdDiscoverySrv\""
                .into(),
        ));
    }
    let endpoints = if config.discovery_srv.is_empty() {
        config.endpoints.clone()
    } else {
        let servers = if config.nameservers.is_empty() {
            discovery::system_nameservers()
        } else {
            config.nameservers.clone()
        };
        discovery::discover(&config.discovery_srv, &servers).map_err(DatastoreError::Unavailable)?
    };
    if endpoints.is_empty() {
        return Err(DatastoreError::Config("no etcd endpoints specified".into()));
    }
    // A scheme the client cannot speak is a configuration error, not an outage: no retry
    // will ever reach it.
    for ep in &endpoints {
        if let Some((scheme, _)) = ep.split_once("://") {
            if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
                return Err(DatastoreError::Config(format!(
                    "invalid etcd endpoint {ep:?}: unsupported scheme {scheme:?} (use http or https)"
                )));
            }
        }
    }
    Ok(endpoints)
}

/// The most an etcd key, certificate or CA file may hold.
const TLS_FILE_LIMIT: u64 = 1 << 20;

/// TLS from the key/cert/CA files; `None` when none is set (plain http endpoints).
fn tls_options(config: &EtcdConfig) -> Result<Option<TlsOptions>> {
    let (key, cert, ca) = (&config.key_file, &config.cert_file, &config.ca_cert_file);
    if key.is_empty() && cert.is_empty() && ca.is_empty() {
        return Ok(None);
    }
    // Bounded: a key, certificate or CA path naming something endless (`/dev/zero`) fails at
    // once instead of eating memory. Real ones are a few KiB.
    let read = |path: &str| {
        libcni::fs::read_bounded(std::path::Path::new(path), TLS_FILE_LIMIT)
            .map_err(|e| DatastoreError::Config(format!("could not initialize etcdv3 client: {e}")))
    };
    let mut tls = TlsOptions::new();
    if !ca.is_empty() {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    match (cert.is_empty(), key.is_empty()) {
        (false, false) => tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?)),
        (true, true) => {}
        _ => {
            return Err(DatastoreError::Config(
                "could not initialize etcdv3 client: both etcd_cert_file and etcd_key_file are needed for client authentication".into(),
            ))
        }
    }
    Ok(Some(tls))
}

/// True when the request never reached etcd: no connection could be made.
fn not_sent(e: &etcd_client::Error) -> bool {
    use etcd_client::Error as E;
    match e {
        E::TransportError(_) => true,
        E::GRpcStatus(status) => {
            status.code() == tonic::Code::Unavailable
                && (status.message().contains("connect error")
                    || status.message().contains("Connection refused"))
        }
        _ => false,
    }
}

fn deadline_exceeded(timeout: Duration) -> DatastoreError {
    DatastoreError::Unavailable(format!(
        "etcdv3: no answer within {}s: context deadline exceeded",
        timeout.as_secs_f32()
    ))
}

/// gRPC codes a retry can get past are "try again later"; refusals are not.
fn map_error(e: etcd_client::Error) -> DatastoreError {
    use etcd_client::Error as E;
    use tonic::Code;
    match e {
        E::GRpcStatus(status) => match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal => {
                DatastoreError::Unavailable(format!("etcdv3: {}", status.message()))
            }
            _ => DatastoreError::Request(format!("etcdv3: {}", status.message())),
        },
        E::TransportError(_) | E::IoError(_) | E::EndpointError(_) => {
            DatastoreError::Unavailable(format!("etcdv3: {e}"))
        }
        E::InvalidArgs(_) | E::InvalidUri(_) => {
            DatastoreError::Config(format!("could not initialize etcdv3 client: {e}"))
        }
        other => DatastoreError::Request(format!("etcdv3: {other}")),
    }
}
