#!/usr/bin/env bash
# Installs the pinned tools into ./bin. A stamp file per tool and version makes a warm run
# a no-op, and changing a version below rebuilds just that tool.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_VERSION=v3.22.0
HELM_DOCS_VERSION=v1.14.2
KUBECONFORM_VERSION=v0.8.0
KUBE_SCORE_VERSION=v1.20.0
GOLANGCI_LINT_VERSION=v2.15.0
GOTESTSUM_VERSION=v1.13.0
CT_VERSION=v3.14.0 # pinned in hack/tools/go.mod

BIN="${REPO_ROOT}/bin"
mkdir -p "${BIN}"

# install NAME VERSION BUILD-COMMAND...: run the build unless NAME is stamped at VERSION.
install() {
  local name=$1 version=$2
  shift 2
  local stamp="${BIN}/.${name}-${version}"
  if [[ -x "${BIN}/${name}" && -f "${stamp}" ]]; then
    return 0
  fi
  step "installing ${name} ${version}"
  GOBIN="${BIN}" "$@"
  rm -f "${BIN}/.${name}-"*
  touch "${stamp}"
}

# helm reports its version from an ldflag; without it `helm version` prints v3.x-dev.
install helm "${HELM_VERSION}" go install \
  -ldflags "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
install helm-docs "${HELM_DOCS_VERSION}" go install "github.com/norwoodj/helm-docs/cmd/helm-docs@${HELM_DOCS_VERSION}"
install kubeconform "${KUBECONFORM_VERSION}" go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
install kube-score "${KUBE_SCORE_VERSION}" go install "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
install gotestsum "${GOTESTSUM_VERSION}" go install "gotest.tools/gotestsum@${GOTESTSUM_VERSION}"
install golangci-lint "${GOLANGCI_LINT_VERSION}" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}"
install ct "${CT_VERSION}" bash -c "cd '${REPO_ROOT}/hack/tools' && go build -o '${BIN}/ct' github.com/helm/chart-testing/v3/ct"

step "tools ready in ${BIN}: $(cd "${BIN}" && ls | tr '\n' ' ')"
