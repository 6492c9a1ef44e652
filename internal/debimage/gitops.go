package debimage

import (
	"context"
	"fmt"
	"path/filepath"
)

// Binary is a file copied into an image's build context: a static binary built elsewhere
// (internal/imagebuild), named by what determines it (its image digest) so the image's tag
// follows it without hashing the file, and written only when the image is built.
type Binary struct {
	Name   string // file name in the build context, as the Dockerfile copies it
	Digest string // what determines its content, e.g. the digest of the image it came from
	// Write writes the binary to path, e.g. out of the image it came from.
	Write func(path string) error
}

var argoCDImage = serviceImage{
	repository: "ai-assistant-argocd",
	// As upstream's image, on Debian: git for the repo-server's clones, Helm 4 for its
	// `helm template`, tini to reap the git processes, one binary linked under each role's name
	// (it takes its role from the name it is called by), UID 999 with a writable home.
	// ARGOCD_GPG_ENABLED=false: no commit verification, so no gnupg.
	dockerfile: `FROM %s
RUN groupadd --system --gid 999 argocd \
 && useradd --system --uid 999 --gid 999 --home-dir /home/argocd --create-home --shell /usr/sbin/nologin argocd \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
# The binaries are written executable: a chmod here would copy them into a second layer.
# git-verify-wrapper.sh is upstream's, from the argo-cd module: the repo-server runs it on
# every commit it checks out, and fails the manifest generation without it.
COPY argocd helm git-verify-wrapper.sh /usr/local/bin/
RUN for role in argocd-application-controller argocd-repo-server argocd-server; do ln -s argocd /usr/local/bin/$role; done \
 && mkdir -p /app/config/ssh /app/config/tls /app/config/gpg/source /app/config/gpg/keys /helm-working-dir \
 && touch /app/config/ssh/ssh_known_hosts && chown -R 999:999 /app/config /helm-working-dir
ENV USER=argocd HOME=/home/argocd ARGOCD_GPG_ENABLED=false
USER 999:999
WORKDIR /home/argocd
ENTRYPOINT ["/usr/bin/tini", "--"]
`,
}

var gitServerImage = serviceImage{
	repository: "ai-assistant-git-server",
	// Debian's git for http-backend, and the wrapper that serves it (cmd/git-http).
	dockerfile: `FROM %s
RUN groupadd --system --gid 999 git \
 && useradd --system --uid 999 --gid 999 --home-dir /srv/git --create-home --shell /usr/sbin/nologin git \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*
COPY git-http /usr/local/bin/git-http
ENV GIT_ROOT=/srv/git PORT=8080 HOME=/srv/git
USER 999:999
WORKDIR /srv/git
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/git-http"]
`,
}

// EnsureArgoCD builds (when missing) the Argo CD image on base: argocd (Argo CD's one command),
// helm (the Helm 4 it shells out to) and verifyWrapper (upstream's hack/git-verify-wrapper.sh,
// which the repo-server runs on each commit) beside Debian's git, and writes its tarball into
// outDir. The image's tag is a hash of the Dockerfile, the base and the files' digests.
func EnsureArgoCD(ctx context.Context, steps *Steps, base, outDir string, argocd, helm, verifyWrapper Binary) (Image, error) {
	argocd.Name, helm.Name, verifyWrapper.Name = "argocd", "helm", "git-verify-wrapper.sh"
	return ensureService(ctx, steps, withBinaries(argoCDImage, argocd, helm, verifyWrapper), base, outDir)
}

// EnsureGitServer builds (when missing) the Git server image on base: Debian's git and the
// git-http wrapper (cmd/git-http), and writes its tarball into outDir.
func EnsureGitServer(ctx context.Context, steps *Steps, base, outDir string, gitHTTP Binary) (Image, error) {
	gitHTTP.Name = "git-http"
	return ensureService(ctx, steps, withBinaries(gitServerImage, gitHTTP), base, outDir)
}

func withBinaries(s serviceImage, bins ...Binary) serviceImage {
	s.binaries = bins
	return s
}

// writeBinary writes a binary into the build context.
func writeBinary(dir string, b Binary) error {
	if err := b.Write(filepath.Join(dir, b.Name)); err != nil {
		return fmt.Errorf("write %s into the build context: %w", b.Name, err)
	}
	return nil
}
