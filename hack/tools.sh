#!/usr/bin/env bash
# Installs the pinned tools into ./bin. Each is built once per machine into a cache outside
# the checkout (TOOLS_CACHE), keyed by a hash of its build command, the Go toolchain and, for
# ct, hack/tools' go.mod and go.sum, so a fresh clone copies them instead of building them. A
# stamp file per tool and version makes a warm run a no-op; changing a version below rebuilds
# just that tool.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_VERSION=v3.22.0
HELM_DOCS_VERSION=v1.14.2
KUBECONFORM_VERSION=v0.8.0
KUBE_SCORE_VERSION=v1.20.0
GOLANGCI_LINT_VERSION=v2.15.0
GOTESTSUM_VERSION=v1.13.0
CT_VERSION=v3.14.0 # pinned in hack/tools/go.mod
HELM4_VERSION=v4.3.1 # Argo CD and Flux render with Helm 4; the interop tests run it as ./bin/helm4

BIN="${REPO_ROOT}/bin"
TOOLS_CACHE="${TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/ai-assistant-chart/tools}"
mkdir -p "${BIN}" "${TOOLS_CACHE}"
GO_TOOLCHAIN="$(go env GOVERSION GOOS GOARCH | tr '\n' ' ')"

# install NAME VERSION BUILD-COMMAND...: unless NAME is stamped at VERSION and its build's key in
# ./bin, copy it from the cache, building it there first (the command writes it into $GOBIN)
# when missing. The key is a hash of the build command, so a changed flag rebuilds it too.
install() {
  local name=$1 version=$2
  shift 2
  local key
  key="$({ printf '%s\n' "$*" "${GO_TOOLCHAIN}"; [[ ${name} != ct ]] || cat "${REPO_ROOT}/hack/tools/go.mod" "${REPO_ROOT}/hack/tools/go.sum"; } | sha256sum | cut -c1-12)"
  local stamp="${BIN}/.${name}-${version}-${key}"
  if [[ -x "${BIN}/${name}" && -f "${stamp}" ]]; then
    return 0
  fi
  local cached="${TOOLS_CACHE}/${name}-${version}-${key}"
  if [[ ! -x "${cached}/${name}" ]]; then
    step "installing ${name} ${version} (into ${cached})"
    local tmp
    tmp="$(mktemp -d "${TOOLS_CACHE}/.build-${name}-XXXXXX")"
    GOBIN="${tmp}" "$@"
    rm -rf "${cached}"
    mv "${tmp}" "${cached}" # whole, or not at all: a killed build leaves only a .build- dir
  fi
  cp -f "${cached}/${name}" "${BIN}/${name}"
  rm -f "${BIN}/.${name}-"*
  touch "${stamp}"
}

# helm is built with the ldflags of Helm's own Makefile. Its version: without it `helm version`
# prints v3.x-dev. The Kubernetes version it assumes with no cluster (`helm template`, `helm
# lint`), from the client-go its go.mod requires (v0.37 -> 1.37): without it Helm assumes
# v1.20 and refuses our chart's kubeVersion (>=1.29).
HELM_K8S_MINOR=37 # helm.sh/helm/v3 v3.22.0 requires k8s.io/client-go v0.37.0
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in pkg/lint/rules pkg/chartutil; do
  helm_ldflags+=" -X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1 -X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${HELM_K8S_MINOR}"
done
install helm "${HELM_VERSION}" go install -ldflags "${helm_ldflags}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
# Helm 4 takes its default Kubernetes version from the client-go it is built with, so it needs
# only the version ldflag of its Makefile. Installed as helm4, beside Helm 3.
install helm4 "${HELM4_VERSION}" bash -c "go install -ldflags '-X helm.sh/helm/v4/internal/version.version=${HELM4_VERSION}' helm.sh/helm/v4/cmd/helm@${HELM4_VERSION} && mv \"\${GOBIN}/helm\" \"\${GOBIN}/helm4\""
install helm-docs "${HELM_DOCS_VERSION}" go install "github.com/norwoodj/helm-docs/cmd/helm-docs@${HELM_DOCS_VERSION}"
install kubeconform "${KUBECONFORM_VERSION}" go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
install kube-score "${KUBE_SCORE_VERSION}" go install "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
install gotestsum "${GOTESTSUM_VERSION}" go install "gotest.tools/gotestsum@${GOTESTSUM_VERSION}"
install golangci-lint "${GOLANGCI_LINT_VERSION}" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}"
install ct "${CT_VERSION}" bash -c "cd '${REPO_ROOT}/hack/tools' && go build -o \"\${GOBIN}/ct\" github.com/helm/chart-testing/v3/ct"

step "tools ready in ${BIN}: $(cd "${BIN}" && ls | tr '\n' ' ')"
