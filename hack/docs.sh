#!/usr/bin/env bash
# Regenerates the chart README from values.yaml (helm-docs `# --` comments) and
# README.md.gotmpl. With --check, fails when the committed README is stale instead.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

chart="${REPO_ROOT}/charts/ai-assistant"
[[ -x "${REPO_ROOT}/bin/helm-docs" ]] || "${REPO_ROOT}/hack/tools.sh"

if [[ "${1:-}" == "--check" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "${tmp}"' EXIT
  cp -r "${chart}/." "${tmp}/"
  helm-docs --chart-search-root "${tmp}" --template-files README.md.gotmpl --log-level warning
  if ! diff -u "${chart}/README.md" "${tmp}/README.md"; then
    die "charts/ai-assistant/README.md is stale: run 'make docs' and commit it"
  fi
  step "chart README is current"
else
  helm-docs --chart-search-root "${chart}" --template-files README.md.gotmpl --log-level warning
  step "wrote charts/ai-assistant/README.md"
fi
