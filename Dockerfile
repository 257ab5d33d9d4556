# TTS Hub add-on image. Two stages: build the TypeScript, then a slim runtime with production dependencies only.
# The Supervisor passes BUILD_FROM; this image pins its own Node base instead (the hub needs Node 20, not Alpine).
ARG BUILD_FROM

# --- build: all dependencies, tsc, the panel's static files copied into dist/ (npm run build) ---
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: node + the same Debian packages .ci/setup installs for `npm start` (ffmpeg, espeak-ng) ---
FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# dist/ holds the compiled hub and dist/http/ui the panel; src/version.ts reads ../package.json (here /app).
COPY --from=build /src/dist ./dist

LABEL io.hass.type="addon" io.hass.arch="aarch64|amd64"
COPY addon/run.sh ./addon/run.sh
# addon/run.sh execs node on dist/main.js (see its comments); the Supervisor's init (config.yaml `init: true`)
# forwards SIGTERM to it.
CMD ["/app/addon/run.sh"]
