#!/usr/bin/env bash
# Installs Dovecot (Debian `dovecot-imapd`) for dtp-adapters-imap's tests,
# and the openssl command (the TLS test makes its own CA with it).
# Idempotent: does nothing when both are already there. Debian's
# policy-rc.d keeps the package from starting a daemon; the test harness
# starts its own `dovecot -F` on loopback in a temp folder.
set -euo pipefail

have() {
  { command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } &&
    command -v openssl >/dev/null 2>&1
}
if have; then exit 0; fi

# Serialize concurrent installers (several test binaries may start at once).
exec 9>/tmp/.dtp-dovecot-setup.lock
if command -v flock >/dev/null 2>&1; then flock 9; fi
if have; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "dtp-adapters-imap tests need Dovecot: run as root, or install dovecot-imapd" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq dovecot-imapd openssl >&2; then
  apt-get update -qq >&2
  apt-get install -y -qq dovecot-imapd openssl >&2
fi
have
