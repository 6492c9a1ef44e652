#!/usr/bin/env bash
# Make a Docker engine available on a fresh Debian machine, idempotently:
#   - install Debian's docker.io (and jq, used by the runtime wrapper) when absent;
#   - start dockerd in the background when it is not answering (nothing starts it here);
#   - where the capability bounding set lacks CAP_SYS_RESOURCE (bit 24), register
#     hack/runc-wrapper.sh as the default OCI runtime so privileged kind nodes can start.
# Prints nothing but progress; exits non-zero with the dockerd log tail if it cannot start.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/ai-assistant-dockerd.log}"
WRAPPER_DST="/usr/local/libexec/ai-assistant-chart/runc-wrapper"
RUNTIME_NAME="runc-nosysresource"

# needs_wrapper: true when CapBnd lacks CAP_SYS_RESOURCE (bit 24).
needs_wrapper() {
  local hex
  hex="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  (((0x${hex} >> 24 & 1) == 0))
}

apt_install() {
  if [[ ! -f /var/lib/apt/periodic/update-success-stamp ]] && [[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]]; then
    step "apt-get update"
    apt-get update -qq
  fi
  step "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]} > 0)); then
  [[ "$(id -u)" == 0 ]] || die "need root to install ${missing[*]}"
  apt_install "${missing[@]}"
fi

want_runtime=""
if needs_wrapper; then
  want_runtime="${RUNTIME_NAME}"
  # Keep the installed copy in step with the repository's, so dockerd never points into a checkout.
  if ! cmp -s "${REPO_ROOT}/hack/runc-wrapper.sh" "${WRAPPER_DST}" 2>/dev/null; then
    install -D -m 0755 "${REPO_ROOT}/hack/runc-wrapper.sh" "${WRAPPER_DST}"
  fi
fi

if docker info >/dev/null 2>&1; then
  current="$(docker info --format '{{.DefaultRuntime}}')"
  if [[ -z "${want_runtime}" || "${current}" == "${want_runtime}" ]]; then
    step "dockerd already running (default runtime ${current})"
    if ! tr '\0' ' ' <"/proc/$(pgrep -xo dockerd)/cmdline" 2>/dev/null | grep -q -- '--userland-proxy=false'; then
      step "note: this dockerd forwards published ports through docker-proxy, which cost the integration suite ~118 s of CPU; stop dockerd and rerun ${BASH_SOURCE[0]} to use iptables instead (the kind cluster restarts with it)"
    fi
    exit 0
  fi
  die "dockerd is running with default runtime ${current}, but this machine needs ${want_runtime} (CapBnd lacks CAP_SYS_RESOURCE): stop dockerd and rerun ${BASH_SOURCE[0]}"
fi

# A dockerd that does not answer may still be shutting down (stopping its containers takes
# seconds): a second one would fail on its pid file and socket, so wait for it to go first.
deadline=$((SECONDS + 60))
while pgrep -x dockerd >/dev/null; do
  if docker info >/dev/null 2>&1; then
    step "dockerd answered after all"
    exec "${BASH_SOURCE[0]}"
  fi
  ((SECONDS < deadline)) || die "a dockerd process neither answers nor exits (pid $(pgrep -x dockerd | tr '\n' ' ')): stop it and rerun ${BASH_SOURCE[0]}"
  sleep 0.5
done

# Published ports (the kind nodes' 127.0.0.1:30080-30099) go through iptables, not a
# docker-proxy process per port: under the integration suite's load that userland copy cost
# ~118 s of CPU (a sampler of /proc, 2 cores, one full run).
args=(--userland-proxy=false)
if [[ -n "${want_runtime}" ]]; then
  step "CapBnd lacks CAP_SYS_RESOURCE: using runtime wrapper ${WRAPPER_DST}"
  args+=(--add-runtime "${RUNTIME_NAME}=${WRAPPER_DST}" --default-runtime "${RUNTIME_NAME}")
fi
step "starting dockerd (log ${DOCKERD_LOG})"
# setsid: dockerd outlives this script and the shell that ran it.
setsid nohup dockerd "${args[@]}" >>"${DOCKERD_LOG}" 2>&1 </dev/null &

deadline=$((SECONDS + 60))
until docker info >/dev/null 2>&1; do
  if ((SECONDS > deadline)); then
    tail -n 30 "${DOCKERD_LOG}" >&2 || true
    die "dockerd did not answer within 60s (log ${DOCKERD_LOG})"
  fi
  sleep 0.5
done
step "dockerd ready ($(docker version --format '{{.Server.Version}}'))"
