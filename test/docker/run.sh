#!/usr/bin/env bash
# `npm run test:docker`: builds the Docker image and runs it, alone and with Compose over Redis,
# on a real Docker engine. Not part of `npm test`: it needs a Docker engine (root) and takes
# minutes.
#
# - Engine: the one DOCKER_HOST names, if it answers; otherwise (as root) a private dockerd with
#   its own data-root, exec-root, pidfile and socket in a temporary folder, stopped at the end.
#   Missing packages (docker.io containerd runc mmdebstrap docker-compose) come from apt-get.
# - Base images: pulled when a registry is reachable; otherwise local stand-ins under the same
#   tags, built from a Debian bookworm minbase (mmdebstrap + docker import, cached in
#   $ISSUER_DOCKER_CACHE): the image's node:<version>-bookworm-slim is that base with the Node
#   binary of node_modules/node (same version), this machine's npm, a `node` user (uid 1000)
#   and this machine's CA bundle for npm; redis:<version>-bookworm is Debian's redis-server,
#   started as the official image starts it (as user redis, --protected-mode no, data in /data).
# - Checks: the image (root-owned code, uid 1000, a VOLUME for the data, no secrets: production
#   refuses to start without them), discovery, /readyz, `docker stop` exiting 0; Compose binds
#   127.0.0.1, restart: unless-stopped, Redis with AOF, registration switched on by SIGHUP,
#   the production file (secrets from Compose secrets, metrics off the public port).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${ISSUER_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/issuer-docker-test}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/issuer-docker-test.XXXXXX")
IMAGE=auth0-compatible-issuer:local
NODE_IMAGE=$(sed -n 's/^FROM \(node:[^ ]*\).*/\1/p' "$ROOT/Dockerfile" | head -1)
REDIS_IMAGE=$(sed -n 's/^ *image: \(redis:[^ ]*\)$/\1/p' "$ROOT/docker-compose.yml" | head -1)
PROJECT=issuertest$$
STARTED=$(date +%s)
DOCKERD_PID=

