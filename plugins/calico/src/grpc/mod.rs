//! The external gRPC dataplane (`dataplane_options: {"type": "grpc", "socket": ...}`), as
//! Calico's `grpcDataplane`: instead of wiring a veth itself, the plugin asks a dataplane
//! process (VPP and the like) to do it with `cni.CniDataplane/Add` and `/Del`, forwarding the
//! string-valued `dataplane_options`. Each call gets 5 s, as Calico's.

pub mod proto;

use std::collections::BTreeMap;
use std::time::Duration;

use libcni::{code, CniError};
use serde_json::Value;

pub use proto::{AddReply, AddRequest, DelReply, DelRequest};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Where the dataplane listens and what to forward to it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcDataplane {
    /// `unix:///path`, `unix:/path`, `/path` (a unix socket) or `host:port`.
    pub socket: String,
    pub options: BTreeMap<String, String>,
}

fn err(msg: impl Into<String>) -> CniError {
    CniError::new(code::INTERNAL, msg)
}

impl GrpcDataplane {
    /// Calico's `GetDataplane`: no `type` → the Linux dataplane (`None`); `grpc` → this, which
    /// needs a string `socket`; anything else is an error.
    pub fn from_options(options: &BTreeMap<String, Value>) -> Result<Option<Self>, CniError> {
        let Some(kind) = options.get("type") else {
            return Ok(None);
        };
        match kind.as_str() {
            Some("grpc") => {}
            _ => {
                let shown = kind
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| kind.to_string());
                return Err(err(format!("Invalid dataplane type: {shown}")));
            }
        }
        let Some(socket) = options.get("socket").and_then(Value::as_str) else {
            return Err(err("GRPC dataplane socket not configured"));
        };
        Ok(Some(GrpcDataplane {
            socket: socket.to_string(),
            options: options
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
        }))
    }

    /// `Add`: the reply when the dataplane says it succeeded, its error otherwise.
    pub fn add(&self, mut request: AddRequest) -> Result<AddReply, CniError> {
        request.dataplane_options = self.options.clone();
        let reply: AddReply = self.call(proto::ADD_PATH, request)?;
        if !reply.successful {
            return Err(err(format!(
                "grpc dataplane error: {}",
                reply.error_message
            )));
        }
        Ok(reply)
    }

    /// `Del` of `ifname` in `netns`.
    pub fn del(&self, ifname: &str, netns: &str) -> Result<(), CniError> {
        let request = DelRequest {
            interface_name: ifname.to_string(),
            netns: netns.to_string(),
            dataplane_options: self.options.clone(),
        };
        let reply: DelReply = self.call(proto::DEL_PATH, request)?;
        if !reply.successful {
            return Err(err(format!(
                "grpc dataplane error: {}",
                reply.error_message
            )));
        }
        Ok(())
    }

    /// One unary call on a current-thread runtime (the plugin makes one per invocation).
    fn call<Req, Rep>(&self, path: &'static str, request: Req) -> Result<Rep, CniError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(format!("cannot start the grpc client: {e}")))?;
        let socket = self.socket.clone();
        let outcome = runtime.block_on(async move {
            tokio::time::timeout(TIMEOUT, unary::<Req, Rep>(&socket, path, request)).await
        });
        match outcome {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(status)) => Err(err(format!(
                "rpc error: code = {:?} desc = {}",
                status.code(),
                status.message()
            ))),
            Err(_) => Err(err(
                "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
            )),
        }
    }
}

/// The unix socket path a target names, or `None` for a TCP `host:port`.
fn unix_path(target: &str) -> Option<&str> {
    target
        .strip_prefix("unix://")
        .or_else(|| target.strip_prefix("unix:"))
        .or_else(|| target.starts_with('/').then_some(target))
}

async fn unary<Req, Rep>(
    target: &str,
    path: &'static str,
    request: Req,
) -> Result<Rep, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Rep: prost::Message + Default + Send + Sync + 'static,
{
    use tonic::transport::{Endpoint, Uri};
    let unavailable =
        |e: &dyn std::fmt::Display| tonic::Status::unavailable(format!("connection error: {e}"));
    let channel = match unix_path(target) {
        Some(path_on_disk) => {
            let path_on_disk = path_on_disk.to_string();
            // The URI is never dialled: the connector below opens the unix socket.
            Endpoint::from_static("http://localhost")
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let p = path_on_disk.clone();
                    async move {
                        tokio::net::UnixStream::connect(p)
                            .await
                            .map(hyper_util::rt::TokioIo::new)
                    }
                }))
                .await
                .map_err(|e| unavailable(&e))?
        }
        None => Endpoint::from_shared(format!("http://{target}"))
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?
            .connect()
            .await
            .map_err(|e| unavailable(&e))?,
    };
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| unavailable(&e))?;
    let codec = tonic_prost::ProstCodec::<Req, Rep>::default();
    let reply = client
        .unary(
            tonic::Request::new(request),
            tonic::codegen::http::uri::PathAndQuery::from_static(path),
            codec,
        )
        .await?;
    Ok(reply.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn dataplane_selection_as_calico() {
        assert_eq!(GrpcDataplane::from_options(&opts(json!({}))).unwrap(), None);
        let e = GrpcDataplane::from_options(&opts(json!({"type": "vpp"}))).unwrap_err();
        assert_eq!(e.msg, "Invalid dataplane type: vpp");
        let e = GrpcDataplane::from_options(&opts(json!({"type": "grpc"}))).unwrap_err();
        assert_eq!(e.msg, "GRPC dataplane socket not configured");
        let d = GrpcDataplane::from_options(&opts(
            json!({"type": "grpc", "socket": "unix:///run/dp.sock", "option": "x", "n": 1}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(d.socket, "unix:///run/dp.sock");
        assert_eq!(
            d.options.keys().collect::<Vec<_>>(),
            ["option", "socket", "type"],
            "string options are forwarded"
        );
    }

    #[test]
    fn targets() {
        assert_eq!(unix_path("unix:///a/b"), Some("/a/b"));
        assert_eq!(unix_path("unix:/a/b"), Some("/a/b"));
        assert_eq!(unix_path("/a/b"), Some("/a/b"));
        assert_eq!(unix_path("127.0.0.1:50051"), None);
    }
}
