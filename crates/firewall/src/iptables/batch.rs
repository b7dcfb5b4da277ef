//! A list of table edits applied in one `iptables-restore --noflush` transaction.
//!
//! One restore is one kernel commit, where the same edits made with one `iptables` call each
//! cost a commit (and, for iptables-nft, a full cache fetch) apiece: that is where most of the
//! Go plugin's time goes. Chains are created with `-N`, never declared with `:CHAIN`, because
//! a declaration flushes an existing chain under `--noflush`; `-N` instead fails the whole
//! transaction if someone created the chain meanwhile, which leaves the table untouched.

/// One edit of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `-C`: the rule must be present, else the whole transaction fails (and changes nothing).
    Check(String, Vec<String>),
    NewChain(String),
    Append(String, Vec<String>),
    /// Insert at position 1.
    Prepend(String, Vec<String>),
    /// Delete a rule given as restore-syntax text (a `Rule::spec` read back from the table).
    DeleteSpec(String, String),
    Flush(String),
    DeleteChain(String),
}

/// Edits of one table, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub ops: Vec<Op>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// The `iptables-restore` input for these edits, or `None` if an argument cannot be
    /// written in restore syntax (an empty word or a line break), in which case the edits must
    /// be made one command at a time.
    pub fn restore_script(&self, table: &str) -> Option<String> {
        let mut out = format!("*{table}\n");
        for op in &self.ops {
            let line = match op {
                Op::Check(c, args) => format!("-C {} {}", quote(c)?, quote_all(args)?),
                Op::NewChain(c) => format!("-N {}", quote(c)?),
                Op::Append(c, args) => format!("-A {} {}", quote(c)?, quote_all(args)?),
                Op::Prepend(c, args) => format!("-I {} 1 {}", quote(c)?, quote_all(args)?),
                Op::DeleteSpec(c, spec) => {
                    if spec.contains(['\n', '\r']) {
                        return None;
                    }
                    format!("-D {} {spec}", quote(c)?)
                }
                Op::Flush(c) => format!("-F {}", quote(c)?),
                Op::DeleteChain(c) => format!("-X {}", quote(c)?),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
        Some(out)
    }

    /// The same edits as `iptables` argument lists (after `-w -t <table>`), for hosts without
    /// `iptables-restore` or arguments restore syntax cannot carry.
    pub fn commands(&self) -> Vec<Vec<String>> {
        self.ops
            .iter()
            .map(|op| {
                let s = |x: &str| x.to_string();
                match op {
                    Op::Check(c, args) => [vec![s("-C"), c.clone()], args.clone()].concat(),
                    Op::NewChain(c) => vec![s("-N"), c.clone()],
                    Op::Append(c, args) => [vec![s("-A"), c.clone()], args.clone()].concat(),
                    Op::Prepend(c, args) => {
                        [vec![s("-I"), c.clone(), s("1")], args.clone()].concat()
                    }
                    Op::DeleteSpec(c, spec) => {
                        [vec![s("-D"), c.clone()], super::ruleset::split_words(spec)].concat()
                    }
                    Op::Flush(c) => vec![s("-F"), c.clone()],
                    Op::DeleteChain(c) => vec![s("-X"), c.clone()],
                }
            })
            .collect()
    }
}

fn quote_all(args: &[String]) -> Option<String> {
    let words: Option<Vec<String>> = args.iter().map(|a| quote(a)).collect();
    Some(words?.join(" "))
}

/// One word in `iptables-restore` syntax: bare when safe, else in double quotes with `"` and
/// `\` escaped (the parser in libxtables' `add_param_to_argv` undoes exactly that).
fn quote(word: &str) -> Option<String> {
    if word.is_empty() || word.contains(['\n', '\r', '\0']) {
        return None;
    }
    let bare = word.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '_' | '.' | ':' | '/' | ',' | '!' | '[' | ']' | '=' | '+' | '@' | '%'
            )
    });
    if bare {
        return Some(word.to_string());
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<String> {
        ws.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn renders_restore_input() {
        let mut b = Batch::default();
        b.push(Op::NewChain("CNI-DN-x".into()));
        b.push(Op::Append(
            "CNI-HOSTPORT-DNAT".into(),
            words(&[
                "-m",
                "comment",
                "--comment",
                "dnat name: \"n\" id: \"c\"",
                "-j",
                "CNI-DN-x",
            ]),
        ));
        b.push(Op::Prepend(
            "POSTROUTING".into(),
            words(&["-j", "CNI-HOSTPORT-MASQ"]),
        ));
        b.push(Op::DeleteSpec(
            "CNI-HOSTPORT-DNAT".into(),
            "-p tcp -j CNI-DN-y".into(),
        ));
        b.push(Op::Flush("CNI-DN-y".into()));
        b.push(Op::DeleteChain("CNI-DN-y".into()));
        assert_eq!(
            b.restore_script("nat").unwrap(),
            "*nat\n-N CNI-DN-x\n-A CNI-HOSTPORT-DNAT -m comment --comment \"dnat name: \\\"n\\\" id: \\\"c\\\"\" -j CNI-DN-x\n-I POSTROUTING 1 -j CNI-HOSTPORT-MASQ\n-D CNI-HOSTPORT-DNAT -p tcp -j CNI-DN-y\n-F CNI-DN-y\n-X CNI-DN-y\nCOMMIT\n"
        );
        let cmds = b.commands();
        assert_eq!(
            cmds[2],
            words(&["-I", "POSTROUTING", "1", "-j", "CNI-HOSTPORT-MASQ"])
        );
        assert_eq!(
            cmds[3],
            words(&["-D", "CNI-HOSTPORT-DNAT", "-p", "tcp", "-j", "CNI-DN-y"])
        );
    }

    #[test]
    fn checks_render_as_dash_c() {
        let mut b = Batch::default();
        b.push(Op::Check(
            "PREROUTING".into(),
            words(&[
                "-m",
                "addrtype",
                "--dst-type",
                "LOCAL",
                "-j",
                "CNI-HOSTPORT-DNAT",
            ]),
        ));
        b.push(Op::NewChain("CNI-DN-x".into()));
        assert_eq!(
            b.restore_script("nat").unwrap(),
            "*nat\n-C PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n-N CNI-DN-x\nCOMMIT\n"
        );
        assert_eq!(b.commands()[0][0], "-C");
    }

    #[test]
    fn unrepresentable_words_need_single_commands() {
        let mut b = Batch::default();
        b.push(Op::Append("X".into(), words(&["-m", ""])));
        assert!(b.restore_script("nat").is_none());
        let mut b = Batch::default();
        b.push(Op::Append("X".into(), words(&["a\nb"])));
        assert!(b.restore_script("nat").is_none());
    }

    #[test]
    fn quoting_round_trips_through_the_reader() {
        for w in ["plain", "with space", "q\"uote", "back\\slash", "#hash"] {
            let q = quote(w).unwrap();
            assert_eq!(super::super::ruleset::split_words(&q), [w]);
        }
    }
}
