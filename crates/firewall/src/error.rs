//! The one error type of the firewall crate.
//!
//! Texts follow the Go portmap plugin (containernetworking/plugins v1.9.x) and go-iptables,
//! because the plugin built on this crate is tested differentially against the Go binary and
//! users grep logs for these messages. Wrapping layers keep upstream's `context: cause` shape.

use libcni::{code, CniCode};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FirewallError {
    /// A tool is not on `PATH` (Go's `exec.LookPath` text).
    #[error("exec: {}: executable file not found in $PATH", libcni::json::go_quote(.name))]
    NotFound { name: String },

    /// A tool was found but could not be started.
    #[error("fork/exec {path}: {message}")]
    Spawn { path: String, message: String },

    /// A tool ran and failed; prints like go-iptables' `*iptables.Error`
    /// (`running [argv]: exit status N: <stderr>`).
    #[error("running [{}]: exit status {status}: {stderr}", .argv.join(" "))]
    Command {
        argv: Vec<String>,
        status: i32,
        stderr: String,
    },

    /// DEL/CHECK found neither iptables family usable.
    #[error("neither iptables nor ip6tables is usable, (iptables) {v4}, (ip6tables) {v6}")]
    Unusable { v4: String, v6: String },

    #[error("chain {chain} not found in iptables table {table}")]
    ChainNotFound { chain: String, table: String },

    /// `rules` is Go's `%s` of the whole `[][]string` rule list, as upstream prints it.
    #[error("rule {rules} in chain {chain} not found in table {table}")]
    RuleNotFound {
        rules: String,
        chain: String,
        table: String,
    },

    #[error("missing hostport rules in \"{chain}\" chain")]
    MissingNftRules { chain: String },

    /// A netlink request (conntrack, route lookup) failed.
    #[error("{op}: {message}")]
    Netlink { op: &'static str, message: String },

    /// Upstream's wrapping (`unable to setup DNAT: <cause>`).
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<FirewallError>,
    },

    /// Like `Context`, and marks that the backend could not be used at all (tool missing or
    /// its table unreadable), so a caller that picked the backend itself may fall back.
    #[error("{context}: {source}")]
    Unavailable {
        context: String,
        #[source]
        source: Box<FirewallError>,
    },
}

impl FirewallError {
    /// Wraps `self` as upstream does with `fmt.Errorf("<context>: %v", err)`.
    pub fn context(self, context: impl Into<String>) -> Self {
        FirewallError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    pub(crate) fn unavailable(self, context: impl Into<String>) -> Self {
        FirewallError::Unavailable {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// True when the backend itself is not usable on this host (as opposed to a rule that
    /// failed): the tool is missing, or it cannot read its tables.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            FirewallError::Unavailable { .. } | FirewallError::Unusable { .. }
        )
    }

    /// True when a tool refused its input as a parameter problem (iptables' exit status 2: an
    /// unknown option, protocol or host, or a jump to a chain that does not exist). Running
    /// the same edits again fails the same way, so callers do not retry these (a host name
    /// would even be looked up again, for seconds with a slow resolver).
    pub fn is_parameter_problem(&self) -> bool {
        match self {
            FirewallError::Command { status, .. } => *status == 2,
            FirewallError::Context { source, .. } | FirewallError::Unavailable { source, .. } => {
                source.is_parameter_problem()
            }
            _ => false,
        }
    }

    /// The CNI error code for this error: the Go plugin reports all of these as 999.
    pub fn code(&self) -> u32 {
        code::INTERNAL
    }
}

impl CniCode for FirewallError {
    fn code(&self) -> u32 {
        FirewallError::code(self)
    }
}

pub type Result<T> = std::result::Result<T, FirewallError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_upstream() {
        let e = FirewallError::Command {
            argv: vec!["/usr/sbin/iptables".into(), "-t".into(), "nat".into()],
            status: 1,
            stderr: "iptables: No chain/target/match by that name.\n".into(),
        }
        .context("unable to setup DNAT");
        assert_eq!(
            e.to_string(),
            "unable to setup DNAT: running [/usr/sbin/iptables -t nat]: exit status 1: iptables: No chain/target/match by that name.\n"
        );
        assert_eq!(
            FirewallError::NotFound {
                name: "iptables".into()
            }
            .to_string(),
            "exec: \"iptables\": executable file not found in $PATH"
        );
        assert_eq!(
            FirewallError::MissingNftRules {
                chain: "hostports".into()
            }
            .to_string(),
            "missing hostport rules in \"hostports\" chain"
        );
        assert!(!e.is_unavailable());
        assert!(!e.is_parameter_problem());
        assert_eq!(e.code(), 999);
        let usage = FirewallError::Command {
            argv: vec!["/usr/sbin/ip6tables-restore".into()],
            status: 2,
            stderr: "host/network `IFNAME' not found\n".into(),
        }
        .context("unable to setup DNAT");
        assert!(usage.is_parameter_problem());
    }
}