step() { printf '\n== [%3ss] %s\n' "$(($(date +%s) - STARTED))" "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() {
  printf '   FAIL: %s\n' "$*" >&2
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cleanup() {
  local code=$?
  set +e
  if [ -n "${DC:-}" ] && [ -d "$WORK/project" ]; then
    (cd "$WORK/project" && "${DC[@]}" -f docker-compose.yml -f docker-compose.production.yml down -v --remove-orphans >/dev/null 2>&1)
  fi
  [ -n "${DOCKER:-}" ] && "$DOCKER" rm -f "$PROJECT-alone" "$PROJECT-nosecrets" >/dev/null 2>&1
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID"
  fi
  # dockerd can leave its network namespace mounted under exec-root.
  awk -v w="$WORK" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount 2>/dev/null
  rm -rf "$WORK" 2>/dev/null
  [ $code = 0 ] && printf '\ntest:docker: all checks passed in %ss\n' "$(($(date +%s) - STARTED))"
  exit $code
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
step "tools"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io containerd runc)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]}: install them (Debian: apt-get install -y --no-install-recommends ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The client that came with the engine's package, when there is one (API versions match).
DOCKER=$(command -v /usr/bin/docker || command -v docker)
if command -v docker-compose >/dev/null 2>&1; then DC=(docker-compose -p "$PROJECT"); else DC=("$DOCKER" compose -p "$PROJECT"); fi
ok "docker client $("$DOCKER" --version | cut -d' ' -f3 | tr -d ,), compose $("${DC[@]}" version --short 2>/dev/null || echo '?')"

# ---------------------------------------------------------------------------------------------
step "engine"
if [ -n "${DOCKER_HOST:-}" ] && "$DOCKER" info >/dev/null 2>&1; then
  ok "using DOCKER_HOST=$DOCKER_HOST"
else
  [ "$(id -u)" = 0 ] || fail "no Docker engine answers (set DOCKER_HOST), and starting one needs root"
  mkdir -p "$WORK/engine"
  dockerd --data-root "$WORK/engine/data" --exec-root "$WORK/engine/exec" --pidfile "$WORK/engine/docker.pid" \
    -H "unix://$WORK/engine/docker.sock" >"$WORK/engine/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$WORK/engine/docker.sock"
  for _ in $(seq 1 100); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.3; done
  "$DOCKER" info >/dev/null 2>&1 || { tail -20 "$WORK/engine/dockerd.log" >&2; fail "dockerd did not start"; }
  ok "private dockerd (pid $DOCKERD_PID) $("$DOCKER" version -f '{{.Server.Version}}'), storage $("$DOCKER" info -f '{{.Driver}}'), in $WORK/engine"
fi

# ---------------------------------------------------------------------------------------------
step "base images: $NODE_IMAGE and $REDIS_IMAGE"
have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
pull() { have "$1" || timeout 60 "$DOCKER" pull -q "$1" >/dev/null 2>&1; }
rootfs() { # name, packages
  local tar="$CACHE/bookworm-$1.tar"
  if [ ! -s "$tar" ]; then
    mkdir -p "$CACHE"
    # The name ends in .tar: mmdebstrap picks its output format by the extension.
    mmdebstrap --quiet --variant=minbase --include="$2" bookworm "$tar.part.tar" >/dev/null
    mv "$tar.part.tar" "$tar"
  fi
  echo "$tar"
}
STANDINS=()
if pull "$NODE_IMAGE"; then
  ok "$NODE_IMAGE pulled"
else
  version=${NODE_IMAGE#node:}
  version=${version%%-*}
  [ "$("$ROOT/node_modules/.bin/node" --version)" = "v$version" ] || fail "no registry, and node_modules/node is not Node $version: run npm ci"
  "$DOCKER" import "$(rootfs minbase ca-certificates)" issuer-test/debian:bookworm >/dev/null
  ctx="$WORK/node-standin"
  mkdir -p "$ctx"
  cp "$ROOT/node_modules/node/bin/node" "$ctx/node"
  cp -r "$(npm root -g)/npm" "$ctx/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM issuer-test/debian:bookworm
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# This machine's CA bundle: npm reaches the registry through it here.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && mkdir -p /usr/local/etc && echo 'cafile=/etc/ssl/certs/ca-certificates.crt' >/usr/local/etc/npmrc \
 && groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/sh node
CMD ["node"]
EOF
  "$DOCKER" build -q -t "$NODE_IMAGE" "$ctx" >/dev/null
  STANDINS+=("$NODE_IMAGE")
  ok "$NODE_IMAGE: local stand-in ($("$DOCKER" run --rm "$NODE_IMAGE" node --version), npm $("$DOCKER" run --rm "$NODE_IMAGE" npm --version), uid $("$DOCKER" run --rm "$NODE_IMAGE" id -u node))"
fi
if pull "$REDIS_IMAGE"; then
  ok "$REDIS_IMAGE pulled"
else
  "$DOCKER" import "$(rootfs redis ca-certificates,redis-server)" issuer-test/debian-redis:bookworm >/dev/null
  ctx="$WORK/redis-standin"
  mkdir -p "$ctx"
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# As the official image: options alone mean redis-server; it runs as user redis in /data,
# without protected mode (the container network is the boundary).
set -e
[ "${1#-}" != "$1" ] && set -- redis-server "$@"
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  shift
  chown -R redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
fi
exec "$@"
EOF
  cat >"$ctx/Dockerfile" <<'EOF'
FROM issuer-test/debian-redis:bookworm
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir -p /data && chown redis:redis /data
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  "$DOCKER" build -q -t "$REDIS_IMAGE" "$ctx" >/dev/null
  STANDINS+=("$REDIS_IMAGE")
  ok "$REDIS_IMAGE: local stand-in ($("$DOCKER" run --rm --entrypoint redis-server "$REDIS_IMAGE" --version | cut -d' ' -f3))"
fi

# ---------------------------------------------------------------------------------------------
step "build $IMAGE"
# Host network for the build: npm ci reaches the registry the way this machine does.
"$DOCKER" build -q --network host -t "$IMAGE" "$ROOT" >/dev/null
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
ok "built: $((size / 1000 / 1000)) MB ($size bytes)"
owner=$("$DOCKER" run --rm "$IMAGE" sh -c 'stat -c %U /app/src/main.ts /app/adapters/redis.ts /app/config/default.yaml /app/node_modules/koa/package.json | sort -u')
[ "$owner" = root ] || fail "code owned by $owner, not root"
"$DOCKER" run --rm "$IMAGE" sh -c 'test ! -w /app/src/main.ts && test -w /app/.data && [ "$(id -u)" = 1000 ]' || fail "the process can write its code, or cannot write .data, or is not uid 1000"
ok "code owned by root and read-only for the process (uid $("$DOCKER" run --rm "$IMAGE" id -u)), /app/.data writable"
volumes=$("$DOCKER" image inspect -f '{{json .Config.Volumes}}' "$IMAGE")
[ "$volumes" = '{"/app/.data":{}}' ] || fail "volumes: $volumes"
ok "VOLUME $volumes"
"$DOCKER" run --rm "$IMAGE" sh -c 'test ! -e /app/config/local.yaml && test ! -e /app/secrets && test ! -e /app/test' || fail "local settings or tests in the image"
ok "no config/local.yaml, secrets or tests in the image"

# ---------------------------------------------------------------------------------------------
step "docker run: the image alone"
code=0
out=$("$DOCKER" run --name "$PROJECT-nosecrets" "$IMAGE" 2>&1) || code=$?
[ $code = 1 ] && grep -q 'cookies.keys: production requires' <<<"$out" || fail "production without secrets: exit $code: $out"
ok "NODE_ENV=production (the image's default) without secrets refuses to start, exit 1: $(grep -c '  - ' <<<"$out") problems listed"
port=$(free_port)
"$DOCKER" run -d --name "$PROJECT-alone" -p "127.0.0.1:$port:3000" -e NODE_ENV=development -e "ISSUER=http://127.0.0.1:$port/" "$IMAGE" >/dev/null
url="http://127.0.0.1:$port"
for _ in $(seq 1 60); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
ready=$(curl -fsS "$url/readyz") || fail "/readyz: $("$DOCKER" logs "$PROJECT-alone" 2>&1 | tail -5)"
ok "/readyz $ready"
issuer=$(curl -fsS "$url/.well-known/openid-configuration" | jq -r .issuer)
[ "$issuer" = "http://127.0.0.1:$port/" ] || fail "discovery issuer $issuer"
ok "discovery: issuer $issuer"
for _ in $(seq 1 40); do [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$PROJECT-alone")" = healthy ] && break; sleep 0.5; done
ok "HEALTHCHECK: $("$DOCKER" inspect -f '{{.State.Health.Status}}' "$PROJECT-alone")"
t0=$(date +%s%N)
"$DOCKER" stop "$PROJECT-alone" >/dev/null
exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$PROJECT-alone")
[ "$exit_code" = 0 ] || fail "docker stop: exit $exit_code"
ok "docker stop: exit 0 after $((($(date +%s%N) - t0) / 1000000)) ms"
"$DOCKER" rm "$PROJECT-alone" >/dev/null

# ---------------------------------------------------------------------------------------------
step "docker compose up (docker-compose.yml: Redis + issuer)"
mkdir -p "$WORK/project/config" "$WORK/project/secrets"
cp "$ROOT/docker-compose.yml" "$ROOT/docker-compose.production.yml" "$WORK/project/"
cp "$ROOT/config/local.example.yaml" "$WORK/project/config/local.yaml"
cd "$WORK/project"
port=$(free_port)
export ISSUER_PORT=$port ISSUER="http://localhost:$port/"
url="http://127.0.0.1:$port"
"${DC[@]}" up -d --no-build >"$WORK/compose-up.log" 2>&1 || { cat "$WORK/compose-up.log" >&2; fail "compose up"; }
issuer_id=$("${DC[@]}" ps -q issuer)
redis_id=$("${DC[@]}" ps -q redis)
for _ in $(seq 1 90); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
ready=$(curl -fsS "$url/readyz") || fail "/readyz: $("${DC[@]}" logs --tail 10 issuer 2>&1)"
[ "$(jq -r .store <<<"$ready")" = redis ] || fail "/readyz $ready"
ok "/readyz $ready"
[ "$(curl -fsS "$url/.well-known/openid-configuration" | jq -r .issuer)" = "$ISSUER" ] || fail "discovery"
ok "discovery: issuer $ISSUER, no registration_endpoint: $(curl -fsS "$url/.well-known/openid-configuration" | jq 'has("registration_endpoint") | not')"
bindings=$("$DOCKER" inspect -f '{{json .HostConfig.PortBindings}}' "$issuer_id")
[ "$(jq -r '."3000/tcp"[0].HostIp' <<<"$bindings")" = 127.0.0.1 ] || fail "published on $bindings"
ok "published on 127.0.0.1 only: $bindings"
for id in "$issuer_id" "$redis_id"; do
  [ "$("$DOCKER" inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$id")" = unless-stopped ] || fail "restart policy"
done
ok "restart: unless-stopped on both services"
aof=$("${DC[@]}" exec -T redis redis-cli config get appendonly | tail -1)
fsync=$("${DC[@]}" exec -T redis redis-cli config get appendfsync | tail -1)
policy=$("${DC[@]}" exec -T redis redis-cli config get maxmemory-policy | tail -1)
[ "$aof" = yes ] && [ "$fsync" = always ] && [ "$policy" = noeviction ] || fail "redis appendonly=$aof appendfsync=$fsync maxmemory-policy=$policy"
ok "Redis: appendonly $aof, appendfsync $fsync, maxmemory-policy $policy"

register() {
  curl -sS -o "$WORK/register.json" -w '%{http_code}' -X POST "$url/oidc/register" -H 'content-type: application/json' \
    -d '{"client_name":"Docker test","redirect_uris":["https://app.example.com/callback"]}'
}
status=$(register)
[ "$status" = 403 ] || fail "registration with the flag off: $status $(cat "$WORK/register.json")"
ok "registration with the flag off: $status"
sed -i 's/enable_dynamic_client_registration: false/enable_dynamic_client_registration: true/' config/local.yaml
"${DC[@]}" kill -s SIGHUP issuer >/dev/null 2>&1
for _ in $(seq 1 20); do status=$(register); [ "$status" = 201 ] && break; sleep 0.5; done
[ "$status" = 201 ] || fail "registration after SIGHUP: $status $(cat "$WORK/register.json")"
client_id=$(jq -r .client_id "$WORK/register.json")
ok "flag switched on in config/local.yaml + SIGHUP: registration 201, client_id $client_id"
[ "$("${DC[@]}" exec -T redis sh -c 'ls /data/appendonlydir 2>/dev/null || ls /data' | grep -c aof)" -ge 1 ] || fail "no AOF file in /data"
ok "AOF files in the redis-data volume: $("${DC[@]}" exec -T redis sh -c 'ls /data/appendonlydir' | tr '\n' ' ')"

t0=$(date +%s%N)
"$DOCKER" stop "$issuer_id" >/dev/null
exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$issuer_id")
[ "$exit_code" = 0 ] || fail "docker stop issuer: exit $exit_code"
ok "docker stop issuer: exit 0 after $((($(date +%s%N) - t0) / 1000000)) ms"
"$DOCKER" start "$issuer_id" >/dev/null
for _ in $(seq 1 60); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
# The registered client is still there after the restart (Redis, not the container, holds it).
"${DC[@]}" exec -T redis redis-cli --scan --pattern "issuer:*$client_id*" | grep -q . || fail "client $client_id not in Redis"
ok "client $client_id still in Redis after the issuer's restart"
"${DC[@]}" down >/dev/null 2>&1

# ---------------------------------------------------------------------------------------------
step "docker compose with docker-compose.production.yml (secrets from Compose secrets)"
node_js() { "$ROOT/node_modules/.bin/node" -e "$1"; }
node_js 'console.log(require("node:crypto").randomBytes(32).toString("base64url"))' >secrets/cookie_keys
printf 'ops-console: %s\n' "$(node_js 'console.log(require("node:crypto").randomBytes(24).toString("base64url"))')" >secrets/client_secrets.yaml
chmod 0444 secrets/*
printf 'users: []\ntenant: { flags: { enable_dynamic_client_registration: false } }\n' >config/local.yaml
"${DC[@]}" -f docker-compose.yml -f docker-compose.production.yml up -d --no-build >"$WORK/compose-up.log" 2>&1 || { cat "$WORK/compose-up.log" >&2; fail "compose up (production)"; }
issuer_id=$("${DC[@]}" -f docker-compose.yml -f docker-compose.production.yml ps -q issuer)
for _ in $(seq 1 90); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
ready=$(curl -fsS "$url/readyz") || fail "/readyz (production): $("$DOCKER" logs --tail 10 "$issuer_id" 2>&1)"
"$DOCKER" logs "$issuer_id" 2>&1 | grep -q '"env":"production"' || fail "not in production mode"
ok "/readyz $ready in production mode, cookie keys and client secret read from /run/secrets"
"$DOCKER" exec "$issuer_id" sh -c 'env | grep -q -i -E "^(COOKIE_KEYS|CLIENT_SECRET)=" && exit 1; test -r /run/secrets/cookie_keys' || fail "secrets"
secret=$(sed -n 's/^ops-console: //p' secrets/client_secrets.yaml)
token=$(curl -sS -u "ops-console:$secret" -d grant_type=client_credentials -d audience="${ISSUER}api/v2/" "$url/oauth/token" | jq -r '.token_type // .error')
[ "$token" = Bearer ] || fail "client_credentials with the secret from the Compose secret: $token"
ok "client_credentials with the client secret from the Compose secret: token_type $token"
status=$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics")
[ "$status" = 404 ] || fail "/metrics on the public port: $status"
inside=$("$DOCKER" exec "$issuer_id" node -e 'fetch("http://127.0.0.1:9464/metrics").then(async r => console.log(r.status, (await r.text()).includes("issuer_http_request_duration_seconds")))')
[ "$inside" = "200 true" ] || fail "metrics port inside the container: $inside"
ok "/metrics: 404 on the public port, 200 on the metrics port (9464, not published)"
t0=$(date +%s%N)
"$DOCKER" stop "$issuer_id" >/dev/null &
stopping=$!
for _ in $(seq 1 40); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 503 ] && break; sleep 0.05; done
[ "$(curl -s "$url/readyz" | jq -r .status)" = shutting_down ] || fail "/readyz during the drain"
drain=$(curl -sS -D - -o /dev/null "$url/.well-known/openid-configuration" | tr -d '\r')
grep -q '^HTTP/1.1 200' <<<"$drain" && grep -qi '^connection: close' <<<"$drain" || fail "discovery during the drain: $drain"
ok "during the drain: /readyz 503 shutting_down, discovery 200 with Connection: close"
wait "$stopping"
exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$issuer_id")
[ "$exit_code" = 0 ] || fail "docker stop issuer (production): exit $exit_code"
ok "docker stop issuer: exit 0 after $((($(date +%s%N) - t0) / 1000000)) ms (5 s drain in production)"
"$DOCKER" logs "$issuer_id" 2>&1 | grep -q '"msg":"stopped"' || fail "no 'stopped' line"
ok "log: $("$DOCKER" logs "$issuer_id" 2>&1 | grep -o '"msg":"shutting down[^"]*"' | head -1)"

if [ ${#STANDINS[@]} -gt 0 ]; then
  printf '\nnote: verified with local stand-ins for %s (no registry reachable), not the official images\n' "${STANDINS[*]}"
fi
