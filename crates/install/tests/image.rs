//! The container image: `podman build` of the repository's Containerfile from
//! the static release binaries, then `podman run` of it with host directories
//! mounted, as Calico's install tests run the calico/cni image.
//!
//! Needs the static binaries (`scripts/build-release` output) in
//! `CNI_IMAGE_BIN_DIR`; `image/test` builds them and runs this test. Without
//! that variable the test says so loudly and does nothing: a release build of
//! the whole suite is too slow for every `cargo test`. Podman is installed with
//! apt when missing; only if that fails is the test skipped (loudly).
//! Podman's storage lives in the test's temporary directory (vfs driver), so
//! the host's images are untouched and nothing is left behind.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const BIN_DIR_VAR: &str = "CNI_IMAGE_BIN_DIR";

/// What the image holds in /opt/cni/bin: Calico's suite plus Istio's plugin, which
/// `install istio-cni` installs.
const IMAGE: [&str; 8] = [
    "calico",
    "calico-ipam",
    "host-local",
    "install",
    "istio-cni",
    "loopback",
    "portmap",
    "tuning",
];

fn podman_available() -> bool {
    if !testkit::have("podman", "--version") {
        testkit::apt_install(&["podman", "runc"]);
    }
    testkit::have("podman", "--version")
}

/// An ELF executable with no PT_INTERP program header: statically linked.
fn is_static_elf(path: &Path) -> bool {
    let b = fs::read(path).unwrap();
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) != 3
    })
}

struct Podman {
    dir: tempfile::TempDir,
    image: String,
}

