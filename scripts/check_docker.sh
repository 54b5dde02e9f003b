#!/usr/bin/env bash
# Check docker/ with the real tools, as far as this machine allows:
#   1. `docker compose config` (needs the compose plugin, not an engine);
#   2. `docker build` of docker/Dockerfile (needs a running engine);
#   3. with --up: start the stack as project "crm-check" (host port 8000), wait until both services
#      are healthy, ask /health/ready, then remove it with its volumes.
# Each step that cannot run here says so and is skipped; a step that runs and fails fails the script.
# The checks that need neither live in tests/unit/test_docker_files.py and test_docker_runtime.py.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_FILE=docker/compose.yaml
IMAGE=crm-service:check
PROJECT=crm-check
UP=false
for arg in "$@"; do
  case "$arg" in
    --up) UP=true ;;
    *) echo "usage: $0 [--up]" >&2; exit 2 ;;
  esac
done

skip() { echo "SKIPPED: $*"; }

if ! command -v docker >/dev/null 2>&1; then
  skip "every docker check: the docker client is not installed"
  exit 0
fi

# A throwaway secret for the checks, unless the caller set one.
if [ -z "${JWT_SECRET_KEY:-}" ]; then
  JWT_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
fi
export JWT_SECRET_KEY

HAVE_COMPOSE=false
if docker compose version >/dev/null 2>&1; then
  HAVE_COMPOSE=true
  docker compose -f "$COMPOSE_FILE" config --quiet
  echo "OK: docker compose config accepts $COMPOSE_FILE"
else
  skip "docker compose config: the compose plugin is not installed"
fi

if ! engine_error="$(docker info 2>&1 >/dev/null)"; then
  skip "docker build and --up: no Docker engine ($(printf '%s' "$engine_error" | grep -m1 . || true))"
  exit 0
fi

docker build -f docker/Dockerfile -t "$IMAGE" .
echo "OK: docker build -f docker/Dockerfile (tagged $IMAGE)"
echo "    image user: $(docker image inspect --format '{{.Config.User}}' "$IMAGE")"

if [ "$UP" != true ]; then
  exit 0
fi
if [ "$HAVE_COMPOSE" != true ]; then
  skip "--up: the compose plugin is not installed"
  exit 0
fi

compose() { docker compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }
trap 'compose down --volumes --remove-orphans >/dev/null 2>&1 || true' EXIT
compose up --detach --build --wait --wait-timeout 180
python3 - <<'PY'
import json
import urllib.request

with urllib.request.urlopen("http://127.0.0.1:8000/health/ready", timeout=10) as response:
    body = json.load(response)
assert response.status == 200 and body == {"status": "ok"}, body
print("OK: the stack is up and /health/ready answers", body)
PY
