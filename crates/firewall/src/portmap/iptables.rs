//! The iptables backend: upstream's chain layout in table `nat`.
//!
//! ```text
//! PREROUTING, OUTPUT: -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//! CNI-HOSTPORT-DNAT:  -p tcp -m comment --comment 'dnat name: "net" id: "cid"' -m multiport
//!                     --destination-ports 8080,8081 [conditions] -j CNI-DN-<hash>
//! CNI-DN-<hash>:      -p tcp --dport 8080 -s <container net> -j CNI-HOSTPORT-SETMARK (hairpin)
//!                     -p tcp --dport 8080 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK       (localhost)
//!                     -p tcp --dport 8080 -j DNAT --to-destination <ip>:80
//! POSTROUTING:        -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
//! ```
//!
//! Upstream makes each "add unless present" with one `iptables -C` and one `-A` call. We read
//! the table once (`-S`), decide from what it prints, and make all edits in one restore
//! transaction. A rule counts as present when the table prints it exactly as we predict
//! iptables prints it; when we cannot predict the printed form (user conditions, unusual
//! protocols) or do not see it, `iptables -C` decides, as upstream. So the result is upstream's,
//! rule for rule, and costs two execs instead of a few dozen. Every ADD after a node's first
//! is tried first as one optimistic transaction that checks (`-C`) the shared rules it
//! relies on: one exec, falling back to the read-plan-apply path when anything is missing.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnetwork::IpNetwork;

use super::{
    chain_name, group_by_proto, ip_port, split_port_list, trim_comment, Attachment, HostIp,
    PortMapper,
};
use crate::error::{FirewallError, Result};
use crate::iptables::{Batch, Iptables, Op, Ruleset};
use crate::lock::{FileLock, LOCK_PATH};
use crate::Family;

/// The names of the shared chains. Never change them: nodes upgrade in place.
pub const TOP_LEVEL_DNAT_CHAIN: &str = "CNI-HOSTPORT-DNAT";
pub const SET_MARK_CHAIN: &str = "CNI-HOSTPORT-SETMARK";
pub const MARK_MASQ_CHAIN: &str = "CNI-HOSTPORT-MASQ";
pub const OLD_TOP_LEVEL_SNAT_CHAIN: &str = "CNI-HOSTPORT-SNAT";

const NAT: &str = "nat";

/// A rule: the arguments upstream passes to iptables, and how `iptables -S` prints them when
/// we can tell.
#[derive(Debug, Clone)]
struct GenRule {
    args: Vec<String>,
    printed: Option<Vec<String>>,
}

impl GenRule {
    /// The same rule with `-j <target>` appended.
    fn jumping_to(&self, target: &str) -> GenRule {
        let jump = |v: &Vec<String>| [v.clone(), words(&["-j", target])].concat();
        GenRule {
            args: jump(&self.args),
            printed: self.printed.as_ref().map(jump),
        }
    }

    /// The user chain this rule jumps to, if any.
    fn target(&self) -> Option<&str> {
        let i = self.args.iter().rposition(|a| a == "-j")?;
        self.args.get(i + 1).map(String::as_str)
    }
}

/// Upstream's `chain`: a chain, its rules, and the rules in other chains that jump to it.
#[derive(Debug, Clone)]
struct Chain {
    name: String,
    entry_chains: Vec<&'static str>,
    /// Without the final `-j <name>`.
    entry_rules: Vec<GenRule>,
    rules: Vec<GenRule>,
    prepend_entry: bool,
}

impl Chain {
    /// Every rule the chain's setup makes, in order, as (chain, arguments, is an entry rule):
    /// its own rules, then each entry rule (jumping to it) in each entry chain.
    fn edits(&self) -> Vec<(String, Vec<String>, bool)> {
        let own = self
            .rules
            .iter()
            .map(|r| (self.name.clone(), r.args.clone(), false));
        let entries = self.entry_chains.iter().flat_map(|entry_chain| {
            self.entry_rules
                .iter()
                .map(move |r| (entry_chain.to_string(), r.jumping_to(&self.name).args, true))
        });
        own.chain(entries).collect()
    }
}

