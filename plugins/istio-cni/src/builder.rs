//! The rule builder of `istio-iptables` (`tools/istio-iptables/pkg/builder`): rules are
//! collected per family as (table, chain, params) in the order the capture logic adds them,
//! and rendered as one `iptables-restore --noflush` input per family.
//!
//! Rendering, per family: tables in sorted order, empty ones left out; in each, `-N` for every
//! non-built-in chain that owns a rule (first use first), then `-N` for chains that are only
//! jumped to, then the rules in insertion order, then `COMMIT`. The text is upstream's byte
//! for byte (`* nat` with a space, no `:CHAIN` declarations, which would flush an existing
//! chain under `--noflush`).

/// Marks the word of a versioned rule that takes the family's own address.
pub const IP_VERSION_SPECIFIC: &str = "PLACEHOLDER_IP_VERSION_SPECIFIC";

/// Chains and targets upstream never declares with `-N`.
pub const BUILTIN_CHAINS: [&str; 8] = [
    "INPUT",
    "OUTPUT",
    "FORWARD",
    "PREROUTING",
    "POSTROUTING",
    "ACCEPT",
    "RETURN",
    "DROP",
];

pub fn is_builtin(chain: &str) -> bool {
    BUILTIN_CHAINS.contains(&chain)
}

/// One rule: its table and chain, and its full parameter list starting with `-A <chain>` or
/// `-I <chain> <pos>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: String,
    pub chain: String,
    pub params: Vec<String>,
}

impl Rule {
    /// The rule as a restore line (`-A ISTIO_OUTPUT -j ISTIO_REDIRECT`).
    pub fn line(&self) -> String {
        self.params.join(" ")
    }

    /// The match and target words, without `-A <chain>` / `-I <chain> <pos>`.
    pub fn spec(&self) -> &[String] {
        let skip = if self.params.first().map(String::as_str) == Some("-I") {
            3
        } else {
            2
        };
        &self.params[skip.min(self.params.len())..]
    }

    /// The chain this rule jumps to with a final `-j X`.
    pub fn jump(&self) -> Option<&str> {
        let n = self.params.len();
        (n >= 2 && self.params[n - 2] == "-j").then(|| self.params[n - 1].as_str())
    }
}

/// Rules of both families. IPv6 rules are only kept when IPv6 is on, as upstream's builder
/// drops them otherwise.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    pub v4: Vec<Rule>,
    pub v6: Vec<Rule>,
    ipv6: bool,
}

fn words(params: &[&str]) -> Vec<String> {
    params.iter().map(|s| s.to_string()).collect()
}

fn rule(table: &str, chain: &str, head: Vec<String>, params: &[&str]) -> Rule {
    let mut all = head;
    all.extend(words(params));
    Rule {
        table: table.to_string(),
        chain: chain.to_string(),
        params: all,
    }
}

fn versioned(value: &str, params: &[&str]) -> Vec<String> {
    params
        .iter()
        .map(|p| {
            if *p == IP_VERSION_SPECIFIC {
                value.to_string()
            } else {
                p.to_string()
            }
        })
        .collect()
}

impl Builder {
    pub fn new(ipv6: bool) -> Self {
        Builder {
            ipv6,
            ..Builder::default()
        }
    }

    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    pub fn append_v4(&mut self, chain: &str, table: &str, params: &[&str]) {
        self.v4
            .push(rule(table, chain, words(&["-A", chain]), params));
    }

    pub fn append_v6(&mut self, chain: &str, table: &str, params: &[&str]) {
        if self.ipv6 {
            self.v6
                .push(rule(table, chain, words(&["-A", chain]), params));
        }
    }

    pub fn append(&mut self, chain: &str, table: &str, params: &[&str]) {
        self.append_v4(chain, table, params);
        self.append_v6(chain, table, params);
    }

    pub fn insert_v4(&mut self, chain: &str, table: &str, pos: u32, params: &[&str]) {
        let head = vec!["-I".to_string(), chain.to_string(), pos.to_string()];
        self.v4.push(rule(table, chain, head, params));
    }

    pub fn insert_v6(&mut self, chain: &str, table: &str, pos: u32, params: &[&str]) {
        if self.ipv6 {
            let head = vec!["-I".to_string(), chain.to_string(), pos.to_string()];
            self.v6.push(rule(table, chain, head, params));
        }
    }

    pub fn insert(&mut self, chain: &str, table: &str, pos: u32, params: &[&str]) {
        self.insert_v4(chain, table, pos, params);
        self.insert_v6(chain, table, pos, params);
    }

