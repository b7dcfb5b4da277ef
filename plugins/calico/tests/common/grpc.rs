//! A stand-in for an external gRPC dataplane (Calico's `grpc.TestServer`): serves
//! `cni.CniDataplane` on a unix socket, records every request, answers with a configurable
//! success and container MAC, and on a successful Add makes an (unconfigured) veth named as
//! asked in the workload's netns, which its Del removes.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::{Grpc, NamedService, UnaryService};

#[path = "../../src/grpc/proto.rs"]
#[allow(dead_code)]
pub mod proto;

use proto::{AddReply, AddRequest, DelReply, DelRequest};

#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Add(Box<AddRequest>),
    Del(DelRequest),
}

#[derive(Default)]
struct State {
    succeed: bool,
    container_mac: String,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Dataplane {
    state: Arc<Mutex<State>>,
}

pub struct GrpcServer {
    pub socket: std::path::PathBuf,
    dataplane: Dataplane,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn in_netns(netns: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={netns}"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Dataplane {
    fn add(&self, req: AddRequest) -> AddReply {
        let mut st = self.state.lock().unwrap();
        st.received.push(Received::Add(Box::new(req.clone())));
        let mut reply = AddReply {
            successful: st.succeed,
            host_interface_name: req.desired_host_interface_name.clone(),
            container_mac: st.container_mac.clone(),
            error_message: String::new(),
        };
        if st.succeed {
            let made = in_netns(
                &req.netns,
                &[
                    "ip",
                    "link",
                    "add",
                    &req.interface_name,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "peer0",
                ],
            );
            if let Err(e) = made {
                reply.successful = false;
                reply.error_message = format!("error adding veth: {e}");
            }
        } else {
            reply.error_message = "the test server says no".into();
        }
        reply
    }

    fn del(&self, req: DelRequest) -> DelReply {
        let mut st = self.state.lock().unwrap();
        st.received.push(Received::Del(req.clone()));
        let mut reply = DelReply {
            successful: st.succeed,
            error_message: String::new(),
        };
        if st.succeed {
            if let Err(e) = in_netns(&req.netns, &["ip", "link", "del", &req.interface_name]) {
                reply.successful = false;
                reply.error_message = format!("error deleting veth: {e}");
            }
        } else {
            reply.error_message = "the test server says no".into();
        }
        reply
    }
}

struct AddMethod(Dataplane);

impl UnaryService<AddRequest> for AddMethod {
    type Response = AddReply;
    type Future = BoxFuture<tonic::Response<AddReply>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<AddRequest>) -> Self::Future {
        let reply = self.0.add(req.into_inner());
        Box::pin(async move { Ok(tonic::Response::new(reply)) })
    }
}

struct DelMethod(Dataplane);

impl UnaryService<DelRequest> for DelMethod {
    type Response = DelReply;
    type Future = BoxFuture<tonic::Response<DelReply>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<DelRequest>) -> Self::Future {
        let reply = self.0.del(req.into_inner());
        Box::pin(async move { Ok(tonic::Response::new(reply)) })
    }
}

impl Service<http::Request<tonic::body::Body>> for Dataplane {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let dp = self.clone();
        match req.uri().path() {
            proto::ADD_PATH => Box::pin(async move {
                let mut grpc =
                    Grpc::new(tonic_prost::ProstCodec::<AddReply, AddRequest>::default());
                Ok(grpc.unary(AddMethod(dp), req).await)
            }),
            proto::DEL_PATH => Box::pin(async move {
                let mut grpc =
                    Grpc::new(tonic_prost::ProstCodec::<DelReply, DelRequest>::default());
                Ok(grpc.unary(DelMethod(dp), req).await)
            }),
            _ => Box::pin(
                async move { Ok(tonic::Status::unimplemented("no such method").into_http()) },
            ),
        }
    }
}

impl NamedService for Dataplane {
    const NAME: &'static str = "cni.CniDataplane";
}

impl GrpcServer {
    /// Serves on a fresh unix socket; `succeed` and `container_mac` shape every answer.
    pub fn start(succeed: bool, container_mac: &str) -> Self {
        let dir = testkit::temp_dir();
        let socket = dir.path().join("dataplane.sock");
        let dataplane = Dataplane {
            state: Arc::new(Mutex::new(State {
                succeed,
                container_mac: container_mac.to_string(),
                received: Vec::new(),
            })),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (dp, path) = (dataplane.clone(), socket.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::UnixListener::bind(&path).unwrap();
                ready_tx.send(()).unwrap();
                tonic::transport::Server::builder()
                    .add_service(dp)
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::UnixListenerStream::new(listener),
                        async {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .unwrap();
            });
        });
        ready_rx.recv().expect("grpc test server listening");
        GrpcServer {
            socket,
            dataplane,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn set_succeed(&self, succeed: bool) {
        self.dataplane.state.lock().unwrap().succeed = succeed;
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.dataplane.state.lock().unwrap().received.clone()
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
