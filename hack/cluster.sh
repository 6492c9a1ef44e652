#!/usr/bin/env bash
# hack/cluster.sh up|down [flags]: create (or reuse) or delete the project's kind cluster.
# `up` works from a fresh machine: it starts Docker (hack/docker.sh, which installs it when
# absent), builds the offline node image when its tag is missing (debootstrap, Go builds:
# ~11 min cold on 2 cores), creates the cluster and prints where its kubeconfig is.
# Environment: KIND_WORKERS=N adds worker nodes; KIND_NODE_IMAGE / KIND_OFFLINE=0 pick a
# pullable image instead of the offline build; KIND_CLUSTER_NAME overrides the name.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"
[[ "${cmd}" == up || "${cmd}" == down ]] || die "usage: $0 up|down [-workers N] [-name NAME]"
shift

args=(-name "${KIND_CLUSTER_NAME:-ai-assistant}")
if [[ "${cmd}" == up ]]; then
  "${REPO_ROOT}/hack/docker.sh"
  args+=(-workers "${KIND_WORKERS:-0}")
fi

bin="${REPO_ROOT}/.cache/kind/bin/cluster"
step "building hack/cluster"
(cd "${REPO_ROOT}" && go build -o "${bin}" ./hack/cluster)
step "cluster ${cmd}"
"${bin}" "${cmd}" "${args[@]}" "$@"
step "done"
