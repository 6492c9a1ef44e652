#!/usr/bin/env bash
# Build the ai-assistant and llm-standin image tarballs into .cache/images for each version in
# IMAGE_VERSIONS (default "v1.0.0 v2.0.0"): static binaries on an empty base, written with
# go-containerregistry, no registry and no Docker daemon. Unchanged inputs print "up to date".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"
step "building images for ${IMAGE_VERSIONS:-v1.0.0 v2.0.0}"
go run ./hack/images "$@"
step "images ready in .cache/images"
