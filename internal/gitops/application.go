package gitops

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/argocd"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gitrepo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
)

// Layout of a seeded repository: the chart, and one values file per environment beside it,
// as a GitOps repository keeps them.
const (
	ChartPath = "charts/ai-assistant"
)

// ValuesPath is environment env's values file in a seeded repository.
func ValuesPath(env string) string { return "envs/" + env + "/values.yaml" }

// Seed pushes a first commit to the repository at url (created on the Git server by the push):
// the chart directory chartDir at ChartPath and values at ValuesPath(env). It returns the
// commit. The repository must be new: Seed does not merge into a history.
func Seed(ctx context.Context, url, chartDir, env string, values map[string]any) (string, error) {
	work, err := os.MkdirTemp("", "gitops-seed-")
	if err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	defer os.RemoveAll(work)
	if err := os.CopyFS(filepath.Join(work, filepath.FromSlash(ChartPath)), os.DirFS(chartDir)); err != nil {
		return "", fmt.Errorf("seed: copy the chart: %w", err)
	}
	b, err := sigsyaml.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("seed: render values: %w", err)
	}
	vf := filepath.Join(work, filepath.FromSlash(ValuesPath(env)))
	if err := os.MkdirAll(filepath.Dir(vf), 0o755); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	header := fmt.Sprintf("# Values of the %s environment, synced by Argo CD; bluegreen --gitops edits this file.\n", env)
	if err := os.WriteFile(vf, append([]byte(header), b...), 0o644); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	c, err := gitrepo.Init(ctx, work, "main", url)
	if err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	if _, err := c.Commit(ctx, "seed: the chart and the "+env+" values", "."); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	head, err := c.Push(ctx)
	if err != nil {
		return "", fmt.Errorf("seed: push to %s: %w", url, err)
	}
	return head, nil
}

// Application is an Argo CD Application that syncs the chart from a seeded repository.
type Application struct {
	Name string
	// Release is the Helm release name Argo CD renders with (default: Name).
	Release string
	// Repo is the repository's name on the Git server; Env names its values file.
	Repo, Env string
	// Destination is the namespace the chart's objects go to.
	Destination string
}

// ApplyApplication creates or updates the Application.
func ApplyApplication(ctx context.Context, cfg *rest.Config, a Application) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	if err := kubeapply.CreateOrUpdate(ctx, kubeapply.UnstructuredClient{ResourceInterface: dyn.Resource(applications).Namespace(Namespace)}, a.object(), fieldManager); err != nil {
		return fmt.Errorf("apply application %s: %w", a.Name, err)
	}
	return nil
}

// DeleteApplication deletes the Application (not what it synced: it has no finalizer that
// would cascade). Gone already is no error.
func DeleteApplication(ctx context.Context, cfg *rest.Config, name string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	err = dyn.Resource(applications).Namespace(Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete application %s: %w", name, err)
	}
	return nil
}

// DeleteApplicationsInto deletes every Application that deploys into namespace ns (with
// selfHeal, one would create again what was deleted from ns). A cluster without Argo CD has
// none.
func DeleteApplicationsInto(ctx context.Context, cfg *rest.Config, ns string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	apps := dyn.Resource(applications).Namespace(Namespace)
	list, err := apps.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apimeta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list applications: %w", err)
	}
	for _, a := range list.Items {
		if dest, _, _ := unstructured.NestedString(a.Object, "spec", "destination", "namespace"); dest != ns {
			continue
		}
		if err := apps.Delete(ctx, a.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete application %s (deploys into %s): %w", a.GetName(), ns, err)
		}
	}
	return nil
}

// App is the Application's status reader.
func (a Application) App(cfg *rest.Config) (argocd.App, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return argocd.App{}, fmt.Errorf("dynamic client: %w", err)
	}
	return argocd.App{Client: dyn, Namespace: Namespace, Name: a.Name}, nil
}

// IgnoreReplicas is the ignoreDifferences rule the chart needs. The chart leaves out a
// Deployment's spec.replicas exactly when an autoscaler owns it, so the rule ignores the
// field only where it is not 0: the live count an HPA set is neither a diff nor written over
// (with RespectIgnoreDifferences the sync copies it into what it applies, instead of removing
// the field, which would reset the Deployment to 1 replica), while a target's `replicas: 0`
// (the idle colour, scaled down) is left in the target, still compared and still applied.
// Argo CD evaluates it on both objects: it deletes the path only where the expression
// selects it (del(...)), and a field the normalizer did not touch in the target keeps the
// target's value through RespectIgnoreDifferences.
const IgnoreReplicas = ".spec.replicas | select(. != 0)"

// object is the Application: automated sync with prune and selfHeal, the chart's
// ignoreDifferences respected by the sync, Helm's release name the Application's.
func (a Application) object() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata": map[string]any{
			"name":      a.Name,
			"namespace": Namespace,
		},
		"spec": map[string]any{
			"project": "default",
			"source": map[string]any{
				"repoURL":        ClusterURL(a.Repo),
				"targetRevision": "main",
				"path":           ChartPath,
				"helm": map[string]any{
					"releaseName": cmp.Or(a.Release, a.Name),
					// Relative to the chart's directory, inside the same checkout.
					"valueFiles": []any{"../../" + ValuesPath(a.Env)},
				},
			},
			"destination": map[string]any{
				"server":    "https://kubernetes.default.svc",
				"namespace": a.Destination,
			},
			"syncPolicy": map[string]any{
				"automated":   map[string]any{"prune": true, "selfHeal": true},
				"syncOptions": []any{"RespectIgnoreDifferences=true"},
				// A failed sync is tried again soon: a test does not wait minutes for it.
				"retry": map[string]any{"limit": int64(5), "backoff": map[string]any{"duration": "2s", "factor": int64(2), "maxDuration": "30s"}},
			},
			"ignoreDifferences": []any{
				map[string]any{"group": "apps", "kind": "Deployment", "jqPathExpressions": []any{IgnoreReplicas}},
			},
		},
	}}
}

// WaitSyncedHealthy waits until the Application reports Synced and Healthy at revision (any
// revision when empty), asking for a refresh first so that a new commit is seen now.
func WaitSyncedHealthy(ctx context.Context, app argocd.App, revision string, timeout time.Duration, logf func(string, ...any)) (argocd.Status, error) {
	if err := app.Refresh(ctx); err != nil {
		return argocd.Status{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return app.Wait(ctx, argocd.Want{Revision: revision, Sync: "Synced", Health: "Healthy"}, time.Second, logf)
}

// WaitSynced waits until the Application reports Synced at revision, whatever its health,
// asking for a refresh first.
func WaitSynced(ctx context.Context, app argocd.App, revision string, timeout time.Duration) (argocd.Status, error) {
	if err := app.Refresh(ctx); err != nil {
		return argocd.Status{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return app.Wait(ctx, argocd.Want{Revision: revision, Sync: "Synced"}, time.Second, nil)
}
