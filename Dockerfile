# smtp-tls-probe: multi-stage build. Build with dev dependencies, run with production ones.
#   docker build -t smtp-tls-probe .
#   docker run -p 9925:9925 -v "$PWD/config:/etc/smtp-tls-probe:ro" -v smtp-tls-probe-data:/var/lib/smtp-tls-probe smtp-tls-probe

FROM node:24-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle-check.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:24-alpine
ENV NODE_ENV=production \
    SMTP_TLS_PROBE_CONFIG=/etc/smtp-tls-probe/probe.yaml \
    SMTP_TLS_PROBE_STORAGE=/var/lib/smtp-tls-probe/smtp-tls-probe.db
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The status page (static files beside dist/, served at /).
COPY page ./page
# The shipped configuration; mount your own over it (the directory, to get reloads on change).
COPY config/probe.yaml /etc/smtp-tls-probe/probe.yaml
# /demo holds the demo CA when the image runs the demo endpoints (docker-compose.yml).
RUN mkdir /demo && chown node:node /demo
# History and certificate sightings (SQLite through node:sqlite: nothing to compile), where
# SMTP_TLS_PROBE_STORAGE points unless the config sets storage.path. Mount a volume here, or
# they are lost with the container.
RUN mkdir -p /var/lib/smtp-tls-probe && chown node:node /var/lib/smtp-tls-probe
VOLUME /var/lib/smtp-tls-probe
USER node
EXPOSE 9925
# Node's fetch: no curl needed in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9925/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: signals reach node (SIGTERM stops gracefully, SIGHUP reloads).
# V8's young generation capped at 2 x 16 MB (Node 20's default): left alone, Node 24 grows it
# to 2 x 64 MB where memory is plentiful, 100 MB more RSS at 10,000 targets and longer pauses,
# for no more probes (README "Performance"). npm start passes the same flag.
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/cli/main.js"]
CMD ["serve", "--listen", "0.0.0.0:9925"]
