//! Throwaway named network namespaces.

use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Where `ip netns` keeps its bind mounts.
const NETNS_RUN_DIR: &str = "/run/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `ip netns add` makes /run/netns a shared mount the first time it runs; two
/// concurrent first runs can stack mounts on it and hide each other's
/// namespaces. Tests of one binary run in parallel threads, so serialize.
static CREATE_LOCK: Mutex<()> = Mutex::new(());

/// A named network namespace (`ip netns add`), deleted on drop, including
/// when the test panics. Links inside it go with it (a veth whose peer is
/// elsewhere takes the peer along).
#[derive(Debug)]
pub struct TempNetns {
    name: String,
    path: PathBuf,
}

impl TempNetns {
    /// Creates `cnitest-<pid>-<counter>-<random hex>`. Needs root.
    pub fn new() -> Self {
        let name = format!(
            "cnitest-{}-{}-{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            random_u32()
        );
        {
            // A poisoned lock only means another test panicked; the
            // guarded state (nothing) is still fine.
            let _guard = CREATE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            let out = run("ip", ["netns", "add", name.as_str()]);
            if !out.status.success() {
                panic!(
                    "ip netns add {name} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        let path = Path::new(NETNS_RUN_DIR).join(&name);
        Self { name, path }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`, what a runtime passes as CNI_NETNS.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `ip netns exec <name> <args...>` and returns its output
    /// whatever the exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut full: Vec<&OsStr> = vec![
            OsStr::new("netns"),
            OsStr::new("exec"),
            OsStr::new(&self.name),
        ];
        full.extend(args.iter().map(AsRef::as_ref));
        run("ip", full)
    }

    /// Runs `ip -n <name> <args...>` and returns its output whatever the
    /// exit status.
    pub fn ip<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut full: Vec<&OsStr> = vec![OsStr::new("-n"), OsStr::new(&self.name)];
        full.extend(args.iter().map(AsRef::as_ref));
        run("ip", full)
    }

    /// Like [`TempNetns::ip`], but panics unless it succeeds and returns its
    /// stdout.
    pub fn ip_stdout<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.ip(args);
        if !out.status.success() {
            let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
            panic!(
                "ip -n {} {} failed ({}): {}",
                self.name,
                shown.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Removes every namespace [`TempNetns::new`] made in this process that is still there. For
/// binaries built with `panic = "abort"` (the release profile), where a panic never runs the
/// destructors: call it from a panic hook. Returns the names removed.
pub fn remove_leftovers() -> Vec<String> {
    let prefix = format!("cnitest-{}-", std::process::id());
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && run("ip", ["netns", "del", name.as_str()]).status.success()
        {
            removed.push(name);
        }
    }
    removed
}

impl Default for TempNetns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempNetns {
    fn drop(&mut self) {
        let out = run("ip", ["netns", "del", self.name.as_str()]);
        // Never panic in drop (it may run while unwinding); say what leaked.
        if !out.status.success() {
            eprintln!(
                "testkit: ip netns del {} failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

fn run<I, S>(program: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// 32 random bits without a rand dependency: std's RandomState is seeded
/// from the OS, and hashing the time in keeps successive calls distinct.
fn random_u32() -> u32 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    // Keep the low half; truncation is the point.
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_differ() {
        assert_ne!(random_u32(), random_u32());
    }

    /// Runs in a child process (its own pid, so no other test's namespace matches): a
    /// namespace whose destructor never runs, as after a panic under panic=abort, is removed.
    #[test]
    fn leftovers_of_this_process_are_removed() {
        crate::require_root();
        if std::env::var_os("TESTKIT_LEFTOVER_CHILD").is_some() {
            let ns = TempNetns::new();
            let name = ns.name().to_string();
            std::mem::forget(ns);
            let removed = remove_leftovers();
            println!("made={name} removed={}", removed.join(","));
            return;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "netns::tests::leftovers_of_this_process_are_removed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TESTKIT_LEFTOVER_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The harness prints "test <name> ... " on the same line first.
        let line = stdout
            .lines()
            .find_map(|l| l.find("made=").map(|at| &l[at..]))
            .unwrap_or_else(|| panic!("child said nothing: {stdout}"));
        let (made, removed) = line
            .strip_prefix("made=")
            .and_then(|l| l.split_once(" removed="))
            .unwrap();
        assert!(!made.is_empty());
        assert_eq!(removed, made, "{line}");
        assert!(!Path::new("/run/netns").join(made).exists());
    }

    #[test]
    fn create_and_remove() {
        crate::require_root();
        let path;
        {
            let ns = TempNetns::new();
            path = ns.path().to_path_buf();
            assert!(ns
                .name()
                .starts_with(&format!("cnitest-{}-", std::process::id())));
            assert!(path.exists(), "{} missing", path.display());
            let links = ns.ip_stdout(&["-o", "link", "show"]);
            assert!(links.contains("lo"), "{links}");
            let out = ns.exec(&["ip", "-o", "link", "show", "lo"]);
            assert!(out.status.success());
        }
        assert!(!path.exists(), "{} still there after drop", path.display());
    }

    #[test]
    fn removed_even_when_the_test_panics() {
        crate::require_root();
        let (tx, rx) = std::sync::mpsc::channel();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let ns = TempNetns::new();
            tx.send(ns.path().to_path_buf()).unwrap();
            panic!("boom");
        }));
        assert!(result.is_err());
        let path = rx.recv().unwrap();
        assert!(!path.exists(), "{} leaked", path.display());
    }
}