    /// A rule for one family: IPv6 when `v6`.
    pub fn append_family(&mut self, v6: bool, chain: &str, table: &str, params: &[&str]) {
        if v6 {
            self.append_v6(chain, table, params)
        } else {
            self.append_v4(chain, table, params)
        }
    }

    /// An inserted rule for one family: IPv6 when `v6`.
    pub fn insert_family(&mut self, v6: bool, chain: &str, table: &str, pos: u32, p: &[&str]) {
        if v6 {
            self.insert_v6(chain, table, pos, p)
        } else {
            self.insert_v4(chain, table, pos, p)
        }
    }

    /// A rule for both families whose [`IP_VERSION_SPECIFIC`] word is `v4` or `v6`.
    pub fn append_versioned(&mut self, v4: &str, v6: &str, chain: &str, table: &str, p: &[&str]) {
        let p4 = versioned(v4, p);
        let p6 = versioned(v6, p);
        let r4: Vec<&str> = p4.iter().map(String::as_str).collect();
        let r6: Vec<&str> = p6.iter().map(String::as_str).collect();
        self.append_v4(chain, table, &r4);
        self.append_v6(chain, table, &r6);
    }

    pub fn v4_restore(&self) -> String {
        restore_text(&self.v4)
    }

    pub fn v6_restore(&self) -> String {
        restore_text(&self.v6)
    }
}

/// Per table, in sorted table order: the chains to create and the rule lines.
pub fn tables(rules: &[Rule]) -> Vec<(String, Vec<String>, Vec<&Rule>)> {
    let mut names: Vec<String> = rules.iter().map(|r| r.table.clone()).collect();
    names.sort();
    names.dedup();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut out: Vec<(String, Vec<String>, Vec<&Rule>)> = names
        .into_iter()
        .map(|t| (t, Vec::new(), Vec::new()))
        .collect();
    let mut declare =
        |table: &str, chain: &str, out: &mut Vec<(String, Vec<String>, Vec<&Rule>)>| {
            let key = (chain.to_string(), table.to_string());
            if seen.contains(&key) {
                return;
            }
            seen.push(key);
            if !is_builtin(chain) {
                if let Some(t) = out.iter_mut().find(|t| t.0 == table) {
                    t.1.push(chain.to_string());
                }
            }
        };
    for r in rules {
        declare(&r.table, &r.chain, &mut out);
    }
    for r in rules {
        if let Some(target) = r.jump() {
            declare(&r.table, target, &mut out);
        }
    }
    for r in rules {
        if let Some(t) = out.iter_mut().find(|t| t.0 == r.table) {
            t.2.push(r);
        }
    }
    out
}

/// Upstream's `buildRestore` + `constructIptablesRestoreContents`.
pub fn restore_text(rules: &[Rule]) -> String {
    let mut out = String::new();
    for (table, chains, rules) in tables(rules) {
        out.push_str(&format!("* {table}\n"));
        for c in chains {
            out.push_str(&format!("-N {c}\n"));
        }
        for r in rules {
            out.push_str(&r.line());
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_upstream() {
        let mut b = Builder::new(true);
        b.append(
            "ISTIO_INBOUND",
            "nat",
            &["-p", "tcp", "--dport", "15008", "-j", "RETURN"],
        );
        b.append("OUTPUT", "nat", &["-j", "ISTIO_OUTPUT"]);
        b.append_versioned(
            "127.0.0.6/32",
            "::6/128",
            "ISTIO_OUTPUT",
            "nat",
            &["-o", "lo", "-s", IP_VERSION_SPECIFIC, "-j", "RETURN"],
        );
        b.insert_v4(
            "ISTIO_INBOUND",
            "mangle",
            2,
            &["-s", "127.0.0.6/32", "-j", "RETURN"],
        );
        assert_eq!(
            b.v4_restore(),
            "* mangle\n-N ISTIO_INBOUND\n-I ISTIO_INBOUND 2 -s 127.0.0.6/32 -j RETURN\nCOMMIT\n\
             * nat\n-N ISTIO_INBOUND\n-N ISTIO_OUTPUT\n-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN\n\
             -A OUTPUT -j ISTIO_OUTPUT\n-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN\nCOMMIT\n"
        );
        assert!(b
            .v6_restore()
            .contains("-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN\n"));
        assert_eq!(b.v4[3].spec(), ["-s", "127.0.0.6/32", "-j", "RETURN"]);
        assert!(Builder::new(false).v6_restore().is_empty());
    }
}
