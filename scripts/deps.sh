#!/bin/sh
# Install what a fresh Debian 12 machine lacks to build and test ggswap. Idempotent and quick
# when everything is present: it asks dpkg first and runs apt-get only for what is missing.
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential pkg-config clang libclang-rt-14-dev libuv1-dev node-llhttp libjansson-dev libfyaml-dev
      libcriterion-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev sqlite3 openssl chromium patchelf wrk nginx-light ca-certificates"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# node and npm count as present whoever installed them: NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package, so asking dpkg for "npm" would break such machines.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || echo "deps: warning: node $(node --version 2>/dev/null) is older than 20, which playwright-core and the tests need; install Node.js 20 or later (e.g. from NodeSource)" >&2
# Node packages for the black-box and browser tests, pinned by tests/js/package-lock.json.
if [ -f tests/js/package-lock.json ]; then
  stamp=tests/js/node_modules/.package-lock.json  # written by npm ci/install
  if [ ! -f "$stamp" ] || [ -n "$(find tests/js/package-lock.json -newer "$stamp")" ]; then
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
