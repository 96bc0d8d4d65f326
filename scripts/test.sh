#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run the whole suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "error: Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }

# The browser tests drive a real headless Chromium (Playwright never downloads one here): find it, or install
# Debian's package when we may, or stop with a message saying what to do.
find_chromium() {
  if [ -n "${CHATSVC_CHROMIUM:-}" ]; then command -v "$CHATSVC_CHROMIUM"; return; fi
  command -v chromium || command -v chromium-browser || command -v google-chrome
}
install_chromium() {
  local sudo=""
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" -ne 0 ]; then sudo -n true 2>/dev/null || return 1; sudo="sudo -n"; fi
  echo "Installing Chromium for the browser tests (apt-get install chromium)..." >&2
  local apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y"
  $apt install chromium || { $apt update && $apt install chromium; }
}
if ! CHROMIUM=$(find_chromium) && [ -z "${CHATSVC_CHROMIUM:-}" ]; then
  install_chromium >&2 && CHROMIUM=$(find_chromium) || true
fi
if [ -z "${CHROMIUM:-}" ]; then
  echo "error: the browser tests need Chromium${CHATSVC_CHROMIUM:+ (CHATSVC_CHROMIUM=$CHATSVC_CHROMIUM is not an executable)}." >&2
  echo "  Install it (Debian/Ubuntu: sudo apt-get install chromium), or set CHATSVC_CHROMIUM=/path/to/chrome." >&2
  exit 1
fi
export CHATSVC_CHROMIUM=$CHROMIUM

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,postgres,redis]'

exec .venv/bin/python -m pytest "$@"
