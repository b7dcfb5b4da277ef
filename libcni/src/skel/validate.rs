//! Identifier validation shared by the plugin side (skel) and the runtime side (Go's
//! `pkg/utils`): container IDs, network names, interface names.

use crate::error::{code, CniError};

/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`
fn matches_cni_regex(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

pub fn validate_container_id(id: &str) -> Result<(), CniError> {
    if id.is_empty() {
        return Err(CniError::new(
            code::UNKNOWN_CONTAINER,
            "missing containerID",
        ));
    }
    if !matches_cni_regex(id) {
        return Err(CniError::with_details(
            code::INVALID_ENVIRONMENT_VARIABLES,
            "invalid characters in containerID",
            id,
        ));
    }
    Ok(())
}

pub fn validate_network_name(name: &str) -> Result<(), CniError> {
    if name.is_empty() {
        return Err(CniError::new(
            code::INVALID_NETWORK_CONFIG,
            "missing network name:",
        ));
    }
    if !matches_cni_regex(name) {
        return Err(CniError::with_details(
            code::INVALID_NETWORK_CONFIG,
            "invalid characters found in network name",
            name,
        ));
    }
    Ok(())
}

/// Linux's IFNAMSIZ - 1.
pub const MAX_INTERFACE_NAME_LENGTH: usize = 15;

pub fn validate_interface_name(ifname: &str) -> Result<(), CniError> {
    let err = |msg: &str| CniError::new(code::INVALID_ENVIRONMENT_VARIABLES, msg);
    if ifname.is_empty() {
        return Err(err("interface name is empty"));
    }
    if ifname.len() > MAX_INTERFACE_NAME_LENGTH {
        return Err(CniError::with_details(
            code::INVALID_ENVIRONMENT_VARIABLES,
            "interface name is too long",
            format!(
                "interface name should be less than {} characters",
                MAX_INTERFACE_NAME_LENGTH + 1
            ),
        ));
    }
    if ifname == "." || ifname == ".." {
        return Err(err("interface name is . or .."));
    }
    if ifname
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(err(
            "interface name contains / or : or whitespace characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids() {
        assert!(validate_container_id("abc-1_2.3").is_ok());
        assert_eq!(validate_container_id("").unwrap_err().code, 3);
        let e = validate_container_id("-abc").unwrap_err();
        assert_eq!(
            (e.code, e.msg.as_str(), e.details.as_str()),
            (4, "invalid characters in containerID", "-abc")
        );
        assert_eq!(validate_container_id("a/b").unwrap_err().code, 4);
    }

    #[test]
    fn network_names() {
        assert_eq!(
            validate_network_name("").unwrap_err().msg,
            "missing network name:"
        );
        assert_eq!(validate_network_name("a b").unwrap_err().code, 7);
        assert!(validate_network_name("net-1").is_ok());
    }

    #[test]
    fn interface_names() {
        let msg = |s: &str| validate_interface_name(s).unwrap_err().msg;
        assert_eq!(msg(""), "interface name is empty");
        assert_eq!(msg("0123456789abcdef"), "interface name is too long");
        assert!(validate_interface_name("0123456789abcde").is_ok());
        assert_eq!(msg("."), "interface name is . or ..");
        assert_eq!(msg(".."), "interface name is . or ..");
        for bad in ["eth/0", "eth:0", "eth 0", "eth\t0", "eth\u{a0}0"] {
            assert_eq!(
                msg(bad),
                "interface name contains / or : or whitespace characters"
            );
        }
    }
}
