//! The runtime side of the protocol (Go's `libcni` and `pkg/invoke`).

pub mod invoke;
