#!/usr/bin/env bash
# docker-base.sh: makes the base image the Dockerfiles name, debian:bookworm-slim, without a
# registry: `debootstrap --variant=minbase bookworm` into a temp dir (about a minute; it reaches
# Debian's package mirror, like apt-get), trimmed the way the public slim image is (no apt lists,
# docs, man pages or locales, and dpkg told to leave them out of later installs), then
# `docker import`. `make images` runs it only when the image is missing, so a machine that can
# pull the public image never needs it and one that cannot keeps the result as a cache.
#
#   scripts/docker-base.sh [IMAGE]      (default debian:bookworm-slim; needs root and debootstrap)
set -euo pipefail

image="${1:-debian:bookworm-slim}"
mirror="${FUNCATRON_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

[ "$(id -u)" -eq 0 ] || { echo "docker-base.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "docker-base.sh: apt-get install debootstrap" >&2; exit 1; }

root="$(mktemp -d /tmp/funcatron-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT

echo "docker-base.sh: debootstrap bookworm into $root" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
	{ tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# What the public image does: updates and security in the sources, no docs or caches.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
CFG
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
	"$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true

tar -C "$root" --numeric-owner -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' - "$image" >/dev/null
echo "docker-base.sh: made $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
