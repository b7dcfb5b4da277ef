//! The system tools end-to-end tests drive (podman, busybox): whether they are there,
//! installing them with apt when not, saying loudly when a test has to skip without them, and
//! showing what a command printed.

use std::process::{Command, Output};

/// Whether `cmd arg` runs and succeeds (`have("podman", "--version")`).
pub fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `apt-get install` of `pkgs`, best effort: the caller checks for what it needs afterwards.
pub fn apt_install(pkgs: &[&str]) {
    eprintln!("installing {pkgs:?} with apt-get");
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

/// A banner that a skipped test cannot be overlooked in: `test` skipped because `why`.
pub fn loud_skip(test: &str, why: &str) {
    let bar = "!".repeat(78);
    eprintln!("\n{bar}\n!! SKIPPED: {test}: {why}\n{bar}\n");
}

/// Prints a command's exit code, stdout and stderr under `what` (the test's log shows them
/// when it fails).
pub fn show_output(what: &str, out: &Output) {
    eprintln!(
        "{what}: exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
