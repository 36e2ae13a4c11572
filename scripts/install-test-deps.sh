#!/usr/bin/env bash
# Installs the system tools the tests need: dockerd + docker CLI (Debian's docker.io, which
# brings containerd and runc), skopeo, a C compiler for the native SHA module (gcc), chromium for
# the web UI's browser tests, and CNCF Distribution (docker-registry) with htpasswd (apache2-utils):
# the pull-through cache's upstream.
# Idempotent: exits quickly when everything is already there.
# Usage: bash scripts/install-test-deps.sh [--with-distribution]
#   --with-distribution  kept for compatibility: docker-registry is now always installed.
set -euo pipefail

for arg in "$@"; do
  case "$arg" in
    --with-distribution) ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-test-deps: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# tool -> Debian package
declare -A pkg_of=([dockerd]=docker.io [docker]=docker.io [containerd]=docker.io [skopeo]=skopeo [cc]=gcc [chromium]=chromium [docker-registry]=docker-registry [htpasswd]=apache2-utils)
tools=(dockerd docker containerd skopeo cc chromium docker-registry htpasswd)

missing_tools=()
missing_pkgs=()
for t in "${tools[@]}"; do
  if ! command -v "$t" >/dev/null 2>&1 && [[ ! -x /usr/bin/$t && ! -x /usr/sbin/$t ]]; then
    missing_tools+=("$t")
    p=${pkg_of[$t]}
    [[ " ${missing_pkgs[*]-} " == *" $p "* ]] || missing_pkgs+=("$p")
  fi
done

# gcc alone (--no-install-recommends) has no C library headers.
[[ " ${missing_pkgs[*]-} " != *" gcc "* ]] || missing_pkgs+=(libc6-dev)

if [[ ${#missing_tools[@]} -eq 0 ]]; then
  echo "install-test-deps: all present (${tools[*]})" >&2
  exit 0
fi

is_debian=0
if [[ -r /etc/os-release ]] && grep -qiE '^(ID|ID_LIKE)=.*debian' /etc/os-release && command -v apt-get >/dev/null 2>&1; then
  is_debian=1
fi

if [[ $(id -u) -ne 0 || $is_debian -ne 1 ]]; then
  echo "install-test-deps: missing tools: ${missing_tools[*]}" >&2
  echo "  On Debian/Ubuntu (as root): apt-get update && apt-get install -y --no-install-recommends ${missing_pkgs[*]}" >&2
  echo "  Elsewhere: install Docker Engine (dockerd + docker CLI), skopeo, a C compiler and Chromium from your distribution." >&2
  echo "  The tests that need them skip (or fail when CI=true) without them." >&2
  exit 1
fi

echo "install-test-deps: missing ${missing_tools[*]}; installing Debian packages: ${missing_pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# policy-rc.d keeps the package's postinst from starting a system dockerd/containerd: the tests start their own.
created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap 'if [[ $created_policy == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >&2
echo "install-test-deps: installed ${missing_pkgs[*]}" >&2
