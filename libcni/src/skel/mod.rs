//! The plugin side of the protocol (Go's `pkg/skel` and `pkg/utils` validation).

mod alloc;
mod dispatch;
mod env;
pub mod validate;

pub use alloc::PluginAllocator;
pub use dispatch::{about, dispatch, read_stdin, run, Io, Plugin};
pub use env::CmdArgs;
