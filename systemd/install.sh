#!/usr/bin/env bash
# Installs xedge from an unpacked release (the folder holding this script) as a systemd service, or removes it.
#
#   sudo ./install.sh                     install or upgrade; enable, and start (or restart) the service
#   sudo ./install.sh --no-start          the same without starting it
#   sudo ./install.sh --uninstall         remove the program and the unit; keep /etc/xedge and /var/lib/xedge
#   sudo ./install.sh --uninstall --purge also remove /etc/xedge (config, password) and /var/lib/xedge (readings)
#   DESTDIR=/path ./install.sh            into a staging root (an image being built): files, user and folders
#                                         only; no systemctl
#
# What goes where: /opt/xedge (program), /usr/local/bin/xedge (command), /usr/lib/systemd/system/xedge.service,
# /usr/lib/sysusers.d/xedge.conf (user xedge), /usr/lib/tmpfiles.d/xedge.conf (folders), /etc/xedge/xedge.yaml
# (from xedge.example.yaml only when absent; never overwritten) and /etc/xedge/password. The unit lives in
# /usr/lib like a packaged one, so local changes go in /etc/systemd/system/xedge.service.d/ (systemctl edit
# xedge) and survive upgrades. Running it again changes nothing; the user is kept on uninstall, as Debian does.
set -euo pipefail

release=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root="${DESTDIR:-}"
root="${root%/}"
prefix=/opt/xedge
unit=/usr/lib/systemd/system/xedge.service
sysusers=/usr/lib/sysusers.d/xedge.conf
tmpfiles=/usr/lib/tmpfiles.d/xedge.conf
command_link=/usr/local/bin/xedge
config_dir=/etc/xedge
state_dir=/var/lib/xedge

