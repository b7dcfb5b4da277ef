//! A synchronous rtnetlink client bound to one network namespace.
//!
//! rtnetlink is async-only, so each `Netlink` owns a small current-thread
//! Tokio runtime and blocks on it. The netlink socket is created inside the
//! target namespace and stays bound to it for its whole life (the kernel
//! ties a socket to the netns it was created in), so after construction no
//! thread ever has to switch namespaces again.

use std::future::Future;

use rtnetlink::Handle;
use tokio::runtime::Runtime;

use crate::{NetNs, NetkitError, Result};

/// rtnetlink on a socket living in one network namespace.
///
/// All methods block. Do not call them from inside another Tokio runtime
/// (Tokio refuses nested `block_on`).
pub struct Netlink {
    handle: Handle,
    rt: Runtime,
}

impl Netlink {
    /// A client for the calling thread's current namespace.
    pub fn open_current() -> Result<Self> {
        let rt = runtime()?;
        let (connection, handle, _) = {
            // The socket registers with the runtime's reactor when created,
            // so a runtime context is needed even on this thread.
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(NetkitError::Socket)?
        };
        rt.spawn(connection);
        Ok(Self { handle, rt })
    }

    /// A client whose socket lives in `ns`.
    ///
    /// The socket is created on a short-lived thread that enters `ns` (see
    /// `NetNs::run`) and the runtime's context; the runtime itself stays on
    /// the caller's thread and never changes namespace.
    pub fn open_in(ns: &NetNs) -> Result<Self> {
        let rt = runtime()?;
        let (connection, handle, _) = ns
            .run(|| {
                let _guard = rt.enter();
                rtnetlink::new_connection()
            })?
            .map_err(NetkitError::Socket)?;
        rt.spawn(connection);
        Ok(Self { handle, rt })
    }

    /// The underlying rtnetlink handle, for requests netkit does not wrap.
    /// Drive its futures with [`Netlink::block_on`].
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs a future on this client's runtime (which also drives the netlink
    /// connection) until it completes.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").finish_non_exhaustive()
    }
}

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(NetkitError::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Netlink>();
        send_sync::<NetNs>();
    }
}
