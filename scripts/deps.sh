#!/usr/bin/env bash
# deps.sh: make sure the Debian packages Funcatron's tests and `make run` need are installed.
# As root on Debian/Ubuntu it installs what is missing; otherwise it names the missing
# packages and exits non-zero. Services are never started here: tests and `make run` start
# their own private instances on loopback.
#
#   scripts/deps.sh          every package below (make test, make run, make bench)
#   scripts/deps.sh images   only what scripts/images.sh runs (make images), so a user with
#                            just Docker and Go can build the images
set -euo pipefail

# python3: the hello-py sample bundle runs on /usr/bin/python3.
# chromium: the Tron's dashboard test drives headless Chromium (tron/dashboard_test.go).
# docker.io, docker-compose, debootstrap: `make images` and the test of docker/ (docker/README.md).
packages=(rabbitmq-server redis-server nginx libnginx-mod-http-lua lua-cjson lua-busted wrk python3 chromium
	docker.io docker-compose debootstrap)

# missing_packages prints the packages of $packages that dpkg does not have installed.
missing_packages() {
	for p in "${packages[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			echo "$p"
		fi
	done
}

# missing_for_images prints the packages images.sh lacks. It looks for commands, not
# packages, so Docker's own packages (docker-ce) or Docker Desktop serve as well as docker.io:
# a docker client always; as root (images.sh starts dockerd and makes the base image only
# then) dockerd when no engine answers and debootstrap when the base image is not there. Not
# root, images.sh needs an engine that answers and pulls the base image.
missing_for_images() {
	command -v docker >/dev/null || echo docker.io
	[ "$(id -u)" -eq 0 ] || return 0
	docker info >/dev/null 2>&1 || command -v dockerd >/dev/null || echo docker.io
	docker image inspect debian:bookworm-slim >/dev/null 2>&1 || command -v debootstrap >/dev/null || echo debootstrap
}

case "${1:-}" in
"") mapfile -t missing < <(missing_packages) ;;
images) mapfile -t missing < <(missing_for_images | sort -u) ;;
*) echo "usage: deps.sh [images]" >&2; exit 2 ;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "funcatron: missing Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "funcatron: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A package list older than a day may name versions the mirror no longer has.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
	apt-get update -q >&2
fi
# policy-rc.d keeps Debian's postinst scripts from starting system-wide services:
# we never use them, and a system RabbitMQ/nginx would hold the default ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
