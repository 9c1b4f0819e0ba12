#!/usr/bin/env bash
# Runs every *.test.ts with node's test runner (tsx compiles TypeScript on the fly). Extra arguments are
# passed to node, e.g. --test-name-pattern.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find lib agent drivers firmware-sim test -name '*.test.ts' | sort)
exec node --import tsx --test --test-timeout=600000 "$@" "${files[@]}"
