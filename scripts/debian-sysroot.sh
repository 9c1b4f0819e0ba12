#!/usr/bin/env bash
# Unpacks Debian bookworm's Node.js for another architecture into a folder: the `node` binary with every library
# it loads (a sysroot for `qemu-aarch64-static -L DIR DIR/usr/bin/node`) and libnode-dev's headers (the Node 18
# ABI that native addons are built against). Uses a private apt state under the folder, so the machine's
# dpkg architectures and package lists stay as they are. Idempotent: a second run within a day only checks the stamp;
# later it refreshes the package lists and unpacks again only when a package changed.
# Usage: scripts/debian-sysroot.sh DEBIAN_ARCH DIR      e.g. scripts/debian-sysroot.sh arm64 /tmp/xedge-release-build/sysroot-arm64
set -euo pipefail

arch="${1:?usage: debian-sysroot.sh DEBIAN_ARCH DIR}"
dir="${2:?usage: debian-sysroot.sh DEBIAN_ARCH DIR}"
case "$arch" in amd64|arm64|armhf) ;; *) echo "debian-sysroot: unsupported architecture $arch (amd64, arm64 or armhf)" >&2; exit 2 ;; esac

apt_dir="$dir.apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources" "$apt_dir/debs"
touch "$apt_dir/status"
# The machine's own Debian sources (deb.debian.org or its mirror), read for another architecture.
cp /etc/apt/sources.list.d/debian.sources "$apt_dir/sources/" 2>/dev/null || cp /etc/apt/sources.list "$apt_dir/sources/debian.list"
apt_options=(
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root" -qq
)

stamp="$dir/.xedge-sysroot"
# Package lists younger than a day and a complete unpack: nothing to do.
if [ -f "$stamp" ] && [ -x "$dir/usr/bin/node" ] && [ -f "$apt_dir/lists/updated" ] && [ -z "$(find "$apt_dir/lists/updated" -mmin +1440)" ]; then
  exit 0
fi
# A mirror in the middle of a sync serves mismatched index files: try again, then go on with the suites that
# did download (bookworm's own nodejs has the same ABI as bookworm-security's); a missing package fails below.
for attempt in 1 2 3; do
  if apt-get "${apt_options[@]}" update; then break; fi
  if [ "$attempt" -eq 3 ]; then
    echo "debian-sysroot: some $arch package lists did not download; using those that did" >&2
  else
    sleep $((attempt * 5))
  fi
done
touch "$apt_dir/lists/updated"

# nodejs and libnode-dev with everything they depend on (an empty dpkg status: nothing counts as installed).
mapfile -t packages < <(apt-cache "${apt_options[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances nodejs libnode-dev | grep -v -e '^ ' -e '^<' | sort -u)
wanted=$(apt-cache "${apt_options[@]}" policy "${packages[@]}" | awk '/^[^ ]/ { sub(":$", ""); name = $1 } /^  Candidate:/ { print name "=" $2 }')

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$dir/usr/bin/node" ]; then
  exit 0
fi

rm -rf "$dir" "$apt_dir/debs"
mkdir -p "$dir" "$apt_dir/debs"
mapfile -t wanted_packages <<< "$wanted"
(cd "$apt_dir/debs" && apt-get "${apt_options[@]}" download "${wanted_packages[@]}")
for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir"; done
echo "$wanted" > "$stamp"
echo "debian-sysroot: $arch Node $(sed -n 's/^nodejs=//p' "$stamp") in $dir (${#packages[@]} packages)"
