#!/usr/bin/env bash
# Sourced by every hack/ script: strict mode, the repository root, and a step logger
# that prints elapsed time so long runs show progress.
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export PATH="${REPO_ROOT}/bin:${PATH}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
_lib_start=${SECONDS}

# step NAME: print a progress line with the time since the script started.
step() {
  printf '==> [%4ds] %s\n' "$((SECONDS - _lib_start))" "$*" >&2
}

# die MESSAGE: print an error and exit non-zero.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# chart_version CHART_DIR: the version in the chart's Chart.yaml.
chart_version() {
  awk '$1 == "version:" {print $2; exit}' "$1/Chart.yaml"
}
