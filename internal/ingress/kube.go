package ingress

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
)

// waitIssuerReady waits until a ClusterIssuer reports Ready=True.
func waitIssuerReady(ctx context.Context, k *kubeapply.Client, name string, timeout time.Duration, logf func(string, ...any)) error {
	r, err := k.Resource(clusterIssuer(name, nil))
	if err != nil {
		return err
	}
	var last string
	progress := kubeapply.ProgressEvery(10*time.Second, logf)
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := r.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready, msg := readyCondition(u)
		last = msg
		if !ready {
			progress("ClusterIssuer %s: %s", name, msg)
		}
		return ready, nil
	})
	if err != nil {
		return fmt.Errorf("ClusterIssuer %s not ready within %s (%s): %w", name, timeout, last, err)
	}
	return nil
}

// waitNotTerminating waits until none of the namespaces is being deleted (an Uninstall just
// before): nothing can be created in a terminating namespace.
func waitNotTerminating(ctx context.Context, k *kubeapply.Client, timeout time.Duration, namespaces ...string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		for _, name := range namespaces {
			ns, err := k.CS.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err == nil && ns.DeletionTimestamp != nil {
				last = "namespace " + name + " is terminating"
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s after %s: %w", last, timeout, err)
	}
	return nil
}

// readyCondition reads a cert-manager object's Ready condition.
func readyCondition(u *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			return m["status"] == "True", fmt.Sprintf("Ready=%v: %v", m["status"], m["message"])
		}
	}
	return false, "no Ready condition yet"
}

// readCA reads the CA certificate from the CA's Secret.
func readCA(ctx context.Context, k *kubeapply.Client) ([]byte, *x509.CertPool, error) {
	s, err := k.CS.CoreV1().Secrets(CertManagerNamespace).Get(ctx, CASecret, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read the CA secret: %w", err)
	}
	pemBytes := s.Data[corev1.TLSCertKey]
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, nil, fmt.Errorf("secret %s/%s holds no PEM certificate in %s", CertManagerNamespace, CASecret, corev1.TLSCertKey)
	}
	return pemBytes, pool, nil
}

// waitAnswers waits until something answers HTTP on addr: Traefik through the node port
// (an unknown host gets its 404).
func waitAnswers(ctx context.Context, addr string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("nothing answered on %s within %s (%s): %w", addr, timeout, last, err)
	}
	return nil
}

// CertManagerModuleDir is the small module that pins cert-manager's version
// (imagebuild.CertManager builds its controller there).
const CertManagerModuleDir = "hack/modules/cert-manager"

// CRDDir returns cert-manager's deploy/crds at the version hack/modules/cert-manager
// requires, from the Go module cache (downloaded if missing): the CRDs are read from
// upstream's module at run time, never copied into this repository.
func CRDDir(ctx context.Context, repoRoot string) (string, error) {
	dir, err := gomod.Dir(filepath.Join(repoRoot, CertManagerModuleDir), "github.com/cert-manager/cert-manager")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "deploy", "crds"), nil
}
