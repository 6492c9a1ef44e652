// Package kubeapply writes the objects a harness installs (metrics-server, the monitoring,
// ingress and GitOps stacks) and waits for them, one way for all of them: server-side apply
// through the dynamic client, so typed objects, objects decoded from upstream YAML and custom
// resources whose CRDs were applied a moment ago all take the same path, and a second run
// updates in place what the first created.
//
//	k, err := kubeapply.New(cfg, "ai-assistant-monitoring")
//	crds, err := kubeapply.ReadCRDs(dir)              // upstream's CRDs (gomod.Dir finds them)
//	err = k.Apply(ctx, crds...)
//	err = k.WaitEstablished(ctx, crds, time.Minute)  // then their kinds can be applied
//	err = k.Apply(ctx, objs...)
//	err = k.WaitDeploymentAvailable(ctx, ns, name, 3*time.Minute, logf)
//	err = k.Delete(ctx, objs...)                    // gone or kind gone: no error
package kubeapply

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// Client applies and deletes objects of any kind as one field manager.
type Client struct {
	CS           kubernetes.Interface
	Dyn          dynamic.Interface
	FieldManager string
	mapper       *restmapper.DeferredDiscoveryRESTMapper
}

// New returns a Client for cfg that writes as fieldManager.
func New(cfg *rest.Config, fieldManager string) (*Client, error) {
	cs, dyn, err := Clients(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &Client{CS: cs, Dyn: dyn, FieldManager: fieldManager,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Clients are the typed and the dynamic client of cfg.
func Clients(cfg *rest.Config) (kubernetes.Interface, dynamic.Interface, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("dynamic client: %w", err)
	}
	return cs, dyn, nil
}

// Resource is the dynamic client of obj's kind, in obj's namespace when the kind is
// namespaced. A kind discovery does not know yet (CRDs just established) re-reads discovery
// once.
func (c *Client) Resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return c.Dyn.Resource(m.Resource), nil
}

// Apply server-side applies each object in order, taking over fields another manager holds:
// the harness owns these objects.
func (c *Client) Apply(ctx context.Context, objs ...runtime.Object) error {
	for _, o := range objs {
		u, err := ToUnstructured(o)
		if err != nil {
			return err
		}
		r, err := c.Resource(u)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if _, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: c.FieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// Delete deletes each object in order, its dependents in the background; one already gone,
// or whose kind went with its CRD, is no error.
func (c *Client) Delete(ctx context.Context, objs ...runtime.Object) error {
	var errs []error
	for _, o := range objs {
		u, err := ToUnstructured(o)
		if err != nil {
			return err
		}
		r, err := c.Resource(u)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err))
			continue
		}
		err = r.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", u.GetKind(), u.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// ToUnstructured converts a typed object or passes an unstructured one through. Server-side
// apply needs the kind: a typed object without TypeMeta takes it from client-go's scheme,
// which knows every built-in kind.
func ToUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := o.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", o, err)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" || u.GetAPIVersion() == "" {
		gvks, _, err := scheme.Scheme.ObjectKinds(o)
		if err != nil || len(gvks) == 0 {
			return nil, fmt.Errorf("%T %q has no apiVersion and kind set, and client-go's scheme does not know it", o, u.GetName())
		}
		u.SetGroupVersionKind(gvks[0])
	}
	// The converter writes creationTimestamp: null, which apply would own for nothing.
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return u, nil
}

// WaitEstablished waits until the API server serves every CRD of crds, then forgets what
// discovery said, so that Apply finds their kinds.
func (c *Client) WaitEstablished(ctx context.Context, crds []*unstructured.Unstructured, timeout time.Duration) error {
	if err := WaitCRDsEstablished(ctx, c.Dyn, crds, timeout); err != nil {
		return err
	}
	c.mapper.Reset()
	return nil
}

// WaitCRDsEstablished waits until the API server serves every CRD of crds.
func WaitCRDsEstablished(ctx context.Context, dyn dynamic.Interface, crds []*unstructured.Unstructured, timeout time.Duration) error {
	gvr := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	var pending string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, o := range crds {
			u, err := dyn.Resource(gvr).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				pending = o.GetName() + ": " + err.Error()
				return false, nil
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
				return false, err
			}
			if !crdEstablished(&crd) {
				pending = o.GetName() + " not established"
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("CRDs not established within %s (%s): %w", timeout, pending, err)
	}
	return nil
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// WaitDeploymentAvailable waits until a Deployment has rolled out its current generation and
// every replica is available, printing where it stands at most every 10 s.
func (c *Client) WaitDeploymentAvailable(ctx context.Context, ns, name string, timeout time.Duration, logf func(string, ...any)) error {
	return WaitDeploymentAvailable(ctx, c.CS, ns, name, timeout, logf)
}

// WaitDeploymentAvailable is Client.WaitDeploymentAvailable for a caller with only a
// clientset.
func WaitDeploymentAvailable(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration, logf func(string, ...any)) error {
	var last string
	progress := ProgressEvery(10*time.Second, logf)
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var done bool
		done, last = DeploymentAvailable(d)
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

// DeploymentAvailable says whether d has rolled out its current generation with every
// replica available, and where it stands.
func DeploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := ptr.Deref(d.Spec.Replicas, 1)
	state := fmt.Sprintf("%d/%d available, %d updated", d.Status.AvailableReplicas, want, d.Status.UpdatedReplicas)
	done := d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.AvailableReplicas == want && d.Status.Replicas == want
	return done, state
}

// ProgressEvery returns a logger that prints at most once per interval; nil logf prints
// nothing.
func ProgressEvery(interval time.Duration, logf func(string, ...any)) func(string, ...any) {
	var next time.Time
	return func(format string, args ...any) {
		if now := time.Now(); logf != nil && now.After(next) {
			next = now.Add(interval)
			logf(format, args...)
		}
	}
}
