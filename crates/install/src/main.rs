//! `install`: Calico's CNI installer, configured by environment only; `install istio-cni
//! [--flags]` (or the binary run as `install-cni`) is Istio's CNI node agent instead.

use install::config::ProcessEnv;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let invoked_as = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let istio = if invoked_as == "install-cni" {
        Some(&args[1.min(args.len())..])
    } else if args.get(1).is_some_and(|a| a == "istio-cni") {
        Some(&args[2..])
    } else {
        None
    };
    if let Some(rest) = istio {
        if let Err(e) = install::istio::main(rest, &ProcessEnv) {
            install::istio::log::error(&format!("{e:#}"));
            std::process::exit(1);
        }
        return;
    }
    if let Some(arg) = args.get(1) {
        if arg == "-v" || arg == "--version" || arg == "version" {
            println!("{}", env!("CARGO_PKG_VERSION"));
            return;
        }
    }
    if let Err(e) = install::run(&ProcessEnv) {
        install::error!("{e:#}");
        std::process::exit(1);
    }
}
