#!/bin/sh
# The add-on's entry point. The hub reads /data/options.json, SUPERVISOR_TOKEN and the Supervisor's services
# itself; exec makes node the process the Supervisor's init sends SIGTERM to (it finishes in-flight work, exits 0).
# A 4 MB young generation (V8's default is 16 MB) trims idle RSS by about 12 MB (`npm run bench -- memory`).
exec node --max-semi-space-size=4 /app/dist/main.js "$@"
