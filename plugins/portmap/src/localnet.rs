//! `route_localnet` on the host interface that routes to the container, so connections to
//! 127.0.0.1:hostPort, DNATed to the container, may leave with a 127/8 source (upstream's
//! `getRoutableHostIF` + `enableLocalnetRouting`).

use std::ffi::CStr;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

use firewall::netlink::{self, Socket, NLM_F_REQUEST};

const RTM_GETROUTE: u16 = 26;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
/// sizeof(struct rtmsg)
const RTMSG_LEN: usize = 12;

/// The name of the interface the host routes `ip` through, if the lookup succeeds.
fn routable_host_if(ip: Ipv4Addr) -> Option<String> {
    let mut sock = Socket::open(libc::NETLINK_ROUTE).ok()?;
    let mut req = vec![0u8; RTMSG_LEN];
    req[0] = libc::AF_INET as u8; // rtm_family
    req[1] = 32; // rtm_dst_len
    netlink::put_attr(&mut req, RTA_DST, &ip.octets());
    let replies = sock.request(RTM_GETROUTE, NLM_F_REQUEST, &req).ok()?;
    let route = replies.first()?.get(RTMSG_LEN..)?;
    let (_, oif) = netlink::attrs(route).find(|(t, _)| *t == RTA_OIF)?;
    let index = u32::from_ne_bytes(oif.get(..4)?.try_into().ok()?);
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: name is a live buffer of IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `name`.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Sets `net.ipv4.conf.<if>.route_localnet=1` on the interface routing to `ip`. A failed
/// route lookup is not an error (upstream ignores it); a failed write is.
pub fn enable(ip: Ipv4Addr) -> Result<(), String> {
    let Some(ifname) = routable_host_if(ip) else {
        return Ok(());
    };
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/route_localnet");
    let path = Path::new(&path);
    let text = |op: &str, e: std::io::Error| {
        format!(
            "unable to enable route_localnet: {}",
            libcni::error::path_error_text(op, path, &e)
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| text("open", e))?;
    file.write_all(b"1").map_err(|e| text("write", e))
}
