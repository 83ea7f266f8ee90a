#!/usr/bin/env bash
# Installs Debian's chromium for tests/browser (driven by playwright-core; no browser download).
# Idempotent: does nothing when /usr/bin/chromium is already there. Called by .ci/run.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "browser-setup: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser-setup: no apt-get here; install chromium or set CHROMIUM_PATH (tests/browser fail under CI without it)" >&2
  exit 0
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium
echo "browser-setup: $(/usr/bin/chromium --version)"