fn words(ws: &[&str]) -> Vec<String> {
    ws.iter().map(|w| w.to_string()).collect()
}

/// Go's `%s` of a `[][]string`: `[[a b] [c d]]`.
fn go_rules(rules: &[GenRule]) -> String {
    let inner: Vec<String> = rules
        .iter()
        .map(|r| format!("[{}]", r.args.join(" ")))
        .collect();
    format!("[{}]", inner.join(" "))
}

fn mark(bit: u32) -> String {
    let v = 1u64 << bit;
    format!("{v:#x}/{v:#x}")
}

fn set_mark_chain(bit: u32) -> Chain {
    let m = mark(bit);
    let rule = words(&[
        "-m",
        "comment",
        "--comment",
        "CNI portfwd masquerade mark",
        "-j",
        "MARK",
        "--set-xmark",
        &m,
    ]);
    Chain {
        name: SET_MARK_CHAIN.into(),
        entry_chains: vec![],
        entry_rules: vec![],
        rules: vec![GenRule {
            printed: Some(rule.clone()),
            args: rule,
        }],
        prepend_entry: false,
    }
}

fn mark_masq_chain(bit: u32) -> Chain {
    let m = mark(bit);
    let rule = words(&["-m", "mark", "--mark", &m, "-j", "MASQUERADE"]);
    let entry = words(&[
        "-m",
        "comment",
        "--comment",
        "CNI portfwd requiring masquerade",
    ]);
    Chain {
        name: MARK_MASQ_CHAIN.into(),
        entry_chains: vec!["POSTROUTING"],
        // Prepended, or the masquerade rules of the bridge and ptp plugins would stomp on it.
        prepend_entry: true,
        entry_rules: vec![GenRule {
            printed: Some(entry.clone()),
            args: entry,
        }],
        rules: vec![GenRule {
            printed: Some(rule.clone()),
            args: rule,
        }],
    }
}

fn top_level_dnat_chain() -> Chain {
    let entry = words(&["-m", "addrtype", "--dst-type", "LOCAL"]);
    Chain {
        name: TOP_LEVEL_DNAT_CHAIN.into(),
        // Appended, so Kubernetes service rules in these chains keep precedence.
        entry_chains: vec!["PREROUTING", "OUTPUT"],
        prepend_entry: false,
        entry_rules: vec![GenRule {
            printed: Some(entry.clone()),
            args: entry,
        }],
        rules: vec![],
    }
}

/// The protocol as `iptables -S` prints it, for the protocols whose printing we know.
fn printed_proto(proto: &str) -> Option<String> {
    let p = proto.to_ascii_lowercase();
    matches!(p.as_str(), "tcp" | "udp" | "sctp").then_some(p)
}

/// A host address as `iptables -S` prints a `-d` match.
fn printed_host(host_ip: &str, family: Family) -> Option<String> {
    let ip: IpAddr = host_ip.parse().ok()?;
    match (ip, family) {
        (IpAddr::V4(a), Family::V4) => Some(format!("{a}/32")),
        (IpAddr::V6(a), Family::V6) => Some(format!("{a}/128")),
        _ => None,
    }
}

