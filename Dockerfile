# The example app's image: the millrace source and examples/, run through tsx (no build step).
# Not built on the machine it was written on (no Docker engine there): see docs/deploy.md.
FROM node:20-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so that code changes reuse this layer. tsx is a runtime dependency.
# --ignore-scripts: the package's prepare script builds dist/ with tsc, a dev dependency left
# out here (and the source is not copied yet); the image runs the TypeScript through tsx.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Owned by root and only readable by the app user: the running process cannot change its code.
COPY . .

# The official image's unprivileged user (uid 1000); the health file goes to /tmp.
USER node

# The worker for every queue of the example app; compose narrows it with --queue.
CMD ["node", "bin/millrace.js", "worker", "examples/app.ts:app"]
