#!/usr/bin/env bash
# Regenerates the Kubernetes definitions (io.k8s.*) in charts/ai-assistant/values.schema.json
# from the OpenAPI spec of the targeted Kubernetes version (k8s.io/kubernetes in the Go module
# cache), leaving every other byte of the file as written. With --check, fails when the
# committed file is stale instead.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

args=()
if [[ "${1:-}" == "--check" ]]; then
  args=(-check)
fi
step "Kubernetes definitions in values.schema.json"
go run ./hack/schemagen "${args[@]}"
