#!/usr/bin/env bash
# Runs every *.test.ts with node's test runner (tsx compiles TypeScript on the fly). Extra arguments are
# passed to node, e.g. --test-name-pattern.
#
# Three groups, so that the suite fits a 2-core CI machine's time: the unit tests first and alone (some
# measure timing); then the tests that build releases or boot emulators — each busy on one core for minutes
# and sharing the release work folder, so they run one after another — in a second lane beside the
# integration tests, which mostly wait on servers and outages. The second lane's report follows the first's.
set -euo pipefail
cd "$(dirname "$0")/.."

heavy=(
  test/install/release.test.ts
  test/install/release-arm.test.ts
  test/install/release-vm.test.ts
  test/install/systemd-service.test.ts
  test/vm/real-devices.test.ts
)
mapfile -t units < <(find lib agent drivers firmware-sim -name '*.test.ts' | sort)
mapfile -t integration < <(find test -name '*.test.ts' | sort | grep -vxF -f <(printf '%s\n' "${heavy[@]}"))

# Every temporary folder the tests make (configs, stores, server state) lives under one folder per run,
# removed at the end, so that repeated runs do not fill /tmp on a long-lived machine.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/xedge-tests-XXXXXX")
chmod 1777 "$run_tmp"
heavy_log=$(mktemp "${TMPDIR:-/tmp}/xedge-tests-heavy-XXXXXX.log")
trap 'rm -rf "$run_tmp" "$heavy_log"' EXIT
export TMPDIR="$run_tmp"
run() { node --import tsx --test --test-timeout=600000 "$@"; }

units_status=0
run "$@" "${units[@]}" || units_status=$?

run "$@" "${heavy[@]}" >"$heavy_log" 2>&1 &
heavy_pid=$!
integration_status=0
run "$@" "${integration[@]}" || integration_status=$?
heavy_status=0
wait "$heavy_pid" || heavy_status=$?
cat "$heavy_log"

echo "# groups: units exit $units_status, integration exit $integration_status, releases and emulators exit $heavy_status"
[ "$units_status" -eq 0 ] && [ "$integration_status" -eq 0 ] && [ "$heavy_status" -eq 0 ]
