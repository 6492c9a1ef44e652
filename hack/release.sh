#!/usr/bin/env bash
# hack/release.sh: the bluegreen command as release artifacts in ${OUT:-dist}: a static binary
# per platform (linux and darwin on amd64 and arm64), the Helm plugin directory holding them
# all and its .tgz, and a SHA256SUMS over them. Builds are reproducible: -trimpath, no VCS
# stamp, no build ID, and the version and commit stamped by hand, so the same commit gives the
# same bytes wherever it is checked out (`make release` twice and compare the sums).
#   VERSION    default: the chart's version (chart and command are released together)
#   COMMIT     default: `git rev-parse HEAD` (+ "-dirty" for uncommitted changes)
#   PLATFORMS  default: "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

VERSION="${VERSION:-$(chart_version charts/ai-assistant)}"
if [[ -z "${COMMIT:-}" ]]; then
  COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ ${COMMIT} != unknown && -n "$(git status --porcelain -- . ':!dist' 2>/dev/null)" ]]; then
    COMMIT+="-dirty"
  fi
fi
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"
OUT="${OUT:-dist}"
mkdir -p "${OUT}"
OUT="$(cd "${OUT}" && pwd)"

pkg=github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo
ldflags="-s -w -buildid= -X ${pkg}.Version=${VERSION} -X ${pkg}.Commit=${COMMIT}"
plugin="${OUT}/helm-bluegreen-${VERSION}"
rm -rf "${plugin}"
mkdir -p "${plugin}/bin"

binaries=()
for platform in ${PLATFORMS}; do
  os="${platform%/*}" arch="${platform#*/}"
  bin="bluegreen-${VERSION}-${os}-${arch}"
  step "building ${bin} (${COMMIT})"
  CGO_ENABLED=0 GOOS="${os}" GOARCH="${arch}" \
    go build -trimpath -buildvcs=false -ldflags "${ldflags}" -o "${OUT}/${bin}" ./hack/bluegreen
  cp "${OUT}/${bin}" "${plugin}/bin/bluegreen-${os}-${arch}"
  binaries+=("${bin}")
done

step "Helm plugin ${plugin##*/}"
sed "s/^version: .*/version: ${VERSION}/" plugins/helm-bluegreen/plugin.yaml >"${plugin}/plugin.yaml"
install -m 0755 plugins/helm-bluegreen/plugin.complete "${plugin}/plugin.complete"
# A reproducible archive: names sorted, times, owners and gzip's header fixed.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${OUT}" -cf - "${plugin##*/}" \
  | gzip -n -9 >"${plugin}.tgz"

(cd "${OUT}" && sha256sum "${binaries[@]}" "${plugin##*/}.tgz" >"bluegreen-${VERSION}-SHA256SUMS")
step "release ${VERSION} in ${OUT}:"
(cd "${OUT}" && ls -l "${binaries[@]}" "${plugin##*/}.tgz" | awk '{printf "    %-44s %6.1f MB\n", $9, $5 / 1048576}') >&2
cat >&2 <<NEXT
next:
  check:          (cd ${OUT} && sha256sum -c bluegreen-${VERSION}-SHA256SUMS)
  install:        install -m 0755 ${OUT}/bluegreen-${VERSION}-<os>-<arch> /usr/local/bin/bluegreen
  kubectl plugin: ln -s /usr/local/bin/bluegreen /usr/local/bin/kubectl-bluegreen
  Helm plugin:    helm plugin install ${plugin}
NEXT
