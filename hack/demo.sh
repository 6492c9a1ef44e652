#!/usr/bin/env bash
# hack/demo.sh: the README's first command. Tools, Docker, the kind cluster (built offline when
# missing), images, the chart installed beside PostgreSQL/Redis/the LLM stand-in, a cutover
# from v1 to v2 under load, and a report. The cluster stays up: `make demo-down` removes it.
# MONITORING=1 also installs the monitoring stack (prometheus-operator, Prometheus,
# prometheus-adapter) and reports what Prometheus saw of the cutover.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"
"${REPO_ROOT}/hack/tools.sh"
"${REPO_ROOT}/hack/docker.sh"
step "running the demo"
go run ./hack/demo
