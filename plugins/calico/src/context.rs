//! The preamble every verb shares (Calico's order): config, logging, nodename-file check, MTU,
//! node name, identifiers, datastore client, ClusterInformation readiness.

use calicolog::debug;
use datastore::{Datastore, DatastoreError};
use libcni::{code, CmdArgs, CniCode, CniError};

use crate::config::{self, Loaded, NetConf, MTU_FILE};
use crate::names::{self, Identifiers};

pub struct Context {
    pub conf: NetConf,
    pub ids: Identifiers,
    /// Effective MTU: `mtu`, else `/var/lib/calico/mtu`, else 0 (kernel default).
    pub mtu: u32,
    pub ds: Datastore,
    /// The external gRPC dataplane, when `dataplane_options` names one (else Linux veths).
    pub grpc: Option<crate::grpc::GrpcDataplane>,
}

pub fn ds_err(e: DatastoreError) -> CniError {
    e.to_cni()
}

/// The verb a context is loaded for: the preamble differs a little between them, as in Calico.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Add,
    Del,
    Check,
    Gc,
    Status,
}

impl Context {
    /// Everything up to (not including) the readiness check.
    pub fn load(args: &CmdArgs, verb: Verb) -> Result<Self, CniError> {
        Context::from_loaded(args, config::load(&args.stdin_data)?, verb)
    }

    /// [`Context::load`] of a config already parsed (CHECK looks at its prevResult first).
    pub fn from_loaded(args: &CmdArgs, loaded: Loaded, verb: Verb) -> Result<Self, CniError> {
        let conf = loaded.conf;
        calicolog::init("calico", &conf.log_settings());
        names::check_nodename_file(&conf)?;
        let mut mtu = conf.mtu.max(0) as u32;
        // Only ADD reads the MTU file (Calico's cmdAdd; DEL has no use for it).
        if verb == Verb::Add {
            let from_file = config::mtu_from_file(&conf, MTU_FILE)?;
            if mtu == 0 && from_file > 0 {
                mtu = from_file as u32;
            }
        }
        // Node name: `nodename`, the contents of `nodename_file`, `hostname`, the OS host
        // name; calico-ipam decides it the same way.
        let node = conf.node_name();
        let mut ids = names::identifiers(args, &node)?;
        if ids.orchestrator != names::ORCH_K8S {
            // A Mesos label can place the endpoint in another namespace.
            if let Some((_, v)) = crate::mesos::labels(conf.args.as_ref())
                .into_iter()
                .find(|(k, _)| k == crate::mesos::NAMESPACE_KEY)
            {
                ids.namespace = crate::mesos::sanitize(&v);
            }
        }
        debug!("identifiers: {ids:?}");
        let ds = Datastore::from_keys(&loaded.datastore).map_err(|e| {
            let e = e.to_cni();
            // Calico's cmdAdd says what failed; its cmdDel returns the error as it is.
            match verb {
                Verb::Add => {
                    CniError::new(e.code, format!("error creating calico client: {}", e.msg))
                }
                _ => e,
            }
        })?;
        // Calico's GetDataplane: an unknown type or grpc without a socket fails every verb.
        let grpc = crate::grpc::GrpcDataplane::from_options(&conf.dataplane_options)?;
        Ok(Context {
            conf,
            ids,
            mtu,
            ds,
            grpc,
        })
    }

    /// How a failure to read ClusterInformation is reported (the first read of an ADD).
    pub fn cluster_information_error(&self, e: DatastoreError) -> CniError {
        if self.ds.backend() == "local" {
            return ds_err(e);
        }
        CniError::new(
            e.to_cni().code,
            format!("error getting ClusterInformation: {e}"),
        )
    }

    /// ClusterInformation `default` must exist with `datastoreReady: true`. On our local store
    /// (one machine, no calico-node to create it) it is created ready on first use.
    pub fn check_ready(&self) -> Result<(), CniError> {
        let ci = if self.ds.backend() == "local" {
            Some(
                self.ds
                    .ensure_cluster_information(env!("CARGO_PKG_VERSION"), "cni-rs")
                    .map_err(ds_err)?,
            )
        } else {
            self.ds
                .cluster_information()
                .map_err(|e| self.cluster_information_error(e))?
        };
        let Some(ci) = ci else {
            return Err(CniError::new(
                code::INTERNAL,
                format!(
                    "error getting ClusterInformation: {}",
                    self.ds.missing_cluster_information()
                ),
            ));
        };
        match ci.spec.datastore_ready {
            Some(true) => Ok(()),
            Some(false) => Err(CniError::new(
                code::TRY_AGAIN_LATER,
                "Calico is currently not ready to process requests",
            )),
            // Go dereferences the nil pointer and recovers the panic into this error.
            None => Err(CniError::new(
                code::INTERNAL,
                "Calico CNI panicked: runtime error: invalid memory address or nil pointer dereference",
            )),
        }
    }
}