/// The per-container chain with its rules (upstream's `genDnatChain` + `fillDnatRules`).
fn dnat_chain(att: &Attachment, container: IpNetwork) -> Chain {
    let family = Family::of(&container.ip());
    let name = chain_name(&att.network, &att.container_id, "DN-");
    let comment = trim_comment(format!(
        "dnat name: \"{}\" id: \"{}\"",
        att.network, att.container_id
    ));
    let set_mark = att
        .external_set_mark_chain
        .clone()
        .unwrap_or_else(|| SET_MARK_CHAIN.to_string());
    let conditions = att.conditions(family);

    let mut entry_rules = Vec::new();
    for (proto, ports) in group_by_proto(&att.mappings) {
        for spec in split_port_list(&ports) {
            let mut args = words(&["-m", "comment", "--comment", &comment, "-m", "multiport"]);
            args.extend(words(&["-p", proto, "--destination-ports", &spec]));
            args.extend(conditions.iter().cloned());
            // With conditions iptables reorders the printed words: leave those to `-C`.
            let printed = printed_proto(proto)
                .filter(|_| conditions.is_empty())
                .map(|p| {
                    words(&[
                        "-p",
                        &p,
                        "-m",
                        "comment",
                        "--comment",
                        &comment,
                        "-m",
                        "multiport",
                        "--dports",
                        &spec,
                    ])
                });
            entry_rules.push(GenRule { args, printed });
        }
    }

    // Per mapping: mark hairpin traffic, mark localhost traffic (IPv4), then DNAT. The mark
    // rules must come first.
    let mut rules = Vec::with_capacity(3 * att.mappings.len());
    for m in &att.mappings {
        let dst = match m.host_ip(family) {
            HostIp::Skip => continue,
            HostIp::Any => None,
            HostIp::Only(ip) => Some(ip),
        };
        let port = m.host_port.to_string();
        let mut base = words(&["-p", &m.protocol, "--dport", &port]);
        if let Some(d) = dst {
            base.extend(words(&["-d", d]));
        }
        // How iptables prints the rule: -s, -d, -p <proto> -m <proto> --dport, target.
        let printed = |src: Option<&str>, target: &[&str]| -> Option<Vec<String>> {
            let proto = printed_proto(&m.protocol)?;
            let mut p = Vec::new();
            if let Some(s) = src {
                p.extend(words(&["-s", s]));
            }
            if let Some(d) = dst {
                p.extend(words(&["-d", &printed_host(d, family)?]));
            }
            p.extend(words(&["-p", &proto, "-m", &proto, "--dport", &port]));
            p.extend(words(target));
            Some(p)
        };

        if att.snat {
            let (masq_cidr, printed_src) = if att.masq_all {
                let all = if family == Family::V6 {
                    "::/0"
                } else {
                    "0.0.0.0/0"
                };
                (all.to_string(), None) // a /0 source is not printed
            } else {
                // Upstream passes the address with its prefix; iptables prints the network.
                (
                    container.to_string(),
                    Some(format!("{}/{}", container.network(), container.prefix())),
                )
            };
            let mut hairpin = base.clone();
            hairpin.extend(words(&["-s", &masq_cidr, "-j", &set_mark]));
            rules.push(GenRule {
                printed: printed(printed_src.as_deref(), &["-j", &set_mark]),
                args: hairpin,
            });
            if family == Family::V4 && !att.masq_all {
                let mut local = base.clone();
                local.extend(words(&["-s", "127.0.0.1", "-j", &set_mark]));
                rules.push(GenRule {
                    printed: printed(Some("127.0.0.1/32"), &["-j", &set_mark]),
                    args: local,
                });
            }
        }

        let to = ip_port(container.ip(), m.container_port);
        let mut dnat = base.clone();
        dnat.extend(words(&["-j", "DNAT", "--to-destination", &to]));
        rules.push(GenRule {
            printed: printed(None, &["-j", "DNAT", "--to-destination", &to]),
            args: dnat,
        });
    }

    Chain {
        name,
        entry_chains: vec![TOP_LEVEL_DNAT_CHAIN],
        entry_rules,
        rules,
        prepend_entry: false,
    }
}

/// Edits to bring a table to "these chains with these rules exist", decided against one
/// read of the table.
struct Plan<'a> {
    ipt: &'a Iptables,
    table: &'a Ruleset,
    /// Chains this batch creates: nothing can be in or jump to them yet.
    created: HashSet<String>,
    /// Rules this batch adds, so a rule listed twice is added once (as upstream's second `-C`
    /// would find the first).
    queued: HashSet<(String, Vec<String>)>,
    batch: Batch,
}

