#!/usr/bin/env bash
# Install the system tools fixproof needs, only those missing (idempotent).
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v gdb >/dev/null 2>&1 || need+=(gdb)
command -v bpftrace >/dev/null 2>&1 || need+=(bpftrace)
command -v git >/dev/null 2>&1 || need+=(git)
[ -x /usr/bin/time ] || need+=(time)  # peak memory in bench/run.py
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # headless browser for the HTML report test
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root to install ${need[*]}; run as root or install them yourself." >&2; exit 3; }
  SUDO="sudo"
fi
echo "setup: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
