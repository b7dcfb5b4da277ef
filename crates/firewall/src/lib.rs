//! Firewall driver (iptables / nftables).
