//! What cnitool derives from its environment: CNI_ARGS pairs, capability args, the
//! absolute netns path and the container ID.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};

/// Go cnitool's strict `CNI_ARGS` parsing: `K=V` pairs separated by `;`, both sides
/// non-empty, exactly one `=`.
pub fn parse_cni_args(args: &str) -> Result<Vec<(String, String)>> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    args.split(';')
        .map(|pair| {
            let kv: Vec<&str> = pair.split('=').collect();
            if kv.len() != 2 || kv[0].is_empty() || kv[1].is_empty() {
                bail!("invalid CNI_ARGS pair {}", libcni::json::go_quote(pair));
            }
            Ok((kv[0].to_string(), kv[1].to_string()))
        })
        .collect()
}

/// `CAP_ARGS`: a JSON object (or `null`); empty means none.
pub fn parse_cap_args(text: &str) -> Result<Map<String, Value>> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    match libcni::gojson::from_slice::<Value>(text.as_bytes()).context("parsing CAP_ARGS")? {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => bail!(
            "parsing CAP_ARGS: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            libcni::gojson::kind_name(&other)
        ),
    }
}

/// Go's `filepath.Abs`: joined to the working directory if relative, then cleaned
/// lexically (`.`, `..` and repeated or trailing slashes removed).
pub fn abs_path(path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .context("getting the working directory")?
            .join(p)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// `cnitool-` and the hex of the first 10 bytes of SHA-512 of the absolute netns path.
pub fn container_id(abs_netns: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let digest = Sha512::digest(abs_netns.as_os_str().as_bytes());
    let mut out = String::from("cnitool-");
    for b in &digest[..10] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cni_args_are_strict() {
        assert_eq!(
            parse_cni_args("A=1;B=2").unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        for (bad, pair) in [
            ("A=1;", ""),
            ("A", "A"),
            ("A=", "A="),
            ("=1", "=1"),
            ("A=b=c", "A=b=c"),
        ] {
            assert_eq!(
                parse_cni_args(bad).unwrap_err().to_string(),
                format!("invalid CNI_ARGS pair \"{pair}\"")
            );
        }
        assert!(parse_cni_args("").unwrap().is_empty());
    }

    #[test]
    fn cap_args() {
        assert_eq!(parse_cap_args(r#"{"mac":"x"}"#).unwrap()["mac"], "x");
        assert!(parse_cap_args("").unwrap().is_empty());
        assert!(parse_cap_args("[1]").is_err());
        assert!(parse_cap_args("{").is_err());
    }

    #[test]
    fn abs_paths_are_clean() {
        assert_eq!(
            abs_path("/run/netns/../netns//x/").unwrap(),
            PathBuf::from("/run/netns/x")
        );
        assert_eq!(abs_path("/..").unwrap(), PathBuf::from("/"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(abs_path("./a").unwrap(), cwd.join("a"));
    }

    #[test]
    fn container_id_matches_go() {
        // printf %s /var/run/netns/test | sha512sum | cut -c1-20
        assert_eq!(
            container_id(Path::new("/var/run/netns/test")),
            "cnitool-7b8a61d5d8e94d07cbe4"
        );
    }
}
