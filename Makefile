# Every target is one line that calls a strict-mode script under hack/ or a Go command,
# so the logic lives where it can be read and tested. `make help` lists them.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

##@ Newcomer

.PHONY: demo
demo: ## Cluster, images, install, a cutover under load, and a report (cluster stays up; MONITORING=1 adds Prometheus).
	hack/demo.sh

.PHONY: test
test: ## Every test: lint-free unit suites and the integration suites on kind.
	hack/test.sh

##@ Test

.PHONY: test-unit
test-unit: ## Unit tests only (chart render harness, server, cutover logic, cutover on a real API server).
	hack/test.sh unit

.PHONY: test-integration
test-integration: ## Integration tests on a kind cluster.
	hack/test.sh integration

.PHONY: lint
lint: ## gofmt, go vet, golangci-lint, helm lint --strict, ct lint, kube-score, chart README check.
	hack/lint.sh

.PHONY: bench
bench: ## Benchmarks: in-process render vs helm template, server load on loopback.
	hack/bench.sh

##@ Build

.PHONY: tools
tools: ## Install pinned tools into ./bin.
	hack/tools.sh

.PHONY: package
package: ## The chart, GPG-signed (SIGN_KEY; unset: a throwaway key), its provenance, public key and SHA256SUMS into dist/.
	hack/package.sh

.PHONY: release
release: ## bluegreen for linux and darwin on amd64 and arm64, the Helm plugin and SHA256SUMS into dist/ (reproducible).
	hack/release.sh

.PHONY: docs
docs: ## Regenerate the chart README from values.yaml with helm-docs.
	hack/docs.sh

.PHONY: schema
schema: ## Regenerate the Kubernetes definitions in the chart's values.schema.json from the OpenAPI spec.
	hack/schema.sh

.PHONY: images
images: ## Build the app, LLM stand-in, metrics-server, monitoring stack (Prometheus, operator, adapter) and ingress stack (Traefik, cert-manager) image tarballs into .cache/images (no registry, no daemon).
	hack/images.sh

.PHONY: cluster
cluster: ## Create (or reuse) the kind cluster from the offline node image.
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Delete the kind cluster.
	hack/cluster.sh down

.PHONY: demo-down
demo-down: ## Remove the demo cluster.
	hack/cluster.sh down

##@ Help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)}' $(MAKEFILE_LIST)