impl<'a> Plan<'a> {
    fn new(ipt: &'a Iptables, table: &'a Ruleset) -> Self {
        Plan {
            ipt,
            table,
            created: HashSet::new(),
            queued: HashSet::new(),
            batch: Batch::default(),
        }
    }

    /// Upstream's `chain.setup`: the chain, its rules appended, its entry rules added to the
    /// entry chains; each only if missing.
    fn setup(&mut self, c: &Chain) -> Result<()> {
        if !self.table.has_chain(&c.name) && self.created.insert(c.name.clone()) {
            self.batch.push(Op::NewChain(c.name.clone()));
        }
        for rule in &c.rules {
            self.ensure_rule(&c.name, rule, false)?;
        }
        for entry_chain in &c.entry_chains {
            for rule in &c.entry_rules {
                self.ensure_rule(entry_chain, &rule.jumping_to(&c.name), c.prepend_entry)?;
            }
        }
        Ok(())
    }

    fn ensure_rule(&mut self, chain: &str, rule: &GenRule, prepend: bool) -> Result<()> {
        let key = (
            chain.to_string(),
            rule.printed.clone().unwrap_or_else(|| rule.args.clone()),
        );
        if self.queued.contains(&key) {
            return Ok(());
        }
        let fresh = |c: &str| self.created.contains(c);
        let present = if fresh(chain) || rule.target().is_some_and(fresh) {
            false
        } else if let Some(p) = &rule.printed {
            self.table.contains(chain, p) || self.ipt.exists(NAT, chain, &rule.args)?
        } else {
            self.ipt.exists(NAT, chain, &rule.args)?
        };
        if !present {
            self.batch.push(if prepend {
                Op::Prepend(chain.to_string(), rule.args.clone())
            } else {
                Op::Append(chain.to_string(), rule.args.clone())
            });
            self.queued.insert(key);
        }
        Ok(())
    }
}

/// Is `rule` in `chain`? Printed match first, `iptables -C` otherwise (errors count as
/// absent, as upstream's `checkRule`).
fn present(ipt: &Iptables, table: &Ruleset, chain: &str, rule: &GenRule) -> bool {
    rule.printed
        .as_ref()
        .is_some_and(|p| table.contains(chain, p))
        || ipt.exists(NAT, chain, &rule.args).unwrap_or(false)
}

/// Upstream's `chain.check`.
fn check_chain(ipt: &Iptables, table: &Ruleset, c: &Chain) -> Result<()> {
    if !table.has_chain(&c.name) {
        return Err(FirewallError::ChainNotFound {
            chain: c.name.clone(),
            table: NAT.into(),
        });
    }
    for rule in c.rules.iter().rev() {
        if !present(ipt, table, &c.name, rule) {
            return Err(FirewallError::RuleNotFound {
                rules: go_rules(&c.rules),
                chain: c.name.clone(),
                table: NAT.into(),
            });
        }
    }
    for entry_chain in &c.entry_chains {
        for rule in c.entry_rules.iter().rev() {
            if !present(ipt, table, entry_chain, &rule.jumping_to(&c.name)) {
                return Err(FirewallError::RuleNotFound {
                    rules: go_rules(&c.entry_rules),
                    chain: entry_chain.to_string(),
                    table: NAT.into(),
                });
            }
        }
    }
    Ok(())
}

/// Removes `chain` and the rules of `entry_chain` that jump to it, in one transaction. A
/// missing chain is success. If the transaction fails (the table changed between our read
/// and our write), it is planned again from a fresh read, once, unless iptables refused it
/// as a parameter problem.
fn teardown(ipt: &Iptables, table: &Ruleset, chain: &str, entry_chain: &str) -> Result<()> {
    let plan = |t: &Ruleset| -> Option<Batch> {
        if !t.has_chain(chain) {
            return None;
        }
        let mut b = Batch::default();
        for r in t.rules_in(entry_chain) {
            if r.args.len() >= 2 && r.args[r.args.len() - 2..] == ["-j", chain] {
                b.push(Op::DeleteSpec(entry_chain.into(), r.spec.clone()));
            }
        }
        b.push(Op::Flush(chain.into()));
        b.push(Op::DeleteChain(chain.into()));
        Some(b)
    };
    let Some(batch) = plan(table) else {
        return Ok(());
    };
    match ipt.apply(NAT, &batch) {
        Ok(()) => return Ok(()),
        // The same edits would be refused again (they come from `-S`, so this is rare).
        Err(e) if e.is_parameter_problem() => return Err(e),
        Err(_) => {}
    }
    match plan(&ipt.list(NAT)?) {
        Some(batch) => ipt.apply(NAT, &batch),
        None => Ok(()),
    }
}

