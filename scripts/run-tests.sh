#!/usr/bin/env bash
# Runs every *.test.ts with node's test runner (tsx compiles TypeScript on the fly). Extra arguments are
# passed to node, e.g. --test-name-pattern.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find lib agent drivers firmware-sim test -name '*.test.ts' | sort)
# Every temporary folder the tests make (configs, stores, server state) lives under one folder per run,
# removed at the end, so that repeated runs do not fill /tmp on a long-lived machine.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/xedge-tests-XXXXXX")
chmod 1777 "$run_tmp"
trap 'rm -rf "$run_tmp"' EXIT
TMPDIR="$run_tmp" node --import tsx --test --test-timeout=600000 "$@" "${files[@]}"
