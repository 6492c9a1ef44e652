package imagebuild

// The ingress stack's commands (internal/ingress): an ingress controller serving the nginx
// class, and cert-manager issuing the Ingress's certificate.

// Traefik's kubernetesIngressNGINX provider serves Ingresses of class nginx (ingress-nginx
// itself needs an OpenResty that cannot be built here). v3.6.12 is the newest release the
// module proxy resolves; its go.mod replaces three modules with forks and excludes one
// version, so it is built in hack/modules/traefik, which repeats them, and stamped with its
// version and release codename as upstream's release workflow does.
var Traefik = Module{
	Name:    "traefik",
	Package: "github.com/traefik/traefik/v3/cmd/traefik",
	Version: "v3.6.12",
	LDFlags: "-X github.com/traefik/traefik/v3/pkg/version.Version=v3.6.12 -X github.com/traefik/traefik/v3/pkg/version.Codename=ramequin",
	Port:    8000,
	Dir:     "hack/modules/traefik",
}

// CertManager is a controller of our own (hack/modules/cert-manager/main.go) built on
// cert-manager v1.21.2's library: its cmd/controller is a module the proxy does not serve.
// The image is tagged with the library's version.
var CertManager = Module{
	Name:    "cert-manager-controller",
	Package: "github.com/ai-assistant-chart/ai-assistant-chart/hack/modules/cert-manager",
	Version: "v1.21.2",
	Port:    9402,
	Dir:     "hack/modules/cert-manager",
}