/// Parses upstream's entry-rule comment `dnat name: "<net>" id: "<cid>"` (untrimmed only).
fn parse_comment(comment: &str) -> Option<(&str, &str)> {
    let rest = comment.strip_prefix("dnat name: \"")?;
    let (net, rest) = rest.split_once("\" id: \"")?;
    let cid = rest.strip_suffix('"')?;
    Some((net, cid))
}

/// The iptables backend.
#[derive(Debug, Clone)]
pub struct IptablesPortMapper {
    lock_path: Option<PathBuf>,
}

impl Default for IptablesPortMapper {
    fn default() -> Self {
        IptablesPortMapper {
            lock_path: Some(PathBuf::from(LOCK_PATH)),
        }
    }
}

impl IptablesPortMapper {
    pub fn new() -> Self {
        Self::default()
    }

    /// The edits for an ADD: upstream's chain setups in upstream's order, with its messages.
    fn plan(
        &self,
        ipt: &Iptables,
        table: &Ruleset,
        att: &Attachment,
        container: IpNetwork,
        own_mark_chains: bool,
    ) -> Result<Batch> {
        let mut plan = Plan::new(ipt, table);
        if own_mark_chains {
            // Upstream names the SETMARK chain in both messages.
            let ctx = format!("unable to create chain {SET_MARK_CHAIN}");
            plan.setup(&set_mark_chain(att.mark_bit))
                .map_err(|e| e.context(&ctx))?;
            plan.setup(&mark_masq_chain(att.mark_bit))
                .map_err(|e| e.context(&ctx))?;
        }
        plan.setup(&top_level_dnat_chain())
            .map_err(|e| e.context("failed to create top-level DNAT chain"))?;
        plan.setup(&dnat_chain(att, container))
            .map_err(|e| e.context("unable to setup DNAT"))?;
        Ok(plan.batch)
    }

    /// The ADD of a node that already has the shared chains (every ADD but a node's first),
    /// as one transaction: `-C` of every shared rule the careful plan would ensure, then the
    /// container's chain created with `-N` (which fails if it exists, e.g. a repeated ADD)
    /// and filled, and its entry rules. If anything is missing the transaction fails whole and
    /// changes nothing, and the careful path (read the table, plan, apply) runs; when it
    /// succeeds, the table is exactly what the careful path would have made, with one exec
    /// instead of two.
    fn optimistic(&self, att: &Attachment, container: IpNetwork, own_mark_chains: bool) -> Batch {
        let mut batch = Batch::default();
        let mut seen = HashSet::new();
        let mut shared = Vec::new();
        if own_mark_chains {
            shared.push(set_mark_chain(att.mark_bit));
            shared.push(mark_masq_chain(att.mark_bit));
        }
        shared.push(top_level_dnat_chain());
        for c in &shared {
            for (chain, args, _) in c.edits() {
                if seen.insert((chain.clone(), args.clone())) {
                    batch.push(Op::Check(chain, args));
                }
            }
        }
        let c = dnat_chain(att, container);
        batch.push(Op::NewChain(c.name.clone()));
        for (chain, args, entry) in c.edits() {
            if seen.insert((chain.clone(), args.clone())) {
                batch.push(if entry && c.prepend_entry {
                    Op::Prepend(chain, args)
                } else {
                    Op::Append(chain, args)
                });
            }
        }
        batch
    }

