#!/usr/bin/env bash
# Install what the tests need on Debian: real PostgreSQL and Redis servers for the server's
# tests (they start their own instances on loopback; the packaged services are not used), and
# GnuPG, with which the release tests sign and verify the chart. Idempotent:
# packages already installed are skipped, and apt-get runs only when something is missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

packages=(postgresql redis-server gnupg)
missing=()
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q "install ok installed"; then
    step "${p}: already installed"
  else
    missing+=("${p}")
  fi
done
if ((${#missing[@]} > 0)); then
  [[ ${EUID} -eq 0 ]] || die "installing ${missing[*]} needs root (apt-get)"
  step "installing ${missing[*]}"
  apt-get update -qq
  # policy-rc.d-free containers cannot start services; the tests start their own anyway.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests run PostgreSQL as the postgres user (it refuses root) from the versioned bin dir.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "initdb not found under /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || die "the postgres user is missing; reinstall postgresql"
command -v redis-server >/dev/null || die "redis-server not on PATH"
command -v gpg >/dev/null || die "gpg not on PATH; reinstall gnupg"
step "test dependencies ready"
