//! calicoctl for the Rust CNI suite: calicoctl's verbs for what users need without
//! calico-node — resources from manifests (`apply/create/delete -f`, `get`) and IPAM
//! (`ipam show`, `ipam check`, `ipam release`, `ipam configure`, `datastore migrate lock`). The datastore comes from the same
//! environment as calicoctl's (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`, `ETCD_*_FILE`, `KUBECONFIG`,
//! `K8S_API_ENDPOINT`, ... with `CALICO_` overrides), plus `DATASTORE_PATH` for the local store.

mod check;
mod ipam;
mod manifest;
mod release;
mod resources;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use datastore::resources::{Node, NodeSpec};
use datastore::{Datastore, ResourceKey};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "calicoctl", version, about = "Calico admin CLI (cni-rs)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create or replace resources from a file (JSON or YAML; "-" is stdin).
    Apply {
        #[arg(short = 'f', long = "filename")]
        file: String,
    },
    /// Create resources from a file; fails if one exists.
    Create {
        #[arg(short = 'f', long = "filename")]
        file: String,
    },
    /// Delete resources named in a file, or `delete <kind> <name>`.
    Delete {
        kind: Option<String>,
        name: Option<String>,
        #[arg(short = 'f', long = "filename")]
        file: Option<String>,
    },
    /// Show resources: `get <kind> [name]` or `get -f file`.
    Get {
        kind: Option<String>,
        name: Option<String>,
        #[arg(short = 'f', long = "filename")]
        file: Option<String>,
        /// json or yaml
        #[arg(short = 'o', long = "output", default_value = "yaml")]
        output: String,
    },
    /// IP address management.
    Ipam {
        #[command(subcommand)]
        cmd: IpamCmd,
    },
    /// Data store management (`datastore migrate lock|unlock`).
    Datastore {
        #[command(subcommand)]
        cmd: DatastoreCmd,
    },
}

