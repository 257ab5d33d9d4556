# TTS Hub add-on image. Two stages: build the TypeScript, then a slim runtime with production dependencies only.
# The base image is pinned here (the Supervisor passes no BUILD_FROM since 2026.04); Node 22.23.3 is the version
# .ci/setup installs for CI, and the install steps below are .ci/setup's image_* lists
# (test/unit/packaging-image.test.ts compares the two files).

# --- build: all dependencies, tsc, the panel's static files copied into dist/ (npm run build) ---
FROM node:22.23.3-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime ---
FROM node:22.23.3-bookworm-slim
# The Supervisor passes both when it builds the add-on (supervisor/apps/build.py); the default version is
# config.yaml's, for builds by hand.
ARG BUILD_VERSION=0.1.0
ARG BUILD_ARCH
ENV NODE_ENV=production \
    PATH=/opt/piper/bin:$PATH

# Debian packages (.ci/setup image_apt): ffmpeg encodes, espeak-ng is the built-in engine, python3-venv holds Piper.
# Not pinned to versions on purpose: the Supervisor builds this image on each user's machine, and Debian keeps only
# the newest build of a package in bookworm and bookworm-security, so a pinned version would stop every install at
# the next Debian security update. The suite (bookworm) is pinned through the base image tag.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg espeak-ng python3-venv \
    && rm -rf /var/lib/apt/lists/*

# Piper in a venv (.ci/setup image_pip), so a `cli` Piper engine works: `python3 -m piper` and `piper` are on PATH;
# voices come from /share/tts_hub/piper (DOCS.md, Piper).
RUN python3 -m venv /opt/piper \
    && /opt/piper/bin/pip install --no-cache-dir --disable-pip-version-check piper-tts==1.8.0

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# dist/ holds the compiled hub and dist/http/ui the panel; src/version.ts reads ../package.json (here /app).
COPY --from=build /src/dist ./dist
COPY addon/run.sh addon/healthcheck.mjs ./addon/

LABEL io.hass.version="${BUILD_VERSION}" \
      io.hass.type="app" \
      io.hass.arch="${BUILD_ARCH}"

# The Supervisor's watchdog follows Docker's health (config.yaml no longer has `watchdog`): GET /api/health on the
# add-on's HTTP port (src/config/addon-ports.ts).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["node", "/app/addon/healthcheck.mjs"]

# addon/run.sh execs node on dist/main.js (see its comments); Docker's init (the Supervisor's default, init: true)
# forwards SIGTERM to it.
CMD ["/app/addon/run.sh"]