    /// Both families' iptables with their nat table, or upstream's "neither … is usable".
    fn usable_families(&self) -> Result<Vec<(Iptables, Ruleset)>> {
        let mut usable = Vec::new();
        let mut errs = Vec::new();
        for family in [Family::V4, Family::V6] {
            match Iptables::new(family).and_then(|i| i.list(NAT).map(|t| (i, t))) {
                Ok(x) => usable.push(x),
                Err(e) => errs.push(e.to_string()),
            }
        }
        if usable.is_empty() {
            return Err(FirewallError::Unusable {
                v4: errs[0].clone(),
                v6: errs[1].clone(),
            });
        }
        Ok(usable)
    }
}

impl PortMapper for IptablesPortMapper {
    fn forward_ports(&self, att: &Attachment, container: IpNetwork) -> Result<()> {
        let family = Family::of(&container.ip());
        let own_mark_chains = att.snat && att.external_set_mark_chain.is_none();
        let ipt = Iptables::new(family).map_err(|e| e.unavailable("failed to open iptables"))?;
        // No lock for the optimistic transaction: it checks every shared rule it relies on and
        // creates only this container's chain (`-N` fails if it exists), all or nothing, so it
        // cannot add a shared rule twice; a slow one holds up nobody.
        if ipt.try_apply(NAT, &self.optimistic(att, container, own_mark_chains)) {
            return Ok(());
        }
        let mut replanned = false;
        loop {
            // The lock covers one read-plan-write, so concurrent ADDs never add a shared rule
            // twice; it is released before the second attempt.
            let _lock = self.lock_path.as_deref().and_then(FileLock::acquire);
            let table = ipt.list(NAT).map_err(|e| {
                if replanned {
                    return e.context("unable to setup DNAT");
                }
                let first = if own_mark_chains {
                    format!("unable to create chain {SET_MARK_CHAIN}")
                } else {
                    "failed to create top-level DNAT chain".to_string()
                };
                e.context("failed to list iptables chains")
                    .unavailable(first)
            })?;
            let batch = self.plan(&ipt, &table, att, container, own_mark_chains)?;
            match ipt.apply(NAT, &batch) {
                Ok(()) => return Ok(()),
                // A parameter problem fails the same way every time: no second attempt.
                Err(e) if replanned || e.is_parameter_problem() => {
                    return Err(e.context("unable to setup DNAT"))
                }
                // The table changed between our read and our write (someone outside our lock
                // created a chain we were creating: the transaction failed whole). Plan again,
                // once.
                Err(_) => replanned = true,
            }
        }
    }

    fn check_ports(&self, att: &Attachment, container: IpNetwork) -> Result<()> {
        let family = Family::of(&container.ip());
        let chain = dnat_chain(att, container);
        let (ipt, table) = Iptables::new(family)
            .and_then(|i| i.list(NAT).map(|t| (i, t)))
            .map_err(|e| {
                // Upstream probes only the address's family; the other error is a nil.
                let (e, nil) = (e.to_string(), "<nil>".to_string());
                match family {
                    Family::V4 => FirewallError::Unusable { v4: e, v6: nil },
                    Family::V6 => FirewallError::Unusable { v4: nil, v6: e },
                }
            })?;
        check_chain(&ipt, &table, &chain)
            .map_err(|e| e.context(format!("could not check {} dnat", family.label())))
    }

    fn unforward_ports(&self, att: &Attachment, _container_ips: Option<&[IpAddr]>) -> Result<()> {
        let dn = chain_name(&att.network, &att.container_id, "DN-");
        // Left behind by plugin versions before 0.7; removed if present, errors ignored.
        let sn = chain_name(&att.network, &att.container_id, "SN-");
        for (ipt, table) in self.usable_families()? {
            teardown(&ipt, &table, &dn, TOP_LEVEL_DNAT_CHAIN).map_err(|e| {
                e.context(format!("could not teardown {} dnat", ipt.family().label()))
            })?;
            let _ = teardown(&ipt, &table, &sn, OLD_TOP_LEVEL_SNAT_CHAIN);
        }
        Ok(())
    }

