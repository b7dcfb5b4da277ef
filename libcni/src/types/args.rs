//! `CNI_ARGS` parsing with Go's `types.LoadArgs` rules: `K=V;K=V`, exactly one `=` per pair,
//! case-sensitive keys, unknown keys rejected unless `IgnoreUnknown` is true.

/// A `K=V` pair a plugin knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgPair {
    pub key: String,
    pub value: String,
}

impl ArgPair {
    /// Go's error for a value its field cannot parse.
    pub fn value_error(&self, err: impl std::fmt::Display) -> String {
        format!(
            "ARGS: error parsing value of pair \"{}={}\": {err}",
            self.key, self.value
        )
    }
}

/// Parsed `CNI_ARGS`: the pairs whose key the plugin knows, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pub known: Vec<ArgPair>,
    unknown: Vec<String>,
    ignore_unknown: bool,
}

impl CniArgs {
    /// Splits `args` and sorts the pairs into known (`known_keys`, plus `IgnoreUnknown`) and
    /// unknown. Value errors of the plugin's own keys should be raised by the caller before
    /// [`CniArgs::check_unknown`], which is Go's order.
    pub fn parse(args: &str, known_keys: &[&str]) -> Result<Self, String> {
        let mut out = CniArgs::default();
        if args.is_empty() {
            return Ok(out);
        }
        for pair in args.split(';') {
            let kv: Vec<&str> = pair.split('=').collect();
            if kv.len() != 2 {
                return Err(format!(
                    "ARGS: invalid pair {}",
                    crate::json::go_quote(pair)
                ));
            }
            let (key, value) = (kv[0], kv[1]);
            if key == "IgnoreUnknown" {
                let arg = ArgPair {
                    key: key.into(),
                    value: value.into(),
                };
                out.ignore_unknown = parse_go_bool(value).map_err(|e| arg.value_error(e))?;
            } else if known_keys.contains(&key) {
                out.known.push(ArgPair {
                    key: key.into(),
                    value: value.into(),
                });
            } else {
                out.unknown.push(pair.to_string());
            }
        }
        Ok(out)
    }

    /// Go's `ARGS: unknown args ["K=V" ...]` unless `IgnoreUnknown` was true.
    pub fn check_unknown(&self) -> Result<(), String> {
        if self.unknown.is_empty() || self.ignore_unknown {
            return Ok(());
        }
        let quoted: Vec<String> = self
            .unknown
            .iter()
            .map(|p| crate::json::go_quote(p))
            .collect();
        Err(format!("ARGS: unknown args [{}]", quoted.join(" ")))
    }

    /// Parse and check in one go, for plugins whose values cannot fail to parse.
    pub fn load(args: &str, known_keys: &[&str]) -> Result<Self, String> {
        let parsed = Self::parse(args, known_keys)?;
        parsed.check_unknown()?;
        Ok(parsed)
    }

    /// The last value given for `key` (Go keeps the last assignment).
    pub fn get(&self, key: &str) -> Option<&ArgPair> {
        self.known.iter().rev().find(|p| p.key == key)
    }
}

/// Go's `UnmarshallableBool`: `1`/`true` and `0`/`false`, any case.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!("boolean unmarshal error: invalid input {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_pairs() {
        let a = CniArgs::load("IP=10.0.0.2;IgnoreUnknown=1;K8S_POD_NAME=x", &["IP"]).unwrap();
        assert_eq!(a.get("IP").unwrap().value, "10.0.0.2");
    }

    #[test]
    fn rejects_bad_pairs_like_go() {
        assert_eq!(
            CniArgs::load("none", &[]).unwrap_err(),
            "ARGS: invalid pair \"none\""
        );
        assert_eq!(
            CniArgs::load("IP=1.2.3.4;", &["IP"]).unwrap_err(),
            "ARGS: invalid pair \"\""
        );
        assert_eq!(
            CniArgs::load("A=b=c", &[]).unwrap_err(),
            "ARGS: invalid pair \"A=b=c\""
        );
    }

    #[test]
    fn unknown_keys_need_ignore_unknown() {
        assert_eq!(
            CniArgs::load("FOO=1;ip=2", &["IP"]).unwrap_err(),
            "ARGS: unknown args [\"FOO=1\" \"ip=2\"]"
        );
        assert!(CniArgs::load("FOO=1;IgnoreUnknown=TRUE", &["IP"]).is_ok());
        assert!(CniArgs::load("IgnoreUnknown=0;FOO=1", &["IP"]).is_err());
        assert_eq!(
            CniArgs::load("IgnoreUnknown=yes", &[]).unwrap_err(),
            "ARGS: error parsing value of pair \"IgnoreUnknown=yes\": boolean unmarshal error: invalid input yes"
        );
    }

    #[test]
    fn empty_is_nothing() {
        assert_eq!(CniArgs::load("", &[]).unwrap(), CniArgs::default());
    }
}
