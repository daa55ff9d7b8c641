#!/bin/sh
# Install what a fresh Debian 12 machine lacks to build and test ggswap. Idempotent and quick
# when everything is present: it asks dpkg first and runs apt-get only for what is missing.
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential pkg-config clang libuv1-dev node-llhttp libjansson-dev libfyaml-dev
      libcriterion-dev nodejs npm chromium patchelf wrk nginx-light ca-certificates"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# Node packages for the black-box and browser tests, pinned by tests/js/package-lock.json.
if [ -f tests/js/package-lock.json ]; then
  if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules/.package-lock.json ]; then
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
