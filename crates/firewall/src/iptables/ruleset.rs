//! A table as `iptables -S` prints it, read back for idempotency checks and teardown.

/// One `-A <chain> <args...>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: String,
    /// The words after the chain name, unquoted.
    pub args: Vec<String>,
    /// The text after `-A <chain> ` exactly as printed (restore-syntax, quotes kept).
    pub spec: String,
}

/// The chains and rules of one table, in the order `iptables -S` printed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    chains: Vec<String>,
    rules: Vec<Rule>,
}

impl Ruleset {
    /// Parses `iptables -t <table> -S` output (`-P`, `-N` and `-A` lines; others are ignored).
    pub fn parse(text: &str) -> Self {
        let mut set = Ruleset::default();
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(rest) = line
                .strip_prefix("-P ")
                .or_else(|| line.strip_prefix("-N "))
            {
                if let Some(name) = rest.split_whitespace().next() {
                    set.chains.push(name.to_string());
                }
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let (chain, spec) = rest.split_once(' ').unwrap_or((rest, ""));
                set.rules.push(Rule {
                    chain: chain.to_string(),
                    args: split_words(spec),
                    spec: spec.to_string(),
                });
            }
        }
        set
    }

    pub fn has_chain(&self, chain: &str) -> bool {
        self.chains.iter().any(|c| c == chain)
    }

    /// User-defined and built-in chain names.
    pub fn chains(&self) -> impl Iterator<Item = &str> {
        self.chains.iter().map(String::as_str)
    }

    pub fn rules_in<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.chain == chain)
    }

    /// True if `chain` holds a rule printed exactly as `args`.
    pub fn contains(&self, chain: &str, args: &[String]) -> bool {
        self.rules_in(chain).any(|r| r.args == args)
    }
}

/// Splits a printed rule into words with the quoting `iptables -S` uses: a word may be in
/// double quotes, inside which a backslash escapes the next character (libxtables'
/// `xtables_save_string`).
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => word.extend(chars.next()),
                        '"' => break,
                        q => word.push(q),
                    }
                }
            }
            c if c.is_ascii_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = r#"-P PREROUTING ACCEPT
-P OUTPUT ACCEPT
-N CNI-DN-0e9965f3b290e853e3753
-N CNI-HOSTPORT-DNAT
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A CNI-DN-0e9965f3b290e853e3753 -s 10.0.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-HOSTPORT-DNAT ! -d 192.0.2.0/24 -p tcp -m comment --comment "dnat name: \"pmnet\" id: \"c1\"" -m multiport --dports 8080 -j CNI-DN-0e9965f3b290e853e3753
"#;

    #[test]
    fn parses_chains_and_rules() {
        let set = Ruleset::parse(SAVED);
        assert!(set.has_chain("PREROUTING"));
        assert!(set.has_chain("CNI-HOSTPORT-DNAT"));
        assert!(!set.has_chain("CNI-HOSTPORT-MASQ"));
        let entry: Vec<_> = set.rules_in("CNI-HOSTPORT-DNAT").collect();
        assert_eq!(entry.len(), 1);
        assert_eq!(
            entry[0].args,
            [
                "!",
                "-d",
                "192.0.2.0/24",
                "-p",
                "tcp",
                "-m",
                "comment",
                "--comment",
                "dnat name: \"pmnet\" id: \"c1\"",
                "-m",
                "multiport",
                "--dports",
                "8080",
                "-j",
                "CNI-DN-0e9965f3b290e853e3753"
            ]
        );
        assert!(entry[0]
            .spec
            .starts_with("! -d 192.0.2.0/24 -p tcp -m comment --comment \""));
        let words: Vec<String> = [
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-j",
            "CNI-HOSTPORT-DNAT",
        ]
        .map(String::from)
        .to_vec();
        assert!(set.contains("PREROUTING", &words));
        assert!(!set.contains("OUTPUT", &words));
    }

    #[test]
    fn splits_quoted_words() {
        assert_eq!(
            split_words(r#"a "b c" "d\\e" "" f"#),
            ["a", "b c", "d\\e", "", "f"]
        );
        assert_eq!(split_words("  x   y "), ["x", "y"]);
        assert!(split_words("").is_empty());
    }
}
