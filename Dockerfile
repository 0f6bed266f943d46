# The issuer on Node.js 24 (slim Debian bookworm), production dependencies only. TypeScript runs
# directly on Node 24: there is no build step.
#
# The code belongs to root and is read-only for the process, which runs as the unprivileged
# `node` user (uid 1000) and may write only its data folder (/app/.data, a volume). No secret is
# in the image: cookie keys and client secrets come from files named by COOKIE_KEYS_FILE and
# CLIENT_SECRETS_FILE (Compose secrets), settings from a mounted CONFIG_FILE.
#
# Base image pinned to a version (the Node of package.json's `node` devDependency); pin it to a
# digest as well (node:24.21.0-bookworm-slim@sha256:...) where your registry policy asks for it.
FROM node:24.21.0-bookworm-slim

ENV NODE_ENV=production
# src/server_flags.ts: fewer malloc arenas and a fixed mmap threshold, less resident memory at the same speed.
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY src ./src
COPY adapters ./adapters
COPY config/default.yaml ./config/default.yaml
# The embedded store's file lives here when Redis is not configured: the only writable path.
RUN mkdir -p /app/.data && chown node:node /app/.data
VOLUME ["/app/.data"]

USER node
EXPOSE 3000
# Docker stops with SIGTERM: the issuer drains (shutdown.drain_seconds, 5 s in production) and
# finishes its requests; allow for that with `docker stop -t 20` / Compose stop_grace_period.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The V8 settings npm start uses (src/server_flags.ts): a smaller young generation and a slower-growing
# old one, ~150 MB less RSS after load.
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=1536", "src/main.ts"]
