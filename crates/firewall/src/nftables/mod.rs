//! A thin driver for `nft`: transactions in text syntax on stdin (`nft -f -`), and read-back of
//! one named table only (`nft -a list table <family> <name>`).
//!
//! Only ever our own table is listed, never the ruleset: netavark learned (#942, #1303) that
//! parsing other programs' rules breaks whenever nft's output changes. Within our table the
//! rules are our own, so a line-oriented reading of the three things we need per rule (chain,
//! comment, handle) is enough; the JSON output (and a JSON dependency) is not needed.

use crate::error::Result;
use crate::exec::Tool;
use crate::Family;

/// A rule read back from our table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftRule {
    /// The rule as nft prints it, without its comment and handle.
    pub text: String,
    pub comment: Option<String>,
    pub handle: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftChain {
    pub name: String,
    pub rules: Vec<NftRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftTable {
    pub chains: Vec<NftChain>,
}

impl NftTable {
    /// Parses `nft -a list table` output.
    pub fn parse(text: &str) -> Self {
        let mut table = NftTable::default();
        let mut current: Option<NftChain> = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("chain ") {
                if let Some(name) = rest.split_whitespace().next() {
                    current = Some(NftChain {
                        name: name.to_string(),
                        rules: Vec::new(),
                    });
                }
                continue;
            }
            if line == "}" {
                table.chains.extend(current.take());
                continue;
            }
            let Some(chain) = current.as_mut() else {
                continue;
            };
            let Some((body, handle)) = line.rsplit_once(" # handle ") else {
                continue; // chain properties (type/hook/policy), blank lines
            };
            let Ok(handle) = handle.trim().parse() else {
                continue;
            };
            let (text, comment) = split_comment(body);
            chain.rules.push(NftRule {
                text: text.to_string(),
                comment,
                handle,
            });
        }
        table
    }

    pub fn chain(&self, name: &str) -> Option<&NftChain> {
        self.chains.iter().find(|c| c.name == name)
    }
}

/// `... comment "x"` → (`...`, Some("x")).
fn split_comment(body: &str) -> (&str, Option<String>) {
    if body.ends_with('"') {
        if let Some(i) = body.rfind(" comment \"") {
            let value = &body[i + " comment \"".len()..body.len() - 1];
            return (&body[..i], Some(value.replace("\\\"", "\"")));
        }
    }
    (body, None)
}

/// The `nft` command.
#[derive(Debug, Clone)]
pub struct Nft {
    tool: Tool,
}

impl Nft {
    pub fn new() -> Result<Self> {
        Ok(Nft {
            tool: Tool::find("nft")?,
        })
    }

    /// Runs `script` as one transaction (`nft -f -`).
    pub fn run(&self, script: &str) -> Result<()> {
        self.tool.run(&["-f", "-"], Some(script.as_bytes()))?;
        Ok(())
    }

    /// Asks the kernel whether `script` would apply, without applying it (`nft --check`).
    pub fn check(&self, script: &str) -> Result<()> {
        self.tool
            .run(&["--check", "-f", "-"], Some(script.as_bytes()))?;
        Ok(())
    }

    /// Our table with rule handles, or `None` if it does not exist.
    pub fn list_table(&self, family: Family, table: &str) -> Result<Option<NftTable>> {
        let args = ["-a", "list", "table", family.nft(), table];
        let out = self.tool.output(&args, None)?;
        if out.status == 0 {
            return Ok(Some(NftTable::parse(&out.stdout)));
        }
        if out.stderr.contains("No such file or directory") {
            return Ok(None);
        }
        Err(self.tool.failed(&args, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTED: &str = r#"table ip cni_hostport { # handle 3
	comment "CNI portmap plugin"
	chain hostports { # handle 1
		tcp dport 8080 dnat to 10.0.0.2:80 comment "c1" # handle 11
		ip daddr 192.168.0.2 udp dport 8081 dnat to 10.0.0.2:81 comment "c1" # handle 12
	}

	chain hostip_hostports { # handle 2
	}

	chain prerouting { # handle 6
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump hostports_all # handle 7
	}
}
"#;

    #[test]
    fn parses_listing() {
        let t = NftTable::parse(LISTED);
        assert_eq!(t.chains.len(), 3);
        let hp = t.chain("hostports").unwrap();
        assert_eq!(hp.rules.len(), 2);
        assert_eq!(hp.rules[0].text, "tcp dport 8080 dnat to 10.0.0.2:80");
        assert_eq!(hp.rules[0].comment.as_deref(), Some("c1"));
        assert_eq!(hp.rules[1].handle, 12);
        assert!(t.chain("hostip_hostports").unwrap().rules.is_empty());
        let pre = t.chain("prerouting").unwrap();
        assert_eq!(pre.rules.len(), 1);
        assert_eq!(pre.rules[0].comment, None);
        assert_eq!(pre.rules[0].text, "fib daddr type local jump hostports_all");
    }
}
