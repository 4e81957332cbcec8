#!/usr/bin/env bash
# deps.sh: make sure the Debian packages Funcatron's tests and `make run` need are installed.
# As root on Debian/Ubuntu it installs what is missing; otherwise it names the missing
# packages and exits non-zero. Services are never started here: tests and `make run` start
# their own private instances on loopback.
set -euo pipefail

# python3: the hello-py sample bundle runs on /usr/bin/python3.
# chromium: the Tron's dashboard test drives headless Chromium (tron/dashboard_test.go).
# docker.io, docker-compose, debootstrap: `make images` and the test of docker/ (docker/README.md).
packages=(rabbitmq-server redis-server nginx libnginx-mod-http-lua lua-cjson lua-busted wrk python3 chromium
	docker.io docker-compose debootstrap)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
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
