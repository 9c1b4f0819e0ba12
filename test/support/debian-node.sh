#!/bin/sh
# Runs Debian bookworm's Node.js for this machine's architecture, unpacked by scripts/debian-sysroot.sh, as if
# `apt install nodejs` had installed it: in a private mount namespace the sysroot's /usr lies over this machine's
# (overlayfs), so /usr/bin/node is Debian's and finds its libraries and the builtins it loads from
# /usr/share/nodejs. Nothing changes outside that namespace. Needs root (mounts).
# Usage: debian-node.sh SYSROOT [node arguments…]
set -eu
sysroot="$1"
shift
exec unshare --mount --propagation private sh -c 'mount -t overlay xedge-debian-node -o "lowerdir=$0/usr:/usr" /usr && exec /usr/bin/node "$@"' "$sysroot" "$@"
