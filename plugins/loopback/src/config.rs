//! loopback's config: only `cniVersion`, `name` and an optional `prevResult`.

use libcni::{CniError, CniResult, NetConf};

pub struct Config {
    pub cni_version: String,
    pub prev_result: Option<CniResult>,
}

/// As the reference: the prevResult must parse and convert to the current version.
pub fn parse(stdin: &[u8]) -> Result<Config, CniError> {
    let conf = NetConf::parse(stdin)
        .map_err(|e| CniError::internal(format!("failed to parse network config: {e}")))?;
    let prev_result = conf
        .prev_result()
        .map_err(|e| CniError::internal(format!("failed to parse prevResult: {e}")))?;
    if let Some(prev) = &prev_result {
        prev.to_current().map_err(|e| {
            CniError::internal(format!("failed to convert result to current version: {e}"))
        })?;
    }
    Ok(Config {
        cni_version: conf.cni_version,
        prev_result,
    })
}
