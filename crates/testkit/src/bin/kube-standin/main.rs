//! `kube-standin --dir DIR [--groups v1|v3|both] [--http]`: runs testkit's stand-in Kubernetes
//! API server until SIGTERM or SIGINT. Writes `DIR/ca.pem` (https), `DIR/admin.kubeconfig`,
//! `DIR/cni.kubeconfig` (Calico's CNI service account) and `DIR/url`, then prints the URL.
//! Admin-only endpoints for other processes: `GET|DELETE /standin/requests` (JSON;
//! `GET /standin/requests.txt`: a line per request, `METHOD path[?query] user status`),
//! `GET|POST|DELETE /standin/faults`.

use std::path::PathBuf;

use testkit::{ApiGroups, KubeApi, KubeApiOptions, ADMIN_TOKEN, CNI_TOKEN};

fn usage() -> ! {
    eprintln!("usage: kube-standin --dir DIR [--groups v1|v3|both] [--http]");
    std::process::exit(2)
}

fn main() {
    let mut dir: Option<PathBuf> = None;
    let mut opts = KubeApiOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--groups" => {
                opts.groups = match args.next().as_deref() {
                    Some("v1") => ApiGroups::V1,
                    Some("v3") => ApiGroups::V3,
                    Some("both") => ApiGroups::Both,
                    _ => usage(),
                }
            }
            "--http" => opts.https = false,
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let dir = dir.unwrap_or_else(|| usage());
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));

    // Block the signals before any thread starts, then wait for one of them.
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    set.add(nix::sys::signal::Signal::SIGINT);
    set.thread_block().expect("block SIGTERM and SIGINT");

    let api = KubeApi::start(opts);
    if api.url().starts_with("https") {
        std::fs::copy(api.ca_pem(), dir.join("ca.pem")).expect("write ca.pem");
    }
    api.write_kubeconfig(&dir.join("admin.kubeconfig"), ADMIN_TOKEN);
    api.write_kubeconfig(&dir.join("cni.kubeconfig"), CNI_TOKEN);
    std::fs::write(dir.join("url"), format!("{}\n", api.url())).expect("write url");
    println!("{}", api.url());

    let sig = set.wait().expect("wait for a signal");
    eprintln!("kube-standin: {sig:?}, stopping");
    drop(api);
}
