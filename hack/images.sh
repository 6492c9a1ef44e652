#!/usr/bin/env bash
# Build the ai-assistant and llm-standin image tarballs into .cache/images for each version in
# IMAGE_VERSIONS (default "v1.0.0 v2.0.0"), and the third-party commands of imagebuild.Modules at
# their pinned releases: metrics-server, and the monitoring stack's prometheus-adapter,
# prometheus-operator, prometheus-config-reloader and Prometheus, and the ingress stack's Traefik
# and cert-manager controller (a cold build compiles each and
# its dependencies: minutes, once per machine; each prints its time and size). Static binaries on
# an empty base, written with go-containerregistry, no registry and no Docker daemon. Unchanged
# inputs print "up to date". Then the GitOps tests' Debian-based images (hack/gitops-images).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"
step "building images for ${IMAGE_VERSIONS:-v1.0.0 v2.0.0}, metrics-server, the monitoring and the ingress stacks"
go run ./hack/images "$@"
# The GitOps tests' images: Argo CD (argocd and Helm 4 on Debian with git; its cold build is the
# heaviest here, minutes on 2 cores), the Git server and Redis. These use the Docker engine; their
# tarballs stay in the machine's image cache, so a fresh clone does not docker-save them again.
step "building the GitOps images (Argo CD, Git server)"
go run ./hack/gitops-images
step "images ready in .cache/images and the machine's image cache"
