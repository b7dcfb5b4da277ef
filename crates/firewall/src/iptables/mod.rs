//! A thin driver for `iptables`/`ip6tables` and their `-restore` companions.
//!
//! Why not the `iptables` crate (0.6): it runs `iptables --version` on every construction (one
//! more exec per family per invocation, where execs are the plugin's whole cost), returns
//! `Box<dyn Error>` without the exit status needed to tell "no such rule" from a failure,
//! pulls in `regex` and `lazy_static`, and has no `iptables-restore` support, so it cannot
//! batch edits into one kernel commit. This module is the ~150 lines we need: every call gets
//! `-w` (wait for the xtables lock), reads use `-S`, checks use `-C`, and edits go through
//! one `iptables-restore -w --noflush` per table when the tool is there.

pub mod batch;
pub mod ruleset;

pub use batch::{Batch, Op};
pub use ruleset::{Rule, Ruleset};

use crate::error::Result;
use crate::exec::Tool;
use crate::Family;

/// One family's iptables.
#[derive(Debug, Clone)]
pub struct Iptables {
    family: Family,
    tool: Tool,
}

impl Iptables {
    /// Finds the family's command in `PATH`.
    pub fn new(family: Family) -> Result<Self> {
        Ok(Iptables {
            family,
            tool: Tool::find(family.iptables())?,
        })
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// The whole table as `iptables -w -t <table> -S` prints it.
    pub fn list(&self, table: &str) -> Result<Ruleset> {
        let out = self.tool.run(&["-w", "-t", table, "-S"], None)?;
        Ok(Ruleset::parse(&out))
    }

    /// `iptables -C`: exit 0 means present, 1 absent, anything else is an error (go-iptables'
    /// `Exists`).
    pub fn exists(&self, table: &str, chain: &str, rule: &[String]) -> Result<bool> {
        let mut args: Vec<&str> = vec!["-w", "-t", table, "-C", chain];
        args.extend(rule.iter().map(String::as_str));
        let out = self.tool.output(&args, None)?;
        match out.status {
            0 => Ok(true),
            1 => Ok(false),
            _ => Err(self.tool.failed(&args, out)),
        }
    }

    /// Tries `batch` as one restore transaction and says whether it was applied. False (and
    /// the table unchanged) when one of its checks or edits failed, or when there is no
    /// restore tool or the batch cannot be written in its syntax: a guess that the caller
    /// follows with the careful path.
    pub fn try_apply(&self, table: &str, batch: &Batch) -> bool {
        let Ok(restore) = Tool::find(&format!("{}-restore", self.family.iptables())) else {
            return false;
        };
        let Some(script) = batch.restore_script(table) else {
            return false;
        };
        restore
            .run(&["-w", "--noflush"], Some(script.as_bytes()))
            .is_ok()
    }

    /// Applies `batch` to `table`: one `<cmd>-restore -w --noflush` transaction, or one
    /// command per edit when there is no restore tool or the batch cannot be written in its
    /// syntax. An empty batch runs nothing.
    pub fn apply(&self, table: &str, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let restore = Tool::find(&format!("{}-restore", self.family.iptables()));
        if let (Ok(restore), Some(script)) = (restore, batch.restore_script(table)) {
            restore.run(&["-w", "--noflush"], Some(script.as_bytes()))?;
            return Ok(());
        }
        for cmd in batch.commands() {
            let mut args: Vec<&str> = vec!["-w", "-t", table];
            args.extend(cmd.iter().map(String::as_str));
            self.tool.run(&args, None)?;
        }
        Ok(())
    }
}
