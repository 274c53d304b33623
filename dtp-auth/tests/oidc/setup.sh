#!/usr/bin/env bash
# Installs the test authorization server (oidc-provider, pinned in
# package-lock.json) for dtp-auth's integration tests. Idempotent: runs
# `npm ci` only when node_modules is missing or older than the lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "dtp-auth tests need Node.js (>= 20) and npm on PATH" >&2
  exit 1
fi

stamp=node_modules/.dtp-installed
if [[ -f "$stamp" && "$stamp" -nt package-lock.json && "$stamp" -nt package.json && -d node_modules/oidc-provider ]]; then
  exit 0
fi

# Serialize concurrent installers (several test binaries may start at once).
exec 9>.setup.lock
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [[ -f "$stamp" && "$stamp" -nt package-lock.json && "$stamp" -nt package.json && -d node_modules/oidc-provider ]]; then
  exit 0
fi

npm ci --no-audit --no-fund --loglevel=error >&2
touch "$stamp"
