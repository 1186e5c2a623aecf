# shellcheck shell=bash
# Shared by scripts/test and scripts/quickstart: installs the system packages the project
# needs at run and test time, only when they are missing. Sourced, not executed.

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing $* with apt-get" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

find_haproxy() {
  if [ -n "${HAPROXY_BIN:-}" ] && [ -x "$HAPROXY_BIN" ]; then echo "$HAPROXY_BIN"; return; fi
  command -v haproxy 2>/dev/null && return
  [ -x /usr/sbin/haproxy ] && { echo /usr/sbin/haproxy; return; }
  return 1
}

# haproxy_version BIN: the version HAProxy BIN reports (`2.6.12-1+deb12u4`), from the first
# line of `BIN -v`. The banner is captured whole before it is read: piping it into something
# that stops reading after one line (`head -n1`) lets HAProxy die of SIGPIPE on its later
# writes, which under `set -o pipefail` fails the caller at random (exit 141).
haproxy_version() {
  local banner
  banner=$("$1" -v) || return 1
  awk 'NR == 1 {print $3}' <<<"$banner"
}

ensure_haproxy() {
  if ! find_haproxy >/dev/null; then
    apt_install haproxy || { echo "error: could not install haproxy with apt-get" >&2; exit 1; }
  fi
  local bin version
  bin=$(find_haproxy) || { echo "error: haproxy is still not on PATH after installing" >&2; exit 1; }
  version=$(haproxy_version "$bin") || { echo "error: $bin -v failed" >&2; exit 1; }
  [ -n "$version" ] || { echo "error: $bin -v printed no version" >&2; exit 1; }
  case "$version" in
    1.*|2.[0-5].*|2.[0-5]) echo "error: $bin is HAProxy $version; 2.6 or newer is needed" >&2; exit 1 ;;
  esac
  export HAPROXY_BIN="$bin"
  echo "using HAProxy $version at $bin" >&2
}

# The agent links OpenSSL (the library HAProxy uses) to check TLS Secrets: building it needs
# the headers and pkg-config.
ensure_build_deps() {
  if ! { command -v pkg-config >/dev/null && pkg-config --exists openssl; }; then
    apt_install pkg-config libssl-dev || { echo "error: could not install libssl-dev" >&2; exit 1; }
  fi
}

ensure_test_deps() {
  ensure_build_deps
  ensure_haproxy
  command -v openssl >/dev/null || apt_install openssl
  # The kubectl tests (integration/tests/it/kubectl.rs, agent/tests/e2e/kubectl.rs) drive the
  # test API server with the real client, from the system packages: `kubectl` where an apt
  # source has it (Kubernetes' own repository; the tests were written against its 1.32),
  # else Debian 12's `kubernetes-client` (kubectl 1.20).
  command -v kubectl >/dev/null || apt_install kubectl || apt_install kubernetes-client ||
    { echo "error: could not install kubectl (or kubernetes-client) with apt-get" >&2; exit 1; }
}
