#!/usr/bin/env bash
# Installs what `npm test` or `npm run demo` needs and is missing: node_modules (npm ci when absent or stale
# against package-lock.json) and Debian packages (apt-get when root; otherwise prints the one command to run).
# Usage: scripts/ensure.sh test|demo
set -euo pipefail
cd "$(dirname "$0")/.."

purpose="${1:-test}"
case "$purpose" in
  test) packages=(prosody lua-sec lua-dbi-sqlite3 ejabberd erlang-p1-sqlite3 socat openssl python3-slixmpp python3-prometheus-client sqlite3 profanity tmux systemd-container shellcheck g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user-static openjdk-17-jdk-headless libjxmpp-java libminidns-java libxpp3-java qemu-system-x86 busybox-static cpio kmod gcc-12 libc6-dev e2fsprogs faketime make libelf1 xz-utils chromium libnss3-tools) ;;
  demo) packages=(prosody lua-sec lua-dbi-sqlite3 socat openssl) ;;
  *) echo "usage: scripts/ensure.sh test|demo" >&2; exit 2 ;;
esac

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "xedge needs Node.js 20 or newer (found $(node --version))" >&2
  exit 1
fi

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.xedge-lock.sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "ensure: installing node modules (npm ci)…"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "ensure: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "xedge needs these Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
