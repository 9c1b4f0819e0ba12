#!/usr/bin/env bash
# Builds (once) and prints the paths of the test VM's kernel (an uncompressed vmlinux) and initramfs, one a line.
# Everything comes from Debian: the current amd64 kernel ABI that the linux-image-amd64 metapackage depends on,
# its headers and linux-source-6.1, fetched with `apt-get download` and unpacked with `dpkg -x` into the cache,
# so the host's own kernel is never touched. gpio-sim and irq_sim (not enabled in Debian's config) are built
# out of tree from the source package against the headers; they are GPL kernel sources and stay in the cache.
# Cache: node_modules/.cache/xedge-vm/<kernel release>-<package version>-<hash of this script>/; the initramfs
# inside it is keyed by the hash of scripts/vm-init.sh. A second run only prints the path.
# Usage: scripts/vm-image.sh  (XEDGE_VM_CACHE overrides the cache root)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache_root="${XEDGE_VM_CACHE:-$repo/node_modules/.cache/xedge-vm}"
mkdir -p "$cache_root"
# Several worktrees share node_modules: one build at a time.
exec 9>"$cache_root/.lock"
flock 9

log() { echo "vm-image: $*" >&2; }

# Modules the init script loads, in an order that satisfies their dependencies (checked below with modprobe).
guest_modules=(virtio_pci 9pnet_virtio 9p configfs i2c-dev i2c-i801 i2c-stub virtio_net)

# The metapackage pins the current ABI package and its version: "Depends: linux-image-6.1.0-NN-amd64 (= V)".
kernel_abi() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends: linux-image-\([0-9][^ ]*\) (= \([^)]*\)).*/\1 \2/p' | head -1
}

abi=$(kernel_abi)
if [ -z "$abi" ]; then
  log "no package lists yet: apt-get update"
  apt-get update -qq >&2
  abi=$(kernel_abi)
fi
[ -n "$abi" ] || { log "cannot resolve the kernel ABI from linux-image-amd64"; exit 1; }
read -r release version <<<"$abi"
image_package="linux-image-$release"
script_hash=$(sha256sum "$0" | cut -c1-12)
kernel_dir="$cache_root/$release-$version-$script_hash"
init_hash=$(sha256sum "$repo/scripts/vm-init.sh" | cut -c1-12)
initramfs="$kernel_dir/initramfs-$init_hash.gz"

if [ ! -f "$kernel_dir/.complete" ]; then
  log "building $kernel_dir (kernel $release, Debian $version)"
  rm -rf "$kernel_dir"
  work=$(mktemp -d "$cache_root/.work-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    fetch() {
      # A mirror that dropped this version since the lists were read: refresh them once and retry.
      apt-get download "$@" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$@" >/dev/null; }
    }
    log "apt-get download (kernel, headers, kbuild, source)"
    fetch "$image_package=$version" "linux-headers-$release=$version" "linux-headers-${release%-amd64}-common=$version" \
      "linux-kbuild-6.1=$version" "linux-source-6.1=$version"
    for deb in *.deb; do dpkg -x "$deb" root; done
    rm -f ./*.deb

    mkdir -p "$kernel_dir/modules"
    # qemu boots the uncompressed ELF kernel directly (PVH entry): that skips ~6 s of decompressing under TCG.
    vmlinuz="root/boot/vmlinuz-$release"
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
    tail -c +$((offset + 1)) "$vmlinuz" >kernel.xz
    xz -dc --single-stream kernel.xz >"$kernel_dir/vmlinux"
    [ "$(head -c 4 "$kernel_dir/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || { log "no xz-compressed ELF kernel in $vmlinuz"; exit 1; }
    depmod -b "$PWD/root" "$release"
    : >"$kernel_dir/modules/order"
    for module in "${guest_modules[@]}"; do
      modprobe -d "$PWD/root" -S "$release" --show-depends "$module" | while read -r _ path _; do
        name=$(basename "$path")
        grep -qx "$name" "$kernel_dir/modules/order" && continue
        cp "$path" "$kernel_dir/modules/$name"
        echo "$name" >>"$kernel_dir/modules/order"
      done
    done

    log "building gpio-sim and irq_sim against the headers"
    mkdir build
    tar -xJf root/usr/src/linux-source-6.1.tar.xz -C build --strip-components=3 \
      linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c
    # irq_sim as a module: irq_to_desc() is not exported to modules, and a module needs a licence.
    sed -i 's/handle_simple_irq(irq_to_desc(irqnum))/generic_handle_irq(irqnum)/' build/irq_sim.c
    grep -q 'generic_handle_irq(irqnum)' build/irq_sim.c || { log "irq_sim.c changed upstream: the patch no longer applies"; exit 1; }
    echo 'MODULE_LICENSE("GPL");' >>build/irq_sim.c
    echo 'obj-m := irq_sim.o gpio-sim.o' >build/Kbuild
    headers="$PWD/root/usr/src/linux-headers-$release"
    # The headers' Makefile includes the common part by its installed path; point it into the cache.
    sed -i "s|^include /usr/src/|include $PWD/root/usr/src/|" "$headers/Makefile"
    make -s -C "$headers" M="$PWD/build" modules >&2
    cp build/irq_sim.ko build/gpio-sim.ko "$kernel_dir/modules/"
    printf '%s\n' irq_sim.ko gpio-sim.ko >>"$kernel_dir/modules/order"
  )
  rm -rf "$work"
  trap - EXIT
  touch "$kernel_dir/.complete"
fi

if [ ! -f "$initramfs" ]; then
  log "packing the initramfs"
  staging=$(mktemp -d "$cache_root/.initramfs-XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  mkdir -p "$staging"/{bin,dev,proc,sys,host,run,lib/modules}
  cp /bin/busybox "$staging/bin/busybox"
  cp "$repo/scripts/vm-init.sh" "$staging/init"
  chmod 755 "$staging/init"
  cp "$kernel_dir"/modules/* "$staging/lib/modules/"
  (cd "$staging" && find . | cpio -o -H newc --quiet | gzip -1) >"$initramfs.tmp"
  mv "$initramfs.tmp" "$initramfs"
  rm -rf "$staging"
  trap - EXIT
fi

echo "$kernel_dir/vmlinux"
echo "$initramfs"
