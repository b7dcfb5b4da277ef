# Shared helpers for the scripts in this directory. Sourced, not run.

# Installs the Debian packages whose commands are missing. Pairs are "command:package".
ensure_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if [[ $cmd == /* ]]; then
            [[ -e $cmd ]] && continue
        elif command -v "$cmd" >/dev/null 2>&1; then
            continue
        fi
        missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    echo "installing: ${missing[*]}" >&2
    if [[ $(id -u) != 0 ]]; then
        echo "missing packages ${missing[*]} and not root: install them first" >&2
        return 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

require_root() {
    if [[ $(id -u) != 0 ]]; then
        echo "$0 needs root: it creates network namespaces (run it as root)" >&2
        exit 1
    fi
}

# The target our release binaries are built for: the host's musl twin (static, and the lightest
# start-up: RSS is what a plugin pays on every pod), installed with rustup when missing. Falls
# back to the host's glibc target, linked statically, where musl cannot be installed.
release_target() {
    local host musl
    host=$(rustc -vV | sed -n 's/^host: //p')
    musl=${host/-gnu/-musl}
    if [[ $musl != "$host" ]]; then
        if rustup target list --installed 2>/dev/null | grep -qx "$musl" ||
            rustup target add "$musl" >/dev/null 2>&1; then
            echo "$musl"
            return
        fi
        echo "warning: cannot install $musl; building static glibc binaries instead" >&2
    fi
    echo "$host"
}

# Builds static release binaries of the whole workspace; prints their directory. The explicit
# --target keeps crt-static away from build scripts and proc-macros.
build_release() {
    local target
    target=$(release_target)
    # C code in dependencies (ring, under etcd-client's TLS) needs musl's gcc wrapper.
    [[ $target != *-musl ]] || ensure_packages musl-gcc:musl-tools
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
        cargo build --release --locked --workspace --bins --target "$target" >&2
    echo "target/$target/release"
}
