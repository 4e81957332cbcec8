#!/usr/bin/env bash
# build-samples.sh: build every sample bundle in bundles/samples/ into OUTDIR/<name>.zip.
#
#   scripts/build-samples.sh [OUTDIR]      (default build/bundles)
#
# A sample is a directory holding a manifest. Its files are copied as they are, except
# src/: each src/<cmd>/ is a Go main package, built with CGO_ENABLED=0 into bin/<cmd>.
# The zips are reproducible: the same sources and Go release give the same bytes and sha
# (bundles.Pack fixes order, timestamps and modes; the Go build is -trimpath, without
# build id or VCS stamp). Prints "<sha> <zip>" per bundle.
set -euo pipefail

out=${1:-build/bundles}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

go build -o "$stage/packdir" ./bundles/internal/packdir

for sample in bundles/samples/*/; do
	sample=${sample%/}
	name=$(basename "$sample")
	if [ ! -e "$sample/funcatron.yaml" ] && [ ! -e "$sample/funcatron.yml" ] && [ ! -e "$sample/funcatron.json" ]; then
		continue
	fi
	dst="$stage/$name"
	mkdir -p "$dst"
	cp -R "$sample/." "$dst/"
	rm -rf "$dst/src"
	if [ -d "$sample/src" ]; then
		for cmd in "$sample"/src/*/; do
			cmd=${cmd%/}
			CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
				-o "$dst/bin/$(basename "$cmd")" "./$cmd"
		done
	fi
	"$stage/packdir" "$dst" "$out/$name.zip"
done
