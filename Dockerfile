# KPC container image. The steps are the ones the tests use: `npm ci`, `npm run build`,
# `node dist/main.js --config /srv/kpc/service-config.yml`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    APP_CONFIG_PATH=/srv/kpc/service-config.yml \
    NATS_URLS=nats://nats:4222
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# The configuration is mounted here (a Kubernetes ConfigMap, for example).
COPY deploy/service-config.yml /srv/kpc/service-config.yml
USER node
# 1883 MQTT, 8883 MQTT over TLS, 8080 MQTT over WebSocket, 8008 management HTTP
EXPOSE 1883 8883 8080 8008
# Liveness, not readiness: /health answers 500 during a NATS outage, and an unhealthy container
# gets restarted by some orchestrators, dropping every client without bringing NATS back.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8008/health/live').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "dist/main.js"]
