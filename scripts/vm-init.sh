#!/bin/busybox sh
# shellcheck shell=dash
# /init of the test VM (busybox in an initramfs; test/support/vm.ts boots it). Loads the modules, sets up the
# simulated devices the host asked for in $xedge_run/config (i2c-stub on bus 1, gpio-sim chips), mounts the
# host's root read-only over virtio-9p at /host and runs $xedge_run/command chrooted there, so the repository
# is at the same path as on the host. The command's exit code goes to $xedge_run/exit-code.
# $xedge_run comes from the kernel command line (the kernel hands unknown name=value pairs to init's environment).
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
  echo "vm: $*"
  reboot -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

[ -n "$xedge_run" ] || fail "no xedge_run= on the kernel command line"
mkdir -p /run/xedge
# Every module in dependency order, except i2c-stub: its addresses come from the run folder's config.
while read -r module; do
  case "$module" in
    i2c-stub.ko) ;;
    *) insmod "/lib/modules/$module" || fail "insmod $module failed" ;;
  esac
done </lib/modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 run /run/xedge || fail "cannot mount the run folder"
# shellcheck source=/dev/null
. /run/xedge/config

# i2c-stub takes the next free bus number: the ICH9 SMBus (i2c-i801, loaded above) holds bus 0, so the stub
# becomes bus 1, the number of the Pi's header bus.
insmod /lib/modules/i2c-stub.ko "chip_addr=$I2C_ADDRESSES" || fail "insmod i2c-stub failed"
[ "$(cat "/sys/bus/i2c/devices/i2c-$I2C_BUS/name" 2>/dev/null)" = "SMBus stub driver" ] ||
  fail "i2c-stub did not become bus $I2C_BUS: $(cat /sys/bus/i2c/devices/i2c-*/name | tr '\n' ' ')"

mount -t configfs configfs /sys/kernel/config
for chip in $GPIO_CHIPS; do
  # name:label:lines
  name=${chip%%:*}
  rest=${chip#*:}
  label=${rest%%:*}
  lines=${rest#*:}
  dir=/sys/kernel/config/gpio-sim/$name
  mkdir "$dir" "$dir/bank0" || fail "gpio-sim: cannot create $name"
  echo "$label" >"$dir/bank0/label"
  echo "$lines" >"$dir/bank0/num_lines"
  echo 1 >"$dir/live" || fail "gpio-sim: $name did not go live"
done

ip link set lo up
if ip link set eth0 up 2>/dev/null; then
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
fi

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host || fail "cannot mount the host's root"
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs shm /host/dev/shm
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t configfs configfs /host/sys/kernel/config
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
mkdir -p "/host$xedge_run"
mount --bind /run/xedge "/host$xedge_run"

echo "vm: devices up in $(cut -d' ' -f1 /proc/uptime) s"
chroot /host /bin/sh "$xedge_run/command"
echo $? >/run/xedge/exit-code
sync
reboot -f
