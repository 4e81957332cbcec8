#!/usr/bin/env bash
# images.sh: `make images`. Builds the Docker images of docker/ — funcatron/tron,
# funcatron/runner, funcatron/frontend, and funcatron/rabbitmq and funcatron/redis for the
# compose file and the tests — tagged :latest (FUNCATRON_IMAGE_TAG changes it).
#
# 1. A Docker engine: when `docker info` fails and dockerd is installed, it starts one for the
#    build and stops it afterwards (the test starts its own the same way).
# 2. The base image debian:bookworm-slim: when it is missing and this is root with debootstrap,
#    scripts/docker-base.sh makes it (no registry needed); otherwise `docker build` pulls it.
# 3. The Go binaries, on the host: static (CGO_ENABLED=0), into build/docker/, which the
#    Dockerfiles copy in (no Go image needed, and Debian 12's Go is too old).
# 4. docker build, one image per Dockerfile; layers are cached, so a second run takes seconds.
# It may reach Debian's package mirror (debootstrap, apt-get in the builds): an install step.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${FUNCATRON_IMAGE_TAG:-latest}"
base=debian:bookworm-slim
started_dockerd=""

# stop_dockerd stops the dockerd this script started as the test does (docker/dockertest
# stopDockerd): SIGTERM, SIGKILL after 30 s.
stop_dockerd() {
	[ -n "$started_dockerd" ] || return 0
	kill "$started_dockerd" 2>/dev/null || true
	for _ in $(seq 300); do kill -0 "$started_dockerd" 2>/dev/null || return 0; sleep 0.1; done
	echo "images.sh: dockerd did not stop within 30 s of SIGTERM; killed" >&2
	kill -KILL "$started_dockerd" 2>/dev/null || true
	wait "$started_dockerd" 2>/dev/null || true
}
trap stop_dockerd EXIT

ensure_dockerd() {
	docker info >/dev/null 2>&1 && return 0
	command -v dockerd >/dev/null || { echo "images.sh: no Docker engine (apt-get install docker.io)" >&2; exit 1; }
	[ "$(id -u)" -eq 0 ] || { echo "images.sh: no Docker engine answers; start dockerd (as root)" >&2; exit 1; }
	mkdir -p build
	dockerd >build/dockerd.log 2>&1 &
	started_dockerd=$!
	for _ in $(seq 300); do
		docker info >/dev/null 2>&1 && return 0
		kill -0 "$started_dockerd" 2>/dev/null || break
		sleep 0.1
	done
	echo "images.sh: dockerd did not start (build/dockerd.log):" >&2
	tail -5 build/dockerd.log >&2
	exit 1
}

ensure_base() {
	docker image inspect "$base" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null; then
		bash scripts/docker-base.sh "$base"
	fi
}

build_binaries() {
	local version
	version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
	mkdir -p build/docker
	CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/funcatron/funcatron/internal/version.Version=$version" \
		-o build/docker/ ./cmd/tron ./cmd/runner ./cmd/funcatron
}

ensure_dockerd
ensure_base
build_binaries
for role in tron runner frontend rabbitmq redis; do
	start=$SECONDS
	# Its output only on failure (the 28.x client also warns that the legacy builder is old).
	if ! docker build -f "docker/$role.Dockerfile" -t "funcatron/$role:$tag" . >build/docker/build-$role.log 2>&1; then
		tail -30 "build/docker/build-$role.log" >&2
		exit 1
	fi
	size="$(docker image inspect -f '{{.Size}}' "funcatron/$role:$tag" | awk '{printf "%.0f MB", $1/1e6}')"
	echo "images.sh: funcatron/$role:$tag ($size, $((SECONDS - start)) s)"
done
