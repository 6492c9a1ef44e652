package imagebuild

// ArgoCD is Argo CD's one command at the pinned release: it takes its role from the name it
// is called by (argocd-application-controller, argocd-repo-server, ...), so the GitOps image
// (internal/debimage.EnsureArgoCD) copies it in once and links each role's name to it. Its
// go.mod's replace block is repeated in hack/modules/argocd, and it needs Go 1.27. The
// version is stamped where upstream's Makefile puts it, so its logs and /version name it.
// It is the heaviest build here (minutes on 2 cores, cold).
var ArgoCD = Module{
	Name:      "argocd",
	Package:   "github.com/argoproj/argo-cd/v3/cmd",
	Version:   "v3.6.1",
	LDFlags:   "-X github.com/argoproj/argo-cd/v3/common.version=3.6.1 -X github.com/argoproj/argo-cd/v3/common.gitTag=v3.6.1",
	Dir:       "hack/modules/argocd",
	Toolchain: "go1.27.3",
}

// Helm4 is the Helm that Argo CD v3.6.1 pins and shells out to for `helm template`, stamped
// with its version as Helm's Makefile does. The GitOps image copies it in as /usr/local/bin/helm.
var Helm4 = Module{
	Name:    "helm",
	Package: "helm.sh/helm/v4/cmd/helm",
	Version: "v4.3.1",
	LDFlags: "-X helm.sh/helm/v4/internal/version.version=v4.3.1",
}
