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
pub mod saved;

pub use batch::{Batch, Op};
pub use ruleset::{Rule, Ruleset};
pub use saved::{SavedRule, SavedTable, SavedTables};

use crate::error::Result;
use crate::exec::Tool;
use crate::Family;

/// Which of Debian's (and most distributions') iptables builds: the `-legacy` (x_tables) or
/// `-nft` (nf_tables) named commands, or whatever plain `iptables` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Legacy,
    Nft,
    Default,
}

impl Variant {
    /// The command name of `family` in this variant (`ip6tables-nft`).
    pub fn command(self, family: Family) -> String {
        match self {
            Variant::Legacy => format!("{}-legacy", family.iptables()),
            Variant::Nft => format!("{}-nft", family.iptables()),
            Variant::Default => family.iptables().to_string(),
        }
    }
}

/// One family's iptables.
#[derive(Debug, Clone)]
pub struct Iptables {
    family: Family,
    variant: Variant,
    tool: Tool,
}

impl Iptables {
    /// Finds the family's command in `PATH`.
    pub fn new(family: Family) -> Result<Self> {
        Ok(Iptables {
            family,
            variant: Variant::Default,
            tool: Tool::find(family.iptables())?,
        })
    }

    /// Finds the family's command of `variant` in `PATH` (`iptables-legacy`, ...).
    pub fn with_variant(family: Family, variant: Variant) -> Result<Self> {
        Ok(Iptables {
            family,
            variant,
            tool: Tool::find(&variant.command(family))?,
        })
    }

    /// Runs every command of this instance (the tool, `-save`, `-restore`) with `key=value`
    /// in its environment.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.tool = self.tool.with_env(key, value);
        self
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The main command (`/usr/sbin/iptables-nft`).
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    /// A companion command of the same variant and environment (`-save`, `-restore`).
    fn companion(&self, suffix: &str) -> Result<Tool> {
        let mut tool = Tool::find(&format!("{}-{suffix}", self.variant.command(self.family)))?;
        for (k, v) in self.tool_env() {
            tool = tool.with_env(&k, &v);
        }
        Ok(tool)
    }

    fn tool_env(&self) -> Vec<(String, String)> {
        self.tool.env().to_vec()
    }

    /// Every table as `<cmd>-save` prints it (the tables the kernel has for this variant).
    pub fn save(&self) -> Result<String> {
        self.companion("save")?.run(&[], None)
    }

    /// Feeds `input` to `<cmd>-restore --noflush` (plus `extra` flags, e.g. `-w`): one
    /// transaction per table, applied as a whole or not at all.
    pub fn restore(&self, input: &str, extra: &[&str]) -> Result<()> {
        let mut args: Vec<&str> = extra.to_vec();
        args.push("--noflush");
        self.companion("restore")?
            .run(&args, Some(input.as_bytes()))
            .map(|_| ())
    }

    /// Like [`Iptables::restore`], for a transaction that may be refused (a batch of `-C`
    /// checks): `Ok(false)` when the tool ran and said no.
    pub fn try_restore(&self, input: &str, extra: &[&str]) -> Result<bool> {
        let mut args: Vec<&str> = extra.to_vec();
        args.push("--noflush");
        let out = self
            .companion("restore")?
            .output(&args, Some(input.as_bytes()))?;
        Ok(out.status == 0)
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
        let Ok(restore) = self.companion("restore") else {
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
        let restore = self.companion("restore");
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
