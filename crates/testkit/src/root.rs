//! Root gating for tests that touch the kernel.

/// Panics unless the effective user is root.
///
/// Tests that need root fail loudly instead of skipping, so a run without
/// privileges can never look green. The panic points at the calling test.
#[track_caller]
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!("this test needs root (run as root, e.g. sudo scripts/test)");
    }
}
