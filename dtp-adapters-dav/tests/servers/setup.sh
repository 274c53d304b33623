#!/usr/bin/env bash
# Installs the DAV servers the dtp-adapters-dav tests run on loopback:
# Radicale, Xandikos and WsgiDAV (PyPI, pinned in requirements.txt, into
# ./.venv) and rclone (Debian package) for `rclone serve webdav`.
# Idempotent and safe to run from several test binaries at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

exec 9>.setup.lock
if command -v flock >/dev/null 2>&1; then flock 9; fi

stamp=.venv/.dtp-installed
if ! [[ -f "$stamp" && "$stamp" -nt requirements.txt && -x .venv/bin/radicale && -x .venv/bin/xandikos && -x .venv/bin/wsgidav ]]; then
  python=$(command -v python3 || true)
  if [[ -z "$python" ]] || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >&2
    python=$(command -v python3)
  fi
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt >&2
  touch "$stamp"
fi

if ! command -v rclone >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq rclone >&2
fi
