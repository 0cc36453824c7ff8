#!/usr/bin/env bash
# Make sure a Docker Engine answers; start dockerd if none does (idempotent).
set -euo pipefail
TIMEOUT="${FIXPROOF_DOCKERD_TIMEOUT:-60}"
answers() { timeout 10 docker info >/dev/null 2>&1; }
if answers; then
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "setup: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST." >&2
  exit 3
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
log="${TMPDIR:-/tmp}/fixproof-dockerd.log"
echo "setup: starting dockerd (log: $log)"
$SUDO sh -c "nohup dockerd >'$log' 2>&1 &"
for _ in $(seq 1 "$TIMEOUT"); do
  if [ -S /var/run/docker.sock ] && answers; then
    exit 0
  fi
  sleep 1
done
echo "setup: dockerd did not answer within ${TIMEOUT}s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 3
