package cli

import (
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
)

// useCachedSecrets keeps the release's revisions in Helm's Secrets format but reads them
// through release.CachedSecrets, which decodes each revision once per run instead of every
// revision on every query (see its comment for the measurements), when Helm stores them in
// Secrets: HELM_DRIVER unset or secret(s), helm's own default. Other drivers are left as
// Helm's Init made them.
func useCachedSecrets(hc *action.Configuration, restCfg *rest.Config, kube kubernetes.Interface, namespace, helmDriver string) error {
	switch helmDriver {
	case "", "secret", "secrets":
	default:
		return nil
	}
	meta, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build metadata client: %w", err)
	}
	hc.Releases = storage.Init(release.NewCachedSecrets(kube.CoreV1().Secrets(namespace), meta, namespace))
	return nil
}
