#!/usr/bin/env bash
# Installs the system packages the tests need, when missing (Debian/Ubuntu, as root):
#   nats-server           the tlcp-ruststream and `tlcp bridge` tests start a real one
#   pkg-config libssl-dev bench/lightstreamer-rs (the lightstreamer-rs contender of
#                         `tlcp-bench compare --quick`) links OpenSSL through native-tls
# Sourced by .ci/test and .ci/run. Without apt-get or root it says what is missing and
# leaves it to the tests to fail with their own message.
# Debian installs nats-server in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin"
_tlcp_missing=()
command -v nats-server >/dev/null 2>&1 || _tlcp_missing+=(nats-server)
pkg-config --exists openssl 2>/dev/null || _tlcp_missing+=(pkg-config libssl-dev)
if ((${#_tlcp_missing[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${_tlcp_missing[@]}" >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${_tlcp_missing[@]}" >/dev/null; }
  else
    echo "warning: missing system packages: ${_tlcp_missing[*]} (install them with apt-get as root)" >&2
  fi
fi
unset _tlcp_missing