impl Podman {
    fn new() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("install-image-")
            .tempdir()
            .unwrap();
        Podman {
            image: format!("localhost/cni-rs-calico-cni-test:{}", std::process::id()),
            dir,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.dir.path().join("storage"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
            ]);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run podman");
        testkit::show_output(&format!("podman {args:?}"), &out);
        out
    }

    /// `podman run --rm` of the image with this VM's required flags, `env` and `mounts`.
    fn run_image(&self, env: &[&str], mounts: &[String]) -> Output {
        self.run_image_with(&["--rm"], env, mounts, &[])
    }

    /// `podman run` of the image: `how` (`--rm`, `-d --name X`), the host's network (the
    /// stand-in apiserver listens on its loopback), this VM's ulimits, `env` (`-e`), `mounts`
    /// (`-v`), then `command` (none: the image's own).
    fn run_image_with(
        &self,
        how: &[&str],
        env: &[&str],
        mounts: &[String],
        command: &[&str],
    ) -> Output {
        let mut args: Vec<&str> = vec!["run"];
        args.extend(how);
        args.extend([
            "--network",
            "host",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]);
        for e in env {
            args.extend(["-e", e]);
        }
        for m in mounts {
            args.extend(["-v", m.as_str()]);
        }
        args.push(&self.image);
        args.extend(command);
        self.run(&args)
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn image_installs_the_suite_on_the_host() {
    testkit::require_root();
    let Some(bin_dir) = std::env::var_os(BIN_DIR_VAR) else {
        testkit::loud_skip("image test", &format!(
            "{BIN_DIR_VAR} is not set; run image/test (it builds the static binaries and runs this test)"
        ));
        return;
    };
    if !podman_available() {
        testkit::loud_skip(
            "image test",
            "podman is not installed and `apt-get install podman runc` failed",
        );
        return;
    }
    let bin_dir = PathBuf::from(bin_dir);
    let p = Podman::new();

    // Build context: bin/ with the suite, each a static executable.
    let ctx = p.dir.path().join("context");
    fs::create_dir_all(ctx.join("bin")).unwrap();
    for name in IMAGE {
        let src = bin_dir.join(name);
        assert!(
            src.is_file(),
            "{} is missing from {BIN_DIR_VAR}",
            src.display()
        );
        assert!(
            is_static_elf(&src),
            "{} is not statically linked",
            src.display()
        );
        fs::copy(&src, ctx.join("bin").join(name)).unwrap();
        fs::set_permissions(
            ctx.join("bin").join(name),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let containerfile = repo_root().join("Containerfile");
    let out = p.run(&[
        "build",
        "-f",
        containerfile.to_str().unwrap(),
        "-t",
        &p.image,
        ctx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "podman build failed");

    // The image holds exactly the suite, in /opt/cni/bin, and runs install.
    let out = p.run(&["create", "--name", "contents", &p.image]);
    assert!(out.status.success());
    let tar = p.dir.path().join("rootfs.tar");
    let out = p.run(&["export", "-o", tar.to_str().unwrap(), "contents"]);
    assert!(out.status.success());
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let mut files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(str::to_string)
        .collect();
    files.sort();
    let expected: Vec<String> = IMAGE.iter().map(|n| format!("opt/cni/bin/{n}")).collect();
    assert_eq!(files, expected);
    let out = p.run(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        &p.image,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"["/opt/cni/bin/install"]"#
    );

    // Run it as a DaemonSet's init container would, with the host's dirs mounted.
    let host = p.dir.path().join("host");
    let (host_bin, net_d, sa) = (host.join("bin"), host.join("net.d"), host.join("sa"));
    for d in [&host_bin, &net_d, &sa] {
        fs::create_dir_all(d).unwrap();
    }
    // The apiserver (the stand-in) that calico-node's token asks for the CNI's token.
    let api = testkit::KubeApi::start(testkit::KubeApiOptions::default());
    api.add_token(
        TOKEN,
        NODE_USER,
        vec![testkit::Rule::new(
            &["create"],
            &[""],
            &["serviceaccounts/token"],
        )],
    );
    fs::write(sa.join("token"), TOKEN).unwrap();
    fs::write(sa.join("ca.crt"), fs::read(api.ca_pem()).unwrap()).unwrap();
    fs::write(sa.join("namespace"), "kube-system").unwrap();
    let port = format!("KUBERNETES_SERVICE_PORT={}", api.port());
    let env = [
        "SLEEP=false",
        "KUBERNETES_NODE_NAME=my-node",
        "KUBERNETES_SERVICE_HOST=127.0.0.1",
        port.as_str(),
    ];
    let mounts = |bin_opts: &str| {
        vec![
            format!("{}:/host/opt/cni/bin{bin_opts}", host_bin.display()),
            format!("{}:/host/etc/cni/net.d", net_d.display()),
            format!(
                "{}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
                sa.display()
            ),
        ]
    };

    // A read-only bin dir (and no secondary one) makes the install fail.
    let out = p.run_image(&env, &mounts(":ro"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "read-only host bin dir must fail"
    );
    assert!(names(&host_bin).is_empty());

    let out = p.run_image(&env, &mounts(""));
    assert!(out.status.success(), "install in the container failed");
    let installed = names(&host_bin);
    assert_eq!(
        installed,
        [
            "calico",
            "calico-ipam",
            "host-local",
            "loopback",
            "portmap",
            "tuning"
        ]
    );
    for name in &installed {
        assert_eq!(
            fs::read(host_bin.join(name)).unwrap(),
            fs::read(bin_dir.join(name)).unwrap(),
            "{name} installed byte for byte"
        );
        assert_eq!(mode(&host_bin.join(name)), 0o755);
    }
    assert_eq!(read(&net_d.join("10-calico.conflist")), expected_default());
    assert_eq!(mode(&net_d.join("10-calico.conflist")), 0o600);
    let kubeconfig = read(&net_d.join("calico-kubeconfig"));
    assert!(
        kubeconfig.contains(&format!("    server: https://127.0.0.1:{}\n", api.port())),
        "{kubeconfig}"
    );
    // The CNI service account's token (TokenRequest), not the pod's.
    assert!(kubeconfig.contains("    token: "), "{kubeconfig}");
    assert!(
        !kubeconfig.contains(&format!("    token: {TOKEN}\n")),
        "{kubeconfig}"
    );

    // A second run finds everything up to date and still succeeds.
    let out = p.run_image(&env, &mounts(""));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already up to date"));

    // Istio's agent from the same image, as its DaemonSet runs it: it joins istio-cni to the
    // conflist Calico's install just wrote, and takes it back out on `podman stop` (SIGTERM).
    let run_dir = host.join("istio-run");
    fs::create_dir_all(&run_dir).unwrap();
    let health = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let health = format!("CNI_INSTALL_HEALTH_ADDR=127.0.0.1:{health}");
    let agent = p.run_image_with(
        &["-d", "--name", "istio-cni-node"],
        &[
            "KUBERNETES_SERVICE_HOST=127.0.0.1",
            &port,
            "POD_NAMESPACE=istio-system",
            "EXCLUDE_NAMESPACES=kube-system",
            &health,
        ],
        &[
            mounts(""),
            vec![format!("{}:/var/run/istio-cni", run_dir.display())],
        ]
        .concat(),
        &["/opt/cni/bin/install", "istio-cni"],
    );
    assert!(agent.status.success(), "istio-cni agent container");
    let conflist = net_d.join("10-calico.conflist");
    let has_istio = || read(&conflist).contains("\"type\": \"istio-cni\"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !has_istio() {
        assert!(
            std::time::Instant::now() < deadline,
            "istio-cni never joined the conflist"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        fs::read(host_bin.join("istio-cni")).unwrap(),
        fs::read(bin_dir.join("istio-cni")).unwrap()
    );
    assert!(run_dir.join("istio-cni-kubeconfig").is_file());
    assert_eq!(mode(&conflist), 0o600, "the primary's mode is kept");
    let out = p.run(&["stop", "-t", "10", "istio-cni-node"]);
    assert!(out.status.success());
    assert!(!has_istio(), "entry removed on SIGTERM");
    assert!(conflist.is_file());
    assert!(!host_bin.join("istio-cni").exists());
    assert!(!run_dir.join("istio-cni-kubeconfig").exists());
    let _ = p.run(&["rm", "-f", "istio-cni-node"]);

    let _ = p.run(&["rm", "-f", "contents"]);
    let _ = p.run(&["rmi", "-f", &p.image]);
}

#[test]
fn static_check_tells_static_from_dynamic() {
    assert!(
        !is_static_elf(Path::new("/bin/sh")),
        "Debian's sh is dynamic"
    );
    let musl = repo_root().join("target/x86_64-unknown-linux-musl/release/install");
    if musl.is_file() {
        assert!(is_static_elf(&musl));
    }
}
