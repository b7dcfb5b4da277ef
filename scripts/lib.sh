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
        echo "$0 needs root: it creates network namespaces (try: sudo $0)" >&2
        exit 1
    fi
}

# The binaries the suite ships (workspace bin targets).
SUITE_BINARIES=(loopback cnitool)

# The host target triple; release binaries are built for it explicitly so that static linking
# (crt-static) applies to our binaries but not to build scripts and proc-macros.
host_target() {
    rustc -vV | sed -n 's/^host: //p'
}

# Builds static release binaries of the whole workspace; prints their directory.
build_release() {
    local target
    target=$(host_target)
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --workspace --bins --target "$target" >&2
    echo "target/$target/release"
}
