//! Calico's command-line flags, parsed (Go `flag` style) before the CNI dispatcher: `-v` prints
//! the version, `-t` tests the datastore named by the NetConf on stdin (used to gate
//! installing the CNI config).

use libcni::CniError;

use crate::context::ds_err;

#[derive(Debug, Default)]
pub struct Flags {
    pub version: bool,
    pub test: bool,
}

/// Go's flag rules: `-x` or `--x` (`=true`/`=false` allowed), parsing stops at the first
/// non-flag or after `--`; an unknown flag is an error.
pub fn parse(args: impl Iterator<Item = String>) -> Result<Flags, String> {
    let mut f = Flags::default();
    for a in args {
        if a == "--" || !a.starts_with('-') || a == "-" {
            break;
        }
        let name = a.trim_start_matches('-');
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (name, None),
        };
        let on = match value {
            None => true,
            Some(v) => libcni::types::args::parse_go_bool(v)
                .map_err(|_| format!("invalid boolean value {v:?} for -{name}: parse error"))?,
        };
        match name {
            "v" => f.version = on,
            "t" => f.test = on,
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
    }
    Ok(f)
}

pub fn print_error(msg: &str, details: &str) {
    let e = CniError::with_details(100, msg, details);
    println!("{}", e.to_json());
}

const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `calico -t`: the datastore must answer and say it is ready.
pub fn test_connection() -> i32 {
    let r = (|| -> Result<(), CniError> {
        let mut stdin = Vec::new();
        libcni::skel::read_stdin(&mut std::io::stdin().lock(), &mut stdin)?;
        let loaded = crate::config::load(&stdin)?;
        let ds = datastore::Datastore::from_keys(&loaded.datastore).map_err(ds_err)?;
        // Calico's test mode gives each request 2 s.
        ds.set_timeout(Some(TEST_TIMEOUT));
        let ctx_ready = ds
            .cluster_information()
            .map_err(ds_err)?
            .is_some_and(|ci| ci.spec.datastore_ready == Some(true));
        if !ctx_ready {
            return Err(CniError::new(
                libcni::code::INTERNAL,
                "Calico is currently not ready to process requests",
            ));
        }
        // With a kubeconfig, the API server must answer too.
        if !loaded.conf.kubernetes.kubeconfig.is_empty() {
            let api = crate::k8s::Api::new(&ds, &loaded.conf);
            let client = api.client()?;
            client.set_timeout(Some(TEST_TIMEOUT));
            client.get("/version")?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => 0,
        Err(e) => {
            print_error("data store connection failed", &e.msg);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Flags, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_flag_rules() {
        assert!(p(&["-v"]).unwrap().version);
        assert!(p(&["--t"]).unwrap().test);
        assert!(!p(&["-t=false"]).unwrap().test);
        assert!(!p(&["x", "-v"]).unwrap().version);
        assert_eq!(
            p(&["-q"]).err().unwrap(),
            "flag provided but not defined: -q"
        );
    }
}
