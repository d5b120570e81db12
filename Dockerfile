# syntax=docker/dockerfile:1
# llm-service: build with dev dependencies, run with production dependencies only, as a non-root user.
#   docker build -t llm-service:0.1.0 .
#   docker run --rm -p 3000:3000 -e OPENAI_API_KEY=sk-... llm-service:0.1.0
#   docker run --rm -p 3000:3000 -e LLM_SIMULATOR=on llm-service:0.1.0   (no key: the simulator, said so on every response)
# NODE_ENV=production: without a provider and without LLM_SIMULATOR=on the service refuses to boot, naming what it looked for.
# With PostgreSQL and Redis: docker-compose.yml.
ARG NODE_IMAGE=node:20-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. npm ci installs exactly the lockfile.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc to dist/, plus the dashboard page copied beside its controller.
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    SEARCH_DATA_DIR=/var/lib/llm-service/search
# A 32 MB semi-space for V8's young generation (default 16 MB): every proxied request allocates tens of KB that
# die young, and with the default the scavenger runs about twice as often (npm run bench, scenario 3: CPU per
# request, see README "Benchmarks"). 64 MB saved no more CPU in the bench and cost ~50 MB more RSS (scenario 6).
# As npm start does.
ENV NODE_OPTIONS=--max-semi-space-size=32
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; no install scripts are needed at run time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The embedded store (one process, no DATABASE_URL: docker run) writes its index and spend ledger here.
# In Kubernetes DATABASE_URL is required, nothing is written here and the root filesystem is read-only.
RUN mkdir -p /var/lib/llm-service/search && chown -R 1000:1000 /var/lib/llm-service
# Numeric (the official image's "node" user), so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000
# For docker run / compose; Kubernetes uses its own probes (deploy/k8s/deployment.yaml).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself as PID 1, not npm: SIGTERM reaches the service, which drains (SHUTDOWN_GRACE_MS) and exits 0.
CMD ["node", "dist/main.js"]
