#!/usr/bin/env bash
# System packages kpiboard needs on a Debian/Ubuntu machine: Python >= 3.11 with venv and
# headers, and Debian's chromium, which prints reports to PDF (driven by Playwright through its
# executable path: kpiboard never downloads a browser of its own). Installs only what is
# missing; needs root or sudo for that.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
need=()

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    need+=(python3 python3-venv python3-dev)
elif ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "kpiboard needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." >&2
    echo "Set PYTHON=/path/to/python3.11 (or newer) and run make again." >&2
    exit 1
elif ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need+=(python3-venv)
fi
command -v make >/dev/null 2>&1 || need+=(make)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# a font with the glyphs reports print (en and em dashes, arrows, currency signs)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

if [ "${#need[@]}" -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing system packages (${need[*]}), and this is not a Debian/Ubuntu machine: install them by hand." >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "Installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
