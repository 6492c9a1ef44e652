// Command cert-manager is cert-manager's controller with only what the ingress tests use
// (internal/ingress): the SelfSigned and CA issuers, the Certificate and CertificateRequest
// controllers, the approver, and the ingress-shim that turns an Ingress's
// cert-manager.io/cluster-issuer annotation into a Certificate.
//
// cert-manager's own cmd/controller is a module the module proxy does not serve, so this
// small main of our own starts the library's registered controllers the way it does: one
// ContextFactory, each controller built from it, then the shared informers started and every
// controller run until a signal. There is no leader election (one replica) and no webhook:
// the CRDs' OpenAPI schemas validate the objects, and nothing fills a CertificateRequest's
// user fields (spec.username, spec.groups), which only the webhook sets.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	shimingresses "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"         // registers the CA issuer
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned" // registers the SelfSigned issuer
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

// controllers are the ones started, by their registered names; importing a package
// registers its controller.
var controllers = []string{
	clusterissuers.ControllerName,
	approver.ControllerName,
	crca.CRControllerName,
	crselfsigned.CRControllerName,
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	shimingresses.ControllerName,
}

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()
	clusterNS := flag.String("cluster-resource-namespace", "cert-manager", "namespace of the Secrets ClusterIssuers read (the CA's key pair)")
	workers := flag.Int("workers", 5, "workers per controller")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *clusterNS, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, clusterNS string, workers int) error {
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	log := logf.FromContext(ctx)
	// Upstream's defaults (internal/apis/config/controller/v1alpha1/defaults.go) for what
	// these controllers read.
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: clusterNS, ClusterIssuerAmbientCredentials: true},
		IngressShimOptions: controllerpkg.IngressShimOptions{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                "cert-manager.io",
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("build controller context: %w", err)
	}
	known := controllerpkg.Known()
	var running []controllerpkg.Interface
	for _, name := range controllers {
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("controller %s is not registered", name)
		}
		c, err := construct(factory)
		if err != nil {
			return fmt.Errorf("create controller %s: %w", name, err)
		}
		running = append(running, c)
	}
	for name := range known {
		if !slices.Contains(controllers, name) {
			return fmt.Errorf("controller %s is registered but not started: an import brought it in", name)
		}
	}
	// The informers every controller asked for while it was built start once, together.
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("build informer context: %w", err)
	}
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	log.Info("starting controllers", "controllers", controllers, "clusterResourceNamespace", clusterNS)

	errs := make(chan error, len(running))
	var wg sync.WaitGroup
	for i, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", controllers[i], err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when every controller stopped cleanly at a signal
}
