//! Config sysctl keys to files under `/proc/sys/net`, and writing or checking them.
//!
//! Every function that touches a file must run inside the container netns (`NetNs::run`):
//! `/proc/sys/net` shows the namespace of the thread that opens the file.

use libcni::json::go_quote;
use libcni::CniError;
use netkit::NetkitError;

const NET_PREFIX: &str = "/proc/sys/net/";

/// Go's `getSysctlFilename`: every `.` becomes `/` (so `..` becomes `//` and can never climb),
/// then the first `IFNAME` becomes the interface name (which may itself hold dots, as VLAN
/// names do), then the path is cleaned under `/proc/sys` and must stay in `/proc/sys/net/`.
pub fn path(key: &str, ifname: &str) -> Result<String, CniError> {
    let key = key.replace('.', "/").replacen("IFNAME", ifname, 1);
    let file = clean(&format!("/proc/sys/{key}"));
    if !file.starts_with(NET_PREFIX) {
        return Err(CniError::internal(format!(
            "invalid net sysctl key: {}",
            go_quote(&key)
        )));
    }
    Ok(file)
}

/// Go's `filepath.Clean` for an absolute path: no empty or `.` elements, `..` eats its
/// parent (and stops at the root), no trailing slash.
fn clean(abs: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in abs.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves every key before anything is written, so a bad key leaves no sysctl changed.
pub fn resolve(
    sysctls: &[(String, String)],
    ifname: &str,
) -> Result<Vec<(String, String)>, CniError> {
    sysctls
        .iter()
        .map(|(key, value)| Ok((path(key, ifname)?, value.clone())))
        .collect()
}

/// netkit refuses any path with an empty, `.` or `..` element on top of the checks above; its
/// I/O errors already print like Go's (`open /proc/sys/net/x: no such file or directory`).
fn netkit_error(file: &str, e: NetkitError) -> CniError {
    match e {
        NetkitError::InvalidSysctlKey { .. } => {
            CniError::internal(format!("invalid net sysctl key: {}", go_quote(file)))
        }
        other => CniError::internal(other),
    }
}

/// Writes each value as given (no newline), in order. Inside the netns.
pub fn write_all(resolved: &[(String, String)]) -> Result<(), CniError> {
    for (file, value) in resolved {
        netkit::sysctl_set(file, value).map_err(|e| netkit_error(file, e))?;
    }
    Ok(())
}

/// Go's CHECK: each file's content, less one trailing newline, must equal the value.
/// Inside the netns.
pub fn check_all(resolved: &[(String, String)]) -> Result<(), CniError> {
    for (file, want) in resolved {
        let current = read(file)?;
        if current != *want {
            return Err(CniError::internal(format!(
                "Error: Tuning configured value of {file} is {want}, current value is {current}"
            )));
        }
    }
    Ok(())
}

fn read(file: &str) -> Result<String, CniError> {
    let path = netkit::sysctl_path(file).map_err(|e| netkit_error(file, e))?;
    // A sysctl file is at most a page; the bound and O_NONBLOCK cost nothing here and keep
    // every config-named read on the one path (`libcni::fs`).
    let bytes = libcni::fs::read_bounded(std::path::Path::new(&path), 1 << 20)
        .map_err(|e| CniError::internal(e.to_string()))?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &str, ifname: &str) -> Result<String, String> {
        path(key, ifname).map_err(|e| e.msg)
    }

    #[test]
    fn dots_become_slashes_before_ifname_is_replaced() {
        assert_eq!(
            p("net.core.somaxconn", "eth0").unwrap(),
            "/proc/sys/net/core/somaxconn"
        );
        assert_eq!(
            p("net.ipv4.conf.IFNAME.arp_filter", "eth0.100").unwrap(),
            "/proc/sys/net/ipv4/conf/eth0.100/arp_filter"
        );
        // Only the first IFNAME is replaced.
        assert_eq!(
            p("net.IFNAME.IFNAME", "e1").unwrap(),
            "/proc/sys/net/e1/IFNAME"
        );
        // Slashes are kept, and the path is cleaned.
        assert_eq!(
            p("net/core//somaxconn/", "e").unwrap(),
            "/proc/sys/net/core/somaxconn"
        );
    }

    #[test]
    fn keys_cannot_leave_proc_sys_net() {
        // Dots never climb: they are separators, so these stay inside /proc/sys/net.
        assert_eq!(
            p("net/../../kernel/x", "e").unwrap(),
            "/proc/sys/net/kernel/x"
        );
        assert_eq!(
            p("net.ipv4.conf.../../x", "e").unwrap(),
            "/proc/sys/net/ipv4/conf/x"
        );
        for (key, shown) in [
            ("kernel.hostname", "kernel/hostname"),
            ("net", "net"),
            ("net.", "net/"),
            ("", ""),
            ("IFNAME", "eth0"),
            ("netfilter.x", "netfilter/x"),
        ] {
            assert_eq!(
                p(key, "eth0").unwrap_err(),
                format!("invalid net sysctl key: \"{shown}\""),
                "{key}"
            );
        }
    }

    #[test]
    fn an_ifname_of_dot_dot_still_cannot_climb() {
        // skel refuses such names; the prefix check after cleaning would catch them anyway.
        assert_eq!(
            p("net.IFNAME.x", "..").unwrap_err(),
            "invalid net sysctl key: \"net/../x\""
        );
        assert_eq!(
            p("net.core.IFNAME", "..").unwrap_err(),
            "invalid net sysctl key: \"net/core/..\""
        );
    }

    #[test]
    fn clean_matches_go() {
        assert_eq!(clean("/proc/sys/net/../../x"), "/proc/x");
        assert_eq!(clean("/../../a/./b//"), "/a/b");
        assert_eq!(clean("/"), "/");
    }
}
