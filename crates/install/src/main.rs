//! `install`: Calico's CNI installer. Configured by environment only.

use install::config::ProcessEnv;

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
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
