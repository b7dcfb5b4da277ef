//! A blocking CRI client on a unix socket: what the kubelet calls, one unary gRPC call at a
//! time on a current-thread runtime the client owns (tests are synchronous).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint, Uri};

use super::messages::*;

const RUNTIME: &str = "/runtime.v1.RuntimeService/";
const IMAGES: &str = "/runtime.v1.ImageService/";

/// Every call gets this long: RunPodSandbox runs the whole CNI chain and starts a container,
/// which takes seconds on a loaded 2-core machine, not minutes.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to a CRI runtime service (containerd's CRI plugin).
pub struct CriClient {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    socket: PathBuf,
}

impl CriClient {
    /// Connects to the runtime listening on the unix socket `socket`.
    pub fn connect(socket: &Path) -> Result<CriClient, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
        let path = socket.to_path_buf();
        let channel = runtime
            .block_on(async move {
                // The URI is never dialled: the connector opens the unix socket.
                Endpoint::from_static("http://localhost")
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let path = path.clone();
                        async move {
                            tokio::net::UnixStream::connect(path)
                                .await
                                .map(hyper_util::rt::TokioIo::new)
                        }
                    }))
                    .await
            })
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        Ok(CriClient {
            runtime,
            channel,
            socket: socket.to_path_buf(),
        })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn call<Req, Rep>(&self, path: &str, request: Req) -> Result<Rep, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let path = tonic::codegen::http::uri::PathAndQuery::try_from(path)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        let call = async move {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec = tonic_prost::ProstCodec::<Req, Rep>::default();
            grpc.unary(tonic::Request::new(request), path, codec)
                .await
                .map(tonic::Response::into_inner)
        };
        self.runtime
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, call).await })
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("CRI call timed out")))
    }

    pub fn version(&self) -> Result<VersionResponse, tonic::Status> {
        self.call(
            &format!("{RUNTIME}Version"),
            VersionRequest {
                version: "v1".into(),
            },
        )
    }

    /// The runtime's conditions (`RuntimeReady`, `NetworkReady`).
    pub fn status(&self) -> Result<RuntimeStatus, tonic::Status> {
        let reply: StatusResponse = self.call(
            &format!("{RUNTIME}Status"),
            StatusRequest { verbose: false },
        )?;
        Ok(reply.status.unwrap_or_default())
    }

    /// The image `name` as the runtime knows it, `None` when it does not have it.
    pub fn image_status(&self, name: &str) -> Result<Option<Image>, tonic::Status> {
        let reply: ImageStatusResponse = self.call(
            &format!("{IMAGES}ImageStatus"),
            ImageStatusRequest {
                image: Some(ImageSpec { image: name.into() }),
            },
        )?;
        Ok(reply.image)
    }

    /// Creates and starts a sandbox (the CNI ADD happens here); returns its id.
    pub fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<String, tonic::Status> {
        let reply: RunPodSandboxResponse = self.call(
            &format!("{RUNTIME}RunPodSandbox"),
            RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            },
        )?;
        Ok(reply.pod_sandbox_id)
    }

    pub fn pod_sandbox_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<PodSandboxStatusResponse, tonic::Status> {
        self.call(
            &format!("{RUNTIME}PodSandboxStatus"),
            PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose,
            },
        )
    }

    /// Stops the sandbox (the CNI DEL happens here).
    pub fn stop_pod_sandbox(&self, id: &str) -> Result<(), tonic::Status> {
        let _: StopPodSandboxResponse = self.call(
            &format!("{RUNTIME}StopPodSandbox"),
            StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            },
        )?;
        Ok(())
    }

    pub fn remove_pod_sandbox(&self, id: &str) -> Result<(), tonic::Status> {
        let _: RemovePodSandboxResponse = self.call(
            &format!("{RUNTIME}RemovePodSandbox"),
            RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            },
        )?;
        Ok(())
    }

    pub fn list_pod_sandbox(&self) -> Result<Vec<PodSandbox>, tonic::Status> {
        let reply: ListPodSandboxResponse = self.call(
            &format!("{RUNTIME}ListPodSandbox"),
            ListPodSandboxRequest {},
        )?;
        Ok(reply.items)
    }
}
