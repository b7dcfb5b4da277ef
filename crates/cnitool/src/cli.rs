//! Command-line syntax.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const ENV_HELP: &str = "\
Environment:
  NETCONFPATH  directory of network configs, looked up by name (default /etc/cni/net.d)
  CNI_PATH     plugin directories, separated by ':'
  CNI_IFNAME   interface name in the container (default eth0; -i overrides)
  CNI_ARGS     extra plugin args, K=V;K2=V2
  CAP_ARGS     capability args as a JSON object, e.g. '{\"portMappings\":[...]}'

The container ID is cnitool-<first 10 bytes of SHA-512(absolute netns path), in hex>.";

#[derive(Debug, Parser)]
#[command(
    name = "cnitool",
    version,
    about = "Add, check, remove, gc or status network interfaces from a network namespace",
    after_help = ENV_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every network command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Interface name in the container
    #[arg(short, long, global = true, env = "CNI_IFNAME", value_name = "IFNAME")]
    pub ifname: Option<String>,
    /// Use this .conflist/.conf/.json file instead of looking the network up in NETCONFPATH
    #[arg(long, global = true, value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Result cache directory (default /var/lib/cni)
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// ADD the network's plugins to the netns and print the result
    Add(NetArgs),
    /// CHECK the network's plugins against the cached result
    Check(NetArgs),
    /// DEL the network's plugins, in reverse order
    Del {
        #[command(flatten)]
        net: NetArgs,
        /// After a successful DEL, also delete the netns given by --netns-create
        #[arg(long, requires = "netns_create")]
        netns_delete: bool,
    },
    /// DEL every cached attachment of the network, then GC its plugins
    Gc(NetArgs),
    /// Ask the network's plugins whether they are ready
    Status(NetArgs),
    /// Print a plugin's VERSION answer (the plugin is looked up in CNI_PATH)
    Version {
        /// Plugin binary name, e.g. bridge
        plugin: String,
    },
}

#[derive(Debug, Args)]
pub struct NetArgs {
    /// Network name (the `name` of a config in NETCONFPATH, or of --conf)
    pub network: String,
    /// Path of the network namespace, e.g. /run/netns/ctr1
    pub netns: Option<String>,
    /// Use /run/netns/NAME as the netns, creating it with `ip netns add` if it is missing
    /// (never created for del)
    #[arg(long, value_name = "NAME")]
    pub netns_create: Option<String>,
}
