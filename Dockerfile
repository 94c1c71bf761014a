# syntax=docker/dockerfile:1
# Build stage: install from the lockfile (postinstall generates the Prisma client offline), compile.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: compiled code, production dependencies and the migrations; runs as `node`.
FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
RUN mkdir -p uploads .data && chown -R node:node uploads .data
USER node
EXPOSE 3000
# The port opens only once start-up is done (docs/operations.md, "Start-up"): failed checks during
# the start period (waiting for the database, migrations) do not count.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 --start-period=120s \
  CMD node -e "fetch('http://127.0.0.1:3000/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Migrations are applied at start; SIGTERM shuts down gracefully.
CMD ["node", "dist/server.js"]
