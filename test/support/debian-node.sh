#!/bin/sh
# Runs Debian bookworm's Node.js for this machine's architecture, unpacked by scripts/debian-sysroot.sh, without
# installing it: the sysroot's libraries through LD_LIBRARY_PATH (libnode, libuv, ICU, OpenSSL; glibc stays this
# machine's, also bookworm's) and, in a private mount namespace, the sysroot's /usr/share over this machine's,
# because Debian's node loads some of its builtins from /usr/share/nodejs. Nothing changes outside that
# namespace. Needs root (a mount). Works inside the test VM too (test/support/vm.ts), whose root is this machine's.
# Usage: debian-node.sh SYSROOT [node arguments…]
set -eu
sysroot="$1"
shift
for libraries in "$sysroot"/usr/lib/*-linux-gnu; do LD_LIBRARY_PATH="$libraries"; done
export LD_LIBRARY_PATH
# shellcheck disable=SC2016 # expanded by the inner sh
exec unshare --mount --propagation private sh -c 'mount --bind "$0/usr/share" /usr/share && exec "$0/usr/bin/node" "$@"' "$sysroot" "$@"