#[derive(Subcommand)]
enum IpamCmd {
    /// Usage per pool (and per block).
    Show {
        #[arg(long)]
        show_blocks: bool,
        /// Who holds this address (handle and owners).
        #[arg(long)]
        ip: Option<String>,
    },
    /// Check the integrity of the IPAM datastructures (exits 0 even when problems are found).
    Check {
        /// Print all IPs that are checked.
        #[arg(long)]
        show_all_ips: bool,
        /// Print all IPs that are leaked or not allocated properly.
        #[arg(long)]
        show_problem_ips: bool,
        /// Path to output report file.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<String>,
    },
    /// Configure IPAM: strict affinity, the block limit per host, KubeVirt address persistence.
    Configure {
        /// Set StrictAffinity to true/false. When StrictAffinity is true, borrowing IP
        /// addresses is not allowed.
        #[arg(long = "strictaffinity", value_name = "true/false")]
        strict_affinity: Option<String>,
        /// Set the maximum number of blocks that can be affine to a host.
        #[arg(long = "max-blocks-per-host", value_name = "number")]
        max_blocks_per_host: Option<String>,
        /// Control whether KubeVirt VMs retain persistent IP addresses across lifecycle events.
        #[arg(long = "kubevirt-ip-persistence", value_name = "Enabled|Disabled")]
        kubevirt_ip_persistence: Option<String>,
    },
    /// Release a Calico assigned IP address, or every leaked one of `ipam check` reports.
    Release {
        /// IP address to release.
        #[arg(long)]
        ip: Option<String>,
        /// Release all leaked addresses and handles of the report; with several, only what
        /// all of them call leaked.
        #[arg(long = "from-report", value_name = "REPORT")]
        from_report: Vec<String>,
        /// Release even when the data store is not locked or a report is of another version.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum DatastoreCmd {
    /// Data store migration.
    Migrate {
        #[command(subcommand)]
        cmd: MigrateCmd,
    },
}

#[derive(Subcommand)]
enum MigrateCmd {
    /// Lock the data store (ClusterInformation datastoreReady=false): CNI ADDs and calico-node
    /// wait until it is unlocked.
    Lock,
    /// Unlock the data store.
    Unlock,
}

fn open() -> Result<Datastore> {
    let ds = Datastore::from_netconf(&json!({})).context("failed to open the datastore")?;
    if ds.backend() == "local" {
        // No calico-node on a local-store host: the first use makes the cluster ready and
        // registers this node (pools stay explicit).
        ds.ensure_cluster_information(env!("CARGO_PKG_VERSION"), "cni-rs")?;
        let node = ::ipam::nodename::determine(&::ipam::nodename::NodenameConf {
            nodename: std::env::var("NODENAME").unwrap_or_default(),
            ..Default::default()
        });
        if ds
            .get_resource(&ResourceKey::<NodeSpec>::global(&node))?
            .is_none()
        {
            match ds.create_resource(&Node::new(&node, NodeSpec::default())) {
                Ok(_) => {}
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ds)
}

fn print(objs: Vec<Value>, output: &str) -> Result<()> {
    let out = if objs.len() == 1 {
        objs.into_iter().next().unwrap_or(Value::Null)
    } else {
        json!({"apiVersion": "projectcalico.org/v3", "kind": "List", "items": objs})
    };
    match output {
        "json" => println!("{}", serde_json::to_string_pretty(&out)?),
        "yaml" => print!("{}", serde_norway::to_string(&out)?),
        o => bail!("unrecognized output format '{o}'"),
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let ds = open()?;
    match cli.cmd {
        Cmd::Apply { file } => {
            println!(
                "{}",
                resources::run_verb(&ds, resources::Verb::Apply, &manifest::read(&file)?)?
            )
        }
        Cmd::Create { file } => {
            println!(
                "{}",
                resources::run_verb(&ds, resources::Verb::Create, &manifest::read(&file)?)?
            )
        }
        Cmd::Delete { kind, name, file } => {
            let docs = match (file, kind, name) {
                (Some(f), _, _) => manifest::read(&f)?,
                (None, Some(k), Some(n)) => vec![json!({"kind": k, "metadata": {"name": n}})],
                _ => bail!("delete needs -f <file> or <kind> <name>"),
            };
            println!(
                "{}",
                resources::run_verb(&ds, resources::Verb::Delete, &docs)?
            )
        }
        Cmd::Get {
            kind,
            name,
            file,
            output,
        } => {
            let objs = match (file, kind) {
                (Some(f), _) => {
                    let mut out = Vec::new();
                    for d in manifest::read(&f)? {
                        let k = d
                            .get("kind")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let n = d["metadata"]["name"].as_str().map(str::to_string);
                        out.extend(resources::get(&ds, &k, n.as_deref())?);
                    }
                    out
                }
                (None, Some(k)) => resources::get(&ds, &k, name.as_deref())?,
                (None, None) => bail!("get needs a resource type or -f <file>"),
            };
            print(objs, &output)?
        }
        Cmd::Ipam { cmd } => match cmd {
            IpamCmd::Show { ip: Some(ip), .. } => match ipam::show_ip(&ds, &ip)? {
                Some(text) => print!("{text}"),
                None => {
                    println!("Error executing command: invalid IP address specified: {ip}");
                    std::process::exit(1);
                }
            },
            IpamCmd::Show {
                show_blocks,
                ip: None,
            } => print!("{}", ipam::show(&ds, show_blocks)?),
            IpamCmd::Check {
                show_all_ips,
                show_problem_ips,
                output,
            } => {
                let opts = check::CheckOptions {
                    show_all_ips,
                    show_problem_ips,
                };
                let mut out = std::io::stdout().lock();
                check::check(
                    &ds,
                    opts,
                    env!("CARGO_PKG_VERSION"),
                    output.as_deref(),
                    &mut out,
                )?;
            }
            IpamCmd::Configure {
                strict_affinity,
                max_blocks_per_host,
                kubevirt_ip_persistence,
            } => {
                let flags = ipam::Configure {
                    strict_affinity,
                    max_blocks_per_host,
                    kubevirt_ip_persistence,
                };
                for line in ipam::configure(&ds, &flags)? {
                    println!("{line}");
                }
            }
            IpamCmd::Release {
                from_report, force, ..
            } if !from_report.is_empty() => {
                let mut out = std::io::stdout().lock();
                release::from_reports(
                    &ds,
                    &from_report,
                    force,
                    env!("CARGO_PKG_VERSION"),
                    &mut out,
                )?;
                println!("You may now unlock the data store.");
            }
            // Like upstream, `release` without `--ip` does nothing.
            IpamCmd::Release { ip: None, .. } => {}
            IpamCmd::Release { ip: Some(ip), .. } => match ipam::release(&ds, &ip)? {
                ipam::Release::Released(ip) => println!("Successfully released IP address {ip}"),
                ipam::Release::NotAssigned(ip) => bail!("IP address {ip} is not assigned"),
                // calicoctl's argutils.ValidateIP prints this on stdout and exits.
                ipam::Release::InvalidIp(ip) => {
                    println!("Error executing command: invalid IP address specified: {ip}");
                    std::process::exit(1);
                }
            },
        },
        Cmd::Datastore {
            cmd: DatastoreCmd::Migrate { cmd },
        } => print!(
            "{}",
            release::set_lock(&ds, matches!(cmd, MigrateCmd::Lock))?
        ),
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}
