#!/bin/sh
# Debian packages the service and its tests need: venv support, Node.js (the test SMSC peer) and
# Chromium (browser tests). Installs what is missing when it can (root or sudo), else says what to do.
set -e
missing=""
python3 -c "import ensurepip, venv" 2>/dev/null || missing="$missing python3-venv"
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "Missing Debian packages:$missing. Install them with: apt-get install$missing" >&2; exit 1
fi
echo "Installing Debian packages:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
