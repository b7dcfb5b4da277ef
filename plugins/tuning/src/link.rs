//! The container link's attributes: snapshot for the backup, apply (ADD), compare (CHECK) and
//! restore (DEL), over a netlink socket that lives in the container netns.

use libcni::CniError;
use netkit::{Link, NetkitError, Netlink};

use crate::backup::Backup;
use crate::config::Conf;

/// The kernel's errno text alone, as Go's netlink library returns it ("invalid argument"),
/// without netkit's operation prefix.
fn go_text(e: NetkitError) -> String {
    match e {
        NetkitError::Netlink { message, .. } => message,
        other => other.to_string(),
    }
}

fn fail(e: NetkitError) -> CniError {
    CniError::internal(go_text(e))
}

/// Go's `netlink.LinkByName` as the change functions use it.
pub fn find(nl: &Netlink, ifname: &str) -> Result<Link, CniError> {
    let not_found = |why: String| CniError::internal(format!("failed to get \"{ifname}\": {why}"));
    nl.link_by_name(ifname)
        .map_err(|e| not_found(go_text(e)))?
        .ok_or_else(|| not_found("Link not found".into()))
}

/// The attributes ADD is about to change, as they are now.
pub fn snapshot(link: &Link, conf: &Conf) -> Backup {
    Backup {
        mac: if conf.mac.is_empty() {
            String::new()
        } else {
            link.mac.clone().unwrap_or_default()
        },
        promisc: conf.promisc.then_some(link.promisc),
        mtu: if conf.mtu != 0 {
            link.mtu.map_or(0, i64::from)
        } else {
            0
        },
        allmulti: conf.allmulti.map(|_| link.allmulti),
        txqlen: conf.txqlen.map(|_| link.txqlen.map_or(-1, i64::from)),
    }
}

/// Applies the config in Go's order: MAC, promisc (on only), MTU, allmulti, txqlen. `mac` is
/// the already parsed `conf.mac`. Integers go to the kernel as Go sends them: truncated to 32
/// bits, so a negative MTU is the kernel's to refuse.
pub fn apply(nl: &Netlink, link: &Link, conf: &Conf, mac: Option<&[u8]>) -> Result<(), CniError> {
    if let Some(mac) = mac {
        nl.link_set_mac(link.index, mac).map_err(fail)?;
    }
    if conf.promisc {
        nl.link_set_promisc(link.index, true).map_err(fail)?;
    }
    if conf.mtu != 0 {
        nl.link_set_mtu(link.index, conf.mtu as u32).map_err(fail)?;
    }
    if let Some(on) = conf.allmulti {
        nl.link_set_allmulti(link.index, on).map_err(fail)?;
    }
    if let Some(len) = conf.txqlen {
        nl.link_set_txqlen(link.index, len as u32).map_err(fail)?;
    }
    Ok(())
}

/// CHECK: the link must show what the config asks for. promisc is compared both ways (a
/// promiscuous link fails a config without `promisc: true`), as Go does.
pub fn check(link: &Link, conf: &Conf, ifname: &str) -> Result<(), CniError> {
    let current_mac = link.mac.clone().unwrap_or_default();
    if !conf.mac.is_empty() {
        // Go compares strings, so "C2:..." never matches the kernel's "c2:..."; we compare
        // the addresses, in the kernel's spelling.
        let wanted = crate::mac::parse(&conf.mac).map(|b| netkit::format_mac(&b));
        if wanted.as_deref() != Ok(current_mac.as_str()) {
            return Err(CniError::internal(format!(
                "Error: Tuning configured Ethernet of {ifname} is {}, current value is {current_mac}",
                conf.mac
            )));
        }
    }
    if conf.promisc != link.promisc {
        return Err(CniError::internal(format!(
            "Error: Tuning link {ifname} configured promisc is {}, current value is {}",
            conf.promisc,
            u8::from(link.promisc)
        )));
    }
    let mtu = link.mtu.map_or(0, i64::from);
    if conf.mtu != 0 && conf.mtu != mtu {
        return Err(CniError::internal(format!(
            "Error: Tuning configured MTU of {ifname} is {}, current value is {mtu}",
            conf.mtu
        )));
    }
    if let Some(want) = conf.allmulti {
        if want != link.allmulti {
            return Err(CniError::internal(format!(
                "Error: Tuning configured all-multicast mode of {ifname} is {want}, current value is {}",
                link.allmulti
            )));
        }
    }
    if let Some(want) = conf.txqlen {
        let current = link.txqlen.map_or(-1, i64::from);
        if want != current {
            return Err(CniError::internal(format!(
                "Error: Tuning configured Transmit Queue Length of {ifname} is {want}, current value is {current}"
            )));
        }
    }
    Ok(())
}

/// DEL: puts back what the backup holds, in Go's order (MTU, MAC, promisc, allmulti, txqlen),
/// carrying on past failures. Returns the failures, joined as Go joins them.
pub fn restore(nl: &Netlink, link: &Link, saved: &Backup) -> Result<(), String> {
    let mut errors: Vec<String> = Vec::new();
    let mut attempt = |what: &str, r: Result<(), String>| {
        if let Err(e) = r {
            errors.push(format!("failed to restore {what}: {e}"));
        }
    };
    if saved.mtu != 0 {
        attempt(
            "MTU",
            nl.link_set_mtu(link.index, saved.mtu as u32)
                .map_err(go_text),
        );
    }
    if !saved.mac.is_empty() {
        let r = crate::mac::parse(&saved.mac)
            .map_err(|e| format!("invalid args {} for MAC addr: {e}", saved.mac))
            .and_then(|mac| nl.link_set_mac(link.index, &mac).map_err(go_text));
        attempt("MAC address", r);
    }
    if let Some(on) = saved.promisc {
        attempt(
            "promiscuous mode",
            nl.link_set_promisc(link.index, on).map_err(go_text),
        );
    }
    if let Some(on) = saved.allmulti {
        attempt(
            "all-multicast mode",
            nl.link_set_allmulti(link.index, on).map_err(go_text),
        );
    }
    if let Some(len) = saved.txqlen {
        attempt(
            "transmit queue length",
            nl.link_set_txqlen(link.index, len as u32).map_err(go_text),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
