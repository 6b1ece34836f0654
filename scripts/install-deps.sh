#!/usr/bin/env bash
# Install, from Debian's archive, whatever fauna_fdw needs to build, test and
# run its demo that this machine does not have yet.  Safe to run again: it
# only calls apt-get when a package is missing.  Run as root (or with sudo).
set -euo pipefail

packages=(
	make gcc pkg-config curl ca-certificates valgrind
	openssl			# t/007_tls.pl makes a throwaway CA with it
	python3
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libcurl4-openssl-dev libjson-c-dev
	libipc-run-perl
	clang libclang-rt-14-dev	# libFuzzer and sanitizers for fuzz/
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# Node.js is only needed for the driver cross-checks; any node >= 18 will do,
# so keep one that is already on the PATH instead of pulling Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root or with sudo" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all dependencies present"