    fn gc(&self, network: &str, valid_container_ids: &[String]) -> Result<()> {
        let mut first_err = None;
        for (ipt, table) in self.usable_families()? {
            // This network's containers are named in the comments of their entry rules.
            let mut stale: Vec<String> = Vec::new();
            for r in table.rules_in(TOP_LEVEL_DNAT_CHAIN) {
                let comment = r
                    .args
                    .iter()
                    .position(|a| a == "--comment")
                    .and_then(|i| r.args.get(i + 1));
                let Some((net, cid)) = comment.and_then(|c| parse_comment(c)) else {
                    continue;
                };
                let chain = chain_name(net, cid, "DN-");
                if net == network
                    && !valid_container_ids.iter().any(|v| v == cid)
                    && r.args.last() == Some(&chain)
                    && !stale.contains(&chain)
                {
                    stale.push(chain);
                }
            }
            for chain in stale {
                if let Err(e) = teardown(&ipt, &table, &chain, TOP_LEVEL_DNAT_CHAIN) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn status(&self) -> Result<()> {
        self.usable_families().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portmap::PortMapping;

    fn att() -> Attachment {
        let pm = |h, c, p: &str, ip: &str| PortMapping {
            host_port: h,
            container_port: c,
            protocol: p.into(),
            host_ip: ip.into(),
        };
        Attachment {
            network: "test".into(),
            container_id: "icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y".into(),
            mappings: vec![
                pm(8080, 80, "tcp", ""),
                pm(8081, 80, "tcp", ""),
                pm(8080, 81, "udp", ""),
                pm(8082, 82, "udp", ""),
                pm(8083, 83, "tcp", "192.168.0.2"),
                pm(8084, 84, "tcp", "0.0.0.0"),
                pm(8085, 85, "tcp", "2001:db8:a::1"),
                pm(8086, 86, "tcp", "::"),
            ],
            snat: true,
            masq_all: false,
            mark_bit: 13,
            external_set_mark_chain: None,
            conditions_v4: Some(words(&["-a", "b"])),
            conditions_v6: Some(words(&["-c", "d"])),
        }
    }

    fn args(rules: &[GenRule]) -> Vec<String> {
        rules.iter().map(|r| r.args.join(" ")).collect()
    }

    /// Upstream's portmap_iptables_test.go expectations.
    #[test]
    fn dnat_rules_match_upstream_v4() {
        let c = dnat_chain(&att(), "10.0.0.2/24".parse().unwrap());
        assert_eq!(c.name, "CNI-DN-67e92b96e692a494b6b85");
        let comment = "dnat name: \"test\" id: \"icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y\"";
        assert_eq!(
            c.entry_rules
                .iter()
                .map(|r| r.args.clone())
                .collect::<Vec<_>>(),
            vec![
                words(&[
                    "-m",
                    "comment",
                    "--comment",
                    comment,
                    "-m",
                    "multiport",
                    "-p",
                    "tcp",
                    "--destination-ports",
                    "8080,8081,8083,8084,8085,8086",
                    "-a",
                    "b"
                ]),
                words(&[
                    "-m",
                    "comment",
                    "--comment",
                    comment,
                    "-m",
                    "multiport",
                    "-p",
                    "udp",
                    "--destination-ports",
                    "8080,8082",
                    "-a",
                    "b"
                ]),
            ]
        );
        assert_eq!(
            args(&c.rules),
            [
                "-p tcp --dport 8080 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8080 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80",
                "-p tcp --dport 8081 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8081 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8081 -j DNAT --to-destination 10.0.0.2:80",
                "-p udp --dport 8080 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK",
                "-p udp --dport 8080 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK",
                "-p udp --dport 8080 -j DNAT --to-destination 10.0.0.2:81",
                "-p udp --dport 8082 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK",
                "-p udp --dport 8082 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK",
                "-p udp --dport 8082 -j DNAT --to-destination 10.0.0.2:82",
                "-p tcp --dport 8083 -d 192.168.0.2 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8083 -d 192.168.0.2 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8083 -d 192.168.0.2 -j DNAT --to-destination 10.0.0.2:83",
                "-p tcp --dport 8084 -s 10.0.0.2/24 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8084 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK",
                "-p tcp --dport 8084 -j DNAT --to-destination 10.0.0.2:84",
            ]
        );
        assert_eq!(
            c.rules[12].printed.as_ref().unwrap().join(" "),
            "-s 10.0.0.0/24 -d 192.168.0.2/32 -p tcp -m tcp --dport 8083 -j CNI-HOSTPORT-SETMARK"
        );
        // Conditions make the printed entry rule unpredictable.
        assert!(c.entry_rules[0].printed.is_none());
    }

    #[test]
    fn dnat_rules_match_upstream_v6_and_variants() {
        let mut a = att();
        let c = dnat_chain(&a, "2001:db8::2/64".parse().unwrap());
        assert_eq!(c.rules.len(), 12);
        assert_eq!(
            c.rules[0].args.join(" "),
            "-p tcp --dport 8080 -s 2001:db8::2/64 -j CNI-HOSTPORT-SETMARK"
        );
        assert_eq!(
            c.rules[1].args.join(" "),
            "-p tcp --dport 8080 -j DNAT --to-destination [2001:db8::2]:80"
        );
        assert_eq!(
            c.rules[9].args.join(" "),
            "-p tcp --dport 8085 -d 2001:db8:a::1 -j DNAT --to-destination [2001:db8::2]:85"
        );
        assert_eq!(
            c.rules[0].printed.as_ref().unwrap().join(" "),
            "-s 2001:db8::/64 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK"
        );

        a.snat = false;
        let c = dnat_chain(&a, "10.0.0.2/24".parse().unwrap());
        assert_eq!(c.rules.len(), 6);
        assert!(c.rules.iter().all(|r| r.args.contains(&"DNAT".to_string())));

        a.snat = true;
        a.external_set_mark_chain = Some("PLZ-SET-MARK".into());
        a.masq_all = true;
        a.conditions_v4 = None;
        let c = dnat_chain(&a, "10.0.0.2/24".parse().unwrap());
        assert_eq!(
            c.rules[0].args.join(" "),
            "-p tcp --dport 8080 -s 0.0.0.0/0 -j PLZ-SET-MARK"
        );
        assert_eq!(
            c.rules[0].printed.as_ref().unwrap().join(" "),
            "-p tcp -m tcp --dport 8080 -j PLZ-SET-MARK"
        );
        assert_eq!(c.rules.len(), 12); // no localhost rule with masqAll
        assert!(c.entry_rules[0].printed.is_some());
    }

    #[test]
    fn mark_chains() {
        let s = set_mark_chain(5);
        assert_eq!(
            s.rules[0].args.join(" "),
            "-m comment --comment CNI portfwd masquerade mark -j MARK --set-xmark 0x20/0x20"
        );
        let m = mark_masq_chain(13);
        assert_eq!(
            m.rules[0].args.join(" "),
            "-m mark --mark 0x2000/0x2000 -j MASQUERADE"
        );
        assert_eq!(m.entry_chains, ["POSTROUTING"]);
        assert!(m.prepend_entry);
        assert_eq!(mark(31), "0x80000000/0x80000000");
        assert_eq!(mark(0), "0x1/0x1");
    }

    #[test]
    fn parses_entry_comments() {
        assert_eq!(
            parse_comment("dnat name: \"pmnet\" id: \"c1\""),
            Some(("pmnet", "c1"))
        );
        assert_eq!(parse_comment("dnat name: \"pmnet\" id: \"c1..."), None);
        assert_eq!(parse_comment("other"), None);
    }

    #[test]
    fn go_formats_rule_lists() {
        let r = |a: &[&str]| GenRule {
            args: words(a),
            printed: None,
        };
        assert_eq!(go_rules(&[r(&["-a", "b"]), r(&["c"])]), "[[-a b] [c]]");
    }
}
