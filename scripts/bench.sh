#!/usr/bin/env bash
# bench.sh: `make bench` (spec/testing.md "Benchmarks"). Runs the Go program in bench/ with the
# binaries in bin/ and the samples in build/bundles (`make bench` builds both first): it starts
# its own servers on loopback, prints its tables and writes bench/results/latest.json and
# bench/results/<date>-<commit>.json. `BENCH_QUICK=1 make bench` is a short run that checks
# the bench works (figures to bench/results/quick.json only). Extra arguments go to the
# program, e.g. `bash scripts/bench.sh --duration 5s` (see -h).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench --bin bin --samples build/bundles "$@"
