package ingress

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// kube writes any object, typed or not, with server-side apply through the dynamic client;
// a discovery-backed REST mapper finds each kind's resource, cert-manager's too once its CRDs
// are established.
type kube struct {
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newKube(cfg *rest.Config) (*kube, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &kube{cs: cs, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// resource is the dynamic client of obj's kind, in its namespace when namespaced. A kind
// not yet known re-reads discovery once (CRDs just established).
func (k *kube) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		k.mapper.Reset()
		m, err = k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return k.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return k.dyn.Resource(m.Resource), nil
}

// applyAll server-side applies each object in order, taking over fields other managers
// hold: Install owns these objects.
func (k *kube) applyAll(ctx context.Context, objs []runtime.Object) error {
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			return err
		}
		r, err := k.resource(u)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if _, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// deleteAll deletes each object in order; one already gone, or whose kind is gone with its
// CRD, is no error.
func (k *kube) deleteAll(ctx context.Context, objs []runtime.Object) error {
	var errs []error
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			return err
		}
		r, err := k.resource(u)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err))
			continue
		}
		if err := r.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", u.GetKind(), u.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// toUnstructured converts a typed object (whose TypeMeta is set) or passes an unstructured one.
func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := o.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", o, err)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" {
		return nil, fmt.Errorf("%T %s has no kind set", o, u.GetName())
	}
	return u, nil
}

// waitCRDsEstablished waits until the API server serves every CRD.
func (k *kube) waitCRDsEstablished(ctx context.Context, crds []runtime.Object, timeout time.Duration) error {
	gvr := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	var pending string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, o := range crds {
			name := o.(*unstructured.Unstructured).GetName()
			u, err := k.dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				pending = name + ": " + err.Error()
				return false, nil
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
				return false, err
			}
			established := false
			for _, c := range crd.Status.Conditions {
				established = established || (c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue)
			}
			if !established {
				pending = name + " not established"
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("CRDs not established within %s (%s): %w", timeout, pending, err)
	}
	k.mapper.Reset()
	return nil
}

// waitDeploymentAvailable waits until a Deployment's current generation is rolled out and
// every replica available.
func (k *kube) waitDeploymentAvailable(ctx context.Context, ns, name string, timeout time.Duration, logf func(string, ...any)) error {
	var last string
	progress := progressEvery(10*time.Second, logf)
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := k.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		want := ptr.Deref(d.Spec.Replicas, 1)
		last = fmt.Sprintf("%d/%d available, %d updated", d.Status.AvailableReplicas, want, d.Status.UpdatedReplicas)
		done := d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
			d.Status.AvailableReplicas == want && d.Status.Replicas == want
		if !done {
			progress("%s/%s: %s", ns, name, last)
		}
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s not available within %s (%s): %w", ns, name, timeout, last, err)
	}
	return nil
}

// waitIssuerReady waits until a ClusterIssuer reports Ready=True.
func (k *kube) waitIssuerReady(ctx context.Context, name string, timeout time.Duration, logf func(string, ...any)) error {
	r, err := k.resource(clusterIssuer(name, nil))
	if err != nil {
		return err
	}
	var last string
	progress := progressEvery(10*time.Second, logf)
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
func (k *kube) readCA(ctx context.Context) ([]byte, *x509.CertPool, error) {
	s, err := k.cs.CoreV1().Secrets(CertManagerNamespace).Get(ctx, CASecret, metav1.GetOptions{})
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

// progressEvery returns a logger that prints at most once per interval.
func progressEvery(interval time.Duration, logf func(string, ...any)) func(string, ...any) {
	var next time.Time
	return func(format string, args ...any) {
		if now := time.Now(); now.After(next) {
			next = now.Add(interval)
			logf(format, args...)
		}
	}
}

// CertManagerModuleDir is the small module that pins cert-manager's version
// (imagebuild.CertManager builds its controller there).
const CertManagerModuleDir = "hack/modules/cert-manager"

// CRDDir returns cert-manager's deploy/crds at the version hack/modules/cert-manager
// requires, from the Go module cache (downloaded if missing): the CRDs are read from
// upstream's module at run time, never copied into this repository.
func CRDDir(ctx context.Context, repoRoot string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/cert-manager/cert-manager")
	cmd.Dir = filepath.Join(repoRoot, CertManagerModuleDir)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download github.com/cert-manager/cert-manager: %w: %s", err, stderr.String())
	}
	var mod struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("read go mod download output: %w", err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return "", fmt.Errorf("go mod download github.com/cert-manager/cert-manager: %s", mod.Error)
	}
	return filepath.Join(mod.Dir, "deploy", "crds"), nil
}

// readCRDs decodes every CustomResourceDefinition in dir's YAML files, in name order.
func readCRDs(dir string) ([]runtime.Object, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list CRDs: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %q", dir)
	}
	sort.Strings(files)
	var crds []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CRD: %w", err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("decode %s: %w", f, err)
			}
			if u.Object == nil {
				continue
			}
			if u.GroupVersionKind() != apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition") {
				return nil, fmt.Errorf("%s: %s is not a CustomResourceDefinition", f, u.GroupVersionKind())
			}
			crds = append(crds, u)
		}
	}
	return crds, nil
}
