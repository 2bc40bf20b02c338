#!/usr/bin/env bash
# Installs what the browser tests need, idempotently: Debian's chromium
# (/usr/bin/chromium; Playwright's own browser download does not work
# here) and playwright-core from web/tests/package-lock.json (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "browser-setup: $* missing; install it as root (apt-get install -y $*)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
[ -x /usr/bin/chromium ] || apt_install chromium
command -v npm >/dev/null || apt_install nodejs npm
want=$(node -p 'require("./web/tests/package-lock.json").packages["node_modules/playwright-core"].version')
have=$(node -p 'try { require("./web/tests/node_modules/playwright-core/package.json").version } catch (_) { "" }')
if [ "$want" != "$have" ]; then
  (cd web/tests && npm ci --no-audit --no-fund --ignore-scripts)
fi
echo "browser-setup: $(/usr/bin/chromium --version 2>/dev/null | head -1), playwright-core $want"
