#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need (Debian 12). Idempotent:
# packages already present are not reinstalled, and apt-get update runs only when needed.
set -euo pipefail

# openssl: SM2 interoperability tests. libclang-dev, librocksdb-dev, protobuf-compiler:
# the node (RocksDB linked from Debian, tonic's protoc). postgresql: the PostgreSQL adapter's
# tests start a throwaway server from its binaries (/usr/lib/postgresql/*/bin). chromium,
# chromium-driver: the web console's end-to-end tests drive headless Chromium via WebDriver;
# fonts-wqy-microhei: a CJK font, so that the test's screenshots show the Chinese pages.
PACKAGES=(openssl libclang-dev librocksdb-dev protobuf-compiler postgresql chromium chromium-driver fonts-wqy-microhei)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
