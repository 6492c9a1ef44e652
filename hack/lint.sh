#!/usr/bin/env bash
# Every static check: Go formatting, vet and golangci-lint; helm lint --strict and ct lint over
# each ci/*-values.yaml scenario; kube-score over each render (no CRITICAL finding allowed;
# the one ignored check is explained in the chart README); the chart README is current.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"
"${REPO_ROOT}/hack/tools.sh"

chart=charts/ai-assistant
kube_version=1.37.2

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[[ -z "${unformatted}" ]] || die "gofmt would change: ${unformatted}"

step "go vet"
go vet -tags integration,apiserver ./...

step "golangci-lint"
golangci-lint run --build-tags integration,apiserver ./...

# As a user runs it with no cluster and no flags: Helm then assumes the Kubernetes version its
# build was stamped with (hack/tools.sh), which must satisfy the chart's kubeVersion.
step "helm template with Helm's own default Kubernetes version"
helm template "${chart}" >/dev/null || die "helm template ${chart} without --kube-version failed (is bin/helm built with hack/tools.sh's ldflags?)"

step "helm lint --strict (defaults and every ci/*-values.yaml)"
helm lint --strict --kube-version "${kube_version}" "${chart}"
for values in "${chart}"/ci/*-values.yaml; do
  helm lint --strict --kube-version "${kube_version}" "${chart}" -f "${values}" >/dev/null \
    || die "helm lint failed with ${values}"
done

KUBE_VERSION="${kube_version}" "${REPO_ROOT}/hack/ct-lint.sh"

step "kube-score (no CRITICAL finding)"
for values in "" "${chart}"/ci/*-values.yaml; do
  args=()
  [[ -n "${values}" ]] && args=(-f "${values}")
  out=$(helm template lint "${chart}" --kube-version "${kube_version}" "${args[@]}" \
    | kube-score score --ignore-test container-image-pull-policy --output-format ci - || true)
  if grep -q '\[CRITICAL\]' <<<"${out}"; then
    grep '\[CRITICAL\]' <<<"${out}" >&2
    die "kube-score found CRITICAL issues with ${values:-the default values}"
  fi
done

step "chart README"
"${REPO_ROOT}/hack/docs.sh" --check

step "lint clean"
