//! Crash points: a plugin killed (SIGKILL) at one system call, for every call of interest an
//! uninterrupted run makes, with strace (Debian's `strace`).
//!
//! [`trace`] runs an invocation to completion under `strace -f` and returns the calls of the
//! given syscalls it made, each numbered per thread and per syscall as strace's `when=` counts
//! them. [`CrashPoint::run`] runs the invocation again under
//! `strace -e inject=<syscall>:signal=KILL:when=<n>`: the kernel delivers the SIGKILL when that
//! call is entered, so the call itself never happens and everything before it did. A test picks
//! the calls that change state (say, `openat` with `O_CREAT`, `write` to a store file) from the
//! trace, kills a run at each, then checks what the killed run left.
//!
//! strace counts per thread: `when=n` fires at the n-th call of whichever thread gets there
//! first, so the point hit is the one traced only when no other thread made n such calls
//! before it. [`CrashPoint::reachable`] says whether that holds in the trace.

use std::ffi::OsString;
use std::path::Path;

use crate::{Invocation, PluginRun};

/// Where strace is (Debian's package `strace`).
pub const STRACE: &str = "/usr/bin/strace";

/// One traced system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The thread (strace's pid column).
    pub tid: u32,
    pub syscall: String,
    /// 1-based, per thread and syscall: the `when=` that stops at this call.
    pub nth: usize,
    /// Everything after the syscall name, as strace printed it (`-yy`: descriptors show their
    /// paths or socket endpoints, `-s 512`: strings up to 512 bytes).
    pub args: String,
}

impl Call {
    /// The crash point that kills the run as it enters this call.
    pub fn point(&self) -> CrashPoint {
        CrashPoint {
            syscall: self.syscall.clone(),
            nth: self.nth,
        }
    }
}

/// A run killed at the `nth` call of `syscall` (per thread, as strace counts).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrashPoint {
    pub syscall: String,
    pub nth: usize,
}

impl std::fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.syscall, self.nth)
    }
}

impl CrashPoint {
    /// Runs `inv` under strace, SIGKILLed on entering this call. The run's code is 137 when
    /// the kill happened, the plugin's own otherwise (a run that made fewer such calls).
    pub fn run(&self, inv: &Invocation) -> PluginRun {
        require_strace();
        let inject = format!("inject={}:signal=KILL:when={}", self.syscall, self.nth);
        let trace = format!("trace={}", self.syscall);
        inv.clone()
            .wrapped(
                STRACE,
                [
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    "signal=none",
                    "-e",
                    &trace,
                    "-e",
                    &inject,
                    "--",
                ],
            )
            .run()
    }

    /// True when, in `calls` (a whole trace), the call this point names is the first `nth`
    /// call of its syscall in any thread: then a killed run stops exactly there.
    pub fn reachable(&self, calls: &[Call], tid: u32) -> bool {
        calls
            .iter()
            .find(|c| c.syscall == self.syscall && c.nth == self.nth)
            .is_some_and(|c| c.tid == tid)
    }
}

/// The crash points of the calls in a whole trace that `keep` selects: each once, in order,
/// and only those a killed run reliably stops at ([`CrashPoint::reachable`]).
pub fn points(calls: &[Call], keep: impl Fn(&Call) -> bool) -> Vec<CrashPoint> {
    let mut points: Vec<CrashPoint> = calls
        .iter()
        .filter(|c| keep(c))
        .filter(|c| c.point().reachable(calls, c.tid))
        .map(Call::point)
        .collect();
    points.sort();
    points.dedup();
    points
}

/// Runs `inv` to completion under `strace -f`, recording every call of `syscalls` (strace
/// names, e.g. `openat`, `write`, `renameat2`), in the order they were entered.
pub fn trace(inv: &Invocation, syscalls: &[&str]) -> (PluginRun, Vec<Call>) {
    require_strace();
    let dir = crate::temp_dir();
    let out = dir.path().join("trace");
    let args: Vec<OsString> = [
        "-f",
        "-qq",
        "-yy",
        "-s",
        "512",
        "-e",
        "signal=none",
        "-e",
        &format!("trace={}", syscalls.join(",")),
        "-o",
    ]
    .iter()
    .map(OsString::from)
    .chain([out.clone().into_os_string(), OsString::from("--")])
    .collect();
    let run = inv.clone().wrapped(STRACE, args).run();
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("cannot read strace output {}: {e}", out.display()));
    (run, parse(&text))
}

/// strace `-f -o` lines: `<pid> <name>(<args>) = <ret>`, or `<pid> <name>(<args> <unfinished
/// ...>` later followed by `<pid> <... name resumed>...`, which is the same call.
fn parse(text: &str) -> Vec<Call> {
    let mut counts: std::collections::HashMap<(u32, String), usize> = Default::default();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(tid) = tid.trim().parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("<...") || rest.starts_with("---") || rest.starts_with("+++") {
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let n = counts.entry((tid, name.to_string())).or_default();
        *n += 1;
        calls.push(Call {
            tid,
            syscall: name.to_string(),
            nth: *n,
            args: args.to_string(),
        });
    }
    calls
}

fn require_strace() {
    assert!(
        Path::new(STRACE).is_file(),
        "{STRACE} missing: apt-get install strace"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_per_thread_and_syscall() {
        let calls = parse(
            "10 openat(AT_FDCWD, \"/a\", O_RDONLY) = 3</a>\n\
             10 write(3</a>, \"x\", 1) = 1\n\
             11 write(1<pipe:[5]>, \"y\", 1 <unfinished ...>\n\
             10 write(3</a>, \"z\", 1) = 1\n\
             11 <... write resumed>) = 1\n\
             10 +++ exited with 0 +++\n",
        );
        let got: Vec<(u32, &str, usize)> = calls
            .iter()
            .map(|c| (c.tid, c.syscall.as_str(), c.nth))
            .collect();
        assert_eq!(
            got,
            [
                (10, "openat", 1),
                (10, "write", 1),
                (11, "write", 1),
                (10, "write", 2)
            ]
        );
        assert!(calls[0].args.contains("O_RDONLY"));
        let p = calls[3].point();
        assert!(p.reachable(&calls, 10));
        // Thread 10's first write comes before thread 11's: when=1 stops thread 10.
        assert!(!calls[2].point().reachable(&calls, 11));
    }

    /// A real kill: `sh -c 'echo a > f; echo b > g'` killed at its second openat with O_CREAT
    /// leaves f and no g.
    #[test]
    fn a_run_is_killed_exactly_at_the_call() {
        let dir = crate::temp_dir();
        let script = format!("echo a > {d}/f; echo b > {d}/g", d = dir.path().display());
        let inv = Invocation::new("/bin/sh").stdin(script.into_bytes());
        let (run, calls) = trace(&inv, &["openat"]);
        run.assert_success();
        let creates: Vec<&Call> = calls
            .iter()
            .filter(|c| c.args.contains("O_CREAT"))
            .collect();
        assert_eq!(creates.len(), 2, "{calls:#?}");
        std::fs::remove_file(dir.path().join("f")).unwrap();
        std::fs::remove_file(dir.path().join("g")).unwrap();
        let killed = creates[1].point().run(&inv);
        assert_eq!(killed.code, 137, "{killed}");
        assert!(dir.path().join("f").exists());
        assert!(!dir.path().join("g").exists());
    }
}
