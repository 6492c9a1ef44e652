// Package gitops is the GitOps test harness: it installs Argo CD in core mode (the
// application controller, the repo-server and Redis; no API server, no UI) and an in-cluster
// Git server into a cluster, seeds a repository with the chart and an environment values
// file, and creates the Argo CD Application that syncs it.
//
//	imgs, err := gitops.EnsureImages(ctx, repoRoot, logf)       // build or reuse, cached
//	err = c.LoadImageArchives(ctx, imgs.Tarballs()...)          // kind: no registry
//	err = gitops.Install(ctx, restConfig, gitops.Options{Images: imgs})
//	head, err := gitops.Seed(ctx, gitops.HostURL(repo), chartDir, "envs/test/values.yaml", values)
//	err = gitops.ApplyApplication(ctx, restConfig, gitops.Application{...})
//	err = gitops.Uninstall(ctx, restConfig)
//
// Install is idempotent: it creates or updates each object and waits until each component is
// ready. Argo CD's CRDs are applied from its module in the Go module cache, never copied here.
package gitops

import (
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/argocd"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

const (
	// Namespace holds Argo CD and the Git server.
	Namespace = "argocd"
	// GitServerName is the Git server's Deployment and Service.
	GitServerName = "git-server"
	// GitNodePort is the Git server's node port, mapped to 127.0.0.1 on kind: the tests push
	// from the host, Argo CD fetches through the Service's cluster DNS name.
	GitNodePort = 30097
	// gitPort is the Git server's container and Service port.
	gitPort = 8080

	// ArgoCDModule is Argo CD's Go module, whose manifests/crds Install applies.
	ArgoCDModule = "github.com/argoproj/argo-cd/v3"

	fieldManager = "ai-assistant-gitops"
)

// ArgoCDVersion is the Argo CD release the image is built from.
var ArgoCDVersion = imagebuild.ArgoCD.Version

// toolchain is the Go that Argo CD's module needs.
var toolchain = imagebuild.ArgoCD.Toolchain

// applications are Argo CD's Applications.
var applications = argocd.Applications

// ClusterURL is a repository's address inside the cluster, where Argo CD fetches it.
func ClusterURL(repo string) string {
	return "http://" + GitServerName + "." + Namespace + ".svc.cluster.local:8080/" + repo + ".git"
}

// HostURL is a repository's address from the machine running kind (the node port on loopback).
func HostURL(repo string) string {
	return "http://127.0.0.1:30097/" + repo + ".git"
}

// ReconciliationTimeout is how often Argo CD polls Git on its own (argocd-cm
// timeout.reconciliation; upstream's default is 120 s plus up to 60 s of jitter). The cutover
// does not wait for it: it asks for a refresh after each push.
const ReconciliationTimeout = 30 * time.Second