action=install
start=yes
purge=no
for argument in "$@"; do
  case "$argument" in
    --uninstall) action=uninstall ;;
    --purge) purge=yes ;;
    --no-start) start=no ;;
    -h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $argument (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$purge" = yes ] && [ "$action" != uninstall ]; then
  echo "install.sh: --purge goes with --uninstall" >&2
  exit 2
fi

say() { printf 'xedge: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# The node on PATH is the one the service runs: refuse one the release does not support, in one line, before
# anything else (MANIFEST's node_versions: the oldest release accepted of each supported major).
check_node() {
  local found="none on PATH" minimum wanted=() major minor patch need_minor need_patch
  if command -v node >/dev/null; then found="$(node --version 2>/dev/null || echo "a node that does not run") at $(command -v node)"; fi
  read -r -a wanted <<< "$(sed -n 's/^node_versions=//p' "$release/MANIFEST")"
  if [[ $found =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+) ]]; then
    major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
    for minimum in "${wanted[@]}"; do
      IFS=. read -r _ need_minor need_patch <<< "$minimum"
      if [ "${minimum%%.*}" = "$major" ] && { [ "$minor" -gt "$need_minor" ] || { [ "$minor" -eq "$need_minor" ] && [ "$patch" -ge "$need_patch" ]; }; }; then
        return 0
      fi
    done
  fi
  local names=() needed
  for minimum in "${wanted[@]}"; do
    if [[ $minimum == *.0.0 ]]; then names+=("${minimum%%.*}"); else names+=("${minimum%.0} or later ${minimum%%.*}.x"); fi
  done
  needed=$(IFS=,; echo "${names[*]}")
  needed="${needed%,*} or ${needed##*,}"
  die "found Node.js $found; xedge needs Node.js ${needed//,/, }: on Raspberry Pi OS, sudo apt update && sudo apt install nodejs (bookworm has 18, trixie 20)"
}

if [ "$action" = install ] && [ -z "$root" ]; then
  check_node
fi

if [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0 $*)"
fi

# systemctl only on the running system, and only when systemd is its init (not in a chroot or container build).
systemd_running() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

# The group's numeric id in the target root's /etc/group (the host's names mean nothing in a staging root).
group_id() { grep "^$1:" "$root/etc/group" | cut -d: -f3; }

install_program() {
  local file
  for file in lib/xedge.mjs bin/xedge systemd/xedge.service systemd/xedge.sysusers.conf systemd/xedge.tmpfiles.conf xedge.example.yaml; do
    [ -e "$release/$file" ] || die "$release/$file is missing: run install.sh from the unpacked release folder"
  done

  # The program: copied beside the old one, then swapped in, so a running agent never sees half a tree.
  local staging="$root$prefix.new"
  rm -rf "$staging"
  mkdir -p "$staging"
  for file in install.sh lib bin docs console drivers examples README.md MANIFEST xedge.example.yaml systemd; do
    if [ -e "$release/$file" ]; then cp -R "$release/$file" "$staging/"; fi
  done
  chown -hR 0:0 "$staging"
  chmod -R u=rwX,go=rX "$staging"
  chmod 0755 "$staging/bin/xedge"
  if [ -e "$root$prefix" ]; then
    rm -rf "$root$prefix.old"
    mv "$root$prefix" "$root$prefix.old"
  fi
  mkdir -p "$(dirname "$root$prefix")"
  mv "$staging" "$root$prefix"
  rm -rf "$root$prefix.old"

  mkdir -p "$root$(dirname "$command_link")"
  ln -sfn "$prefix/bin/xedge" "$root$command_link"

  install -D -m 0644 -o 0 -g 0 "$release/systemd/xedge.service" "$root$unit"
  install -D -m 0644 -o 0 -g 0 "$release/systemd/xedge.sysusers.conf" "$root$sysusers"
  install -D -m 0644 -o 0 -g 0 "$release/systemd/xedge.tmpfiles.conf" "$root$tmpfiles"

  # The user and groups, then /etc/xedge and /var/lib/xedge with their owners and modes.
  mkdir -p "$root/etc"
  if [ -n "$root" ]; then
    systemd-sysusers --root="$root" "$root$sysusers"
    systemd-tmpfiles --root="$root" --create "$root$tmpfiles"
  else
    systemd-sysusers "$sysusers"
    systemd-tmpfiles --create "$tmpfiles"
  fi
  local gid
  gid=$(group_id xedge)
  [ -n "$gid" ] || die "systemd-sysusers did not create the group xedge in $root/etc/group"

  # Config and password: the technician's files, created once and never overwritten.
  if [ ! -e "$root$config_dir/xedge.yaml" ]; then
    install -m 0640 -o 0 -g "$gid" "$release/xedge.example.yaml" "$root$config_dir/xedge.yaml"
    say "created $config_dir/xedge.yaml from the example: edit it (jid, sensors), then run: xedge check --config $config_dir/xedge.yaml"
  fi
  if [ ! -e "$root$config_dir/password" ]; then
    (umask 0137 && printf 'change-me\n' > "$root$config_dir/password")
    chown "0:$gid" "$root$config_dir/password"
    say "created $config_dir/password: put the XMPP account's password in it"
  fi

  if [ -n "$root" ]; then
    say "installed into $root; enable the service in that root with: systemctl --root=$root enable xedge.service"
    return
  fi
  if ! systemd_running; then
    systemctl enable xedge.service
    say "installed and enabled; systemd is not running here, so the service starts at the next boot"
    return
  fi
  systemctl daemon-reload
  systemctl enable xedge.service
  if [ "$start" = no ]; then
    say "installed and enabled; start it with: systemctl start xedge"
  elif cmp -s "$config_dir/xedge.yaml" "$prefix/xedge.example.yaml"; then
    say "installed and enabled, not started: $config_dir/xedge.yaml is still the example. Edit it, then: systemctl start xedge"
  elif systemctl is-active --quiet xedge.service; then
    systemctl restart xedge.service
    say "upgraded and restarted: systemctl status xedge"
  else
    systemctl start xedge.service
    say "installed and started: systemctl status xedge; journalctl -u xedge -f"
  fi
}

uninstall_program() {
  if systemd_running; then
    systemctl disable --now xedge.service 2>/dev/null || true
  elif [ -z "$root" ]; then
    systemctl disable xedge.service 2>/dev/null || true
  fi
  rm -f "$root$unit" "$root$sysusers" "$root$tmpfiles"
  if [ -L "$root$command_link" ] && [ "$(readlink "$root$command_link")" = "$prefix/bin/xedge" ]; then
    rm -f "$root$command_link"
  fi
  rm -rf "$root$prefix" "$root$prefix.new" "$root$prefix.old"
  if systemd_running; then systemctl daemon-reload; fi
  if [ "$purge" = yes ]; then
    rm -rf "$root$config_dir" "$root$state_dir"
    say "removed xedge, its config ($config_dir) and its readings ($state_dir); the user xedge stays"
  else
    say "removed xedge; kept the config ($config_dir) and the readings ($state_dir): --uninstall --purge removes them"
  fi
}

if [ "$action" = install ]; then install_program; else uninstall_program; fi
