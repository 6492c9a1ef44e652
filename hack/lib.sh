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

# cpu_group PATH SHARES: move this shell, and so whatever it starts, into the cgroup v1 CPU
# group PATH (under /sys/fs/cgroup/cpu) weighted SHARES (1024: one process at nice 0). Docker's
# containers share one such group of 1024 there, so the whole kind cluster weighs as much as a
# single host process, and each thread of a compile run beside the cluster's tests would weigh
# as much again. Without the cgroup v1 CPU controller (a cgroup v2 host) it changes nothing.
cpu_group() {
  local root=/sys/fs/cgroup/cpu
  if [[ ! -w "${root}/cgroup.procs" || ! -f "${root}/docker/cpu.shares" ]]; then
    return 0
  fi
  mkdir -p "${root}/$1"
  echo "$2" >"${root}/$1/cpu.shares"
  echo "${BASHPID}" >"${root}/$1/cgroup.procs"
}
