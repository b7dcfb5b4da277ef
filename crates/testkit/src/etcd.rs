//! A real, throwaway etcd server for datastore tests (Debian's `etcd-server`): its own data
//! directory, random free loopback ports for clients and peers, killed and removed on drop
//! (also when the test panics) and, through `PR_SET_PDEATHSIG`, when the thread that started it
//! dies with the test process.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::pki::{make_pki, TlsFiles};

/// Where Debian's `etcd-server` installs the binary.
pub const ETCD_BINARY: &str = "/usr/bin/etcd";

pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    tls: Option<TlsFiles>,
}

impl EtcdServer {
    /// Starts a single-member cluster and waits until it is healthy. Panics (never skips) when
    /// the binary is missing: `apt-get install -y etcd-server`.
    pub fn start() -> EtcdServer {
        Self::start_with(false)
    }

    /// Like [`EtcdServer::start`], serving clients over TLS with client-certificate
    /// authentication (certificates made with the `openssl` command in the server's directory).
    pub fn start_tls() -> EtcdServer {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> EtcdServer {
        let binary = etcd_binary();
        let mut last_log = String::new();
        // Ports are picked free, then handed to etcd; another process may take one in between,
        // so a failed start is retried on fresh ports (the failed server is dropped: killed,
        // its directory removed).
        for _ in 0..3 {
            let mut server = EtcdServer {
                child: None,
                dir: tempfile::Builder::new()
                    .prefix("cnitest-etcd-")
                    .tempdir()
                    .unwrap_or_else(|e| panic!("cannot create the etcd data directory: {e}")),
                client_port: free_port(),
                peer_port: free_port(),
                tls: None,
            };
            if tls {
                server.tls = Some(make_pki(server.dir.path()));
            }
            match server.spawn(&binary) {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("etcd did not become healthy; its log:\n{last_log}");
    }

    /// The client URL, as Calico's `etcd_endpoints` takes it.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The certificates of a TLS server ([`EtcdServer::start_tls`]).
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    /// The server's process id while it runs (for CPU accounting in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, like a crash) and keeps its data for [`EtcdServer::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(log) = self.spawn(&etcd_binary()) {
            panic!("etcd did not come back; its log:\n{log}");
        }
    }

    /// Stops the server's process (SIGSTOP) and returns once it is stopped: connections stay
    /// open, nothing answers. For timeout tests; [`EtcdServer::resume`] undoes it.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP, true);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT, false);
    }

    /// Sends `sig` and waits until the process is (or is no longer) stopped: kill(2) only
    /// queues the signal, and a running etcd could answer one more request meanwhile.
    fn signal(&self, sig: libc::c_int, stopped: bool) {
        let Some(child) = &self.child else { return };
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let stat = format!("/proc/{}/stat", child.id());
        for _ in 0..5000 {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            // "pid (comm) S ...": the state follows the last ')'.
            let is_stopped = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'));
            if is_stopped == stopped {
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
        panic!("etcd did not {}", if stopped { "stop" } else { "continue" });
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Spawns etcd and waits for `/health`; on failure returns its log.
    fn spawn(&mut self, binary: &Path) -> Result<(), String> {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("cannot open the etcd log: {e}"))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--name", "cnitest"])
            .arg("--data-dir")
            .arg(self.data_dir())
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("cnitest={peer}")])
            .args(["--initial-cluster-state", "new"])
            .args([
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
                "--log-level",
                "warn",
            ]);
        if let Some(tls) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&tls.cert)
                .arg("--key-file")
                .arg(&tls.key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        cmd
            // etcd reads ETCD_* variables as flags; the test's environment is not for it.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("etcd exited ({status}):\n{}", self.log()));
                }
            }
            if self.healthy() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("no healthy answer within 30 s:\n{}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
        // The TempDir field removes the data directory.
    }
}

fn etcd_binary() -> PathBuf {
    let path = PathBuf::from(ETCD_BINARY);
    if !path.is_file() {
        panic!(
            "{ETCD_BINARY} not found: install Debian's etcd-server (apt-get install -y etcd-server); \
             tests against a real etcd never skip"
        );
    }
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

impl EtcdServer {
    /// `GET /health` answers `{"health":"true"}` once the member serves requests (over TLS,
    /// asked with the openssl command and the client certificate).
    fn healthy(&self) -> bool {
        let Some(tls) = &self.tls else {
            return healthy_http(self.client_port);
        };
        let out = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{}", self.client_port))
            .arg("-CAfile")
            .arg(&tls.ca)
            .arg("-cert")
            .arg(&tls.cert)
            .arg("-key")
            .arg(&tls.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(
                        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    );
                }
                child.wait_with_output()
            });
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("\"health\":\"true\""))
    }
}

/// `GET /health` answers `{"health":"true"}` once the member serves requests.
fn healthy_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.contains("\"health\":\"true\"")
}
