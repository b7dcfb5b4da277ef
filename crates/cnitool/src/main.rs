//! `cnitool`: run a CNI network's plugin chain by hand, like Go's cnitool.
//!
//! ```text
//! cnitool add|check|del|gc|status <network> <netns>
//! cnitool version <plugin>
//! ```
//!
//! The environment is Go cnitool's: `NETCONFPATH`, `CNI_PATH`, `CNI_IFNAME`, `CNI_ARGS`,
//! `CAP_ARGS`. Errors are printed on stderr as one line (GC may report several, one per
//! line) and the exit code is 1.

mod cli;
mod netns;
mod network;
mod plugin_version;
mod runtime_args;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match &cli.command {
        cli::Command::Version { plugin } => plugin_version::run(plugin),
        cli::Command::Add(net) => network::add(&cli.global, net),
        cli::Command::Check(net) => network::check(&cli.global, net),
        cli::Command::Del { net, netns_delete } => network::del(&cli.global, net, *netns_delete),
        cli::Command::Gc(net) => network::gc(&cli.global, net),
        cli::Command::Status(net) => network::status(&cli.global, net),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
