package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// FieldManager is the field manager of the cutover's upgrades: "helm", the name both Helm CLIs
// write under (helm.sh/helm/v3 and v4 cmd/helm set it), not the SDK's default, the program's
// name ("bluegreen", or "integration.test" in a test). Helm 4 moving a release from
// client-side to server-side apply (`helm upgrade --server-side=true` after a client-side
// revision, which every revision this Helm v3 SDK writes is) converts the "helm" manager's
// client-side entries into its applied set; an entry under any other name stays another
// manager's, and Helm 4's apply fails with a conflict on every field the cutover last changed
// (the Service's selector first: "conflict with \"bluegreen\" using v1: .spec.selector").
const FieldManager = "helm"

func init() { kube.ManagedFieldsManager = FieldManager }

// HelmStore keeps the values in a Helm release and changes them by upgrading it
// with the release's own chart and its user values plus the change, like
// `helm upgrade --reuse-values --set`: `helm get values` and `helm history` stay true.
type HelmStore struct {
	Helm      *action.Configuration
	Release   string
	Namespace string
	// MaxHistory bounds stored revisions: each cutover step is one revision.
	MaxHistory int
	// Timeout bounds one upgrade.
	Timeout time.Duration
	// OpenAPIValidation keeps Helm's client-side OpenAPI validation of the rendered objects
	// (off unless set, like `helm upgrade --disable-openapi-validation`). It validates nothing
	// on a server that supports the fieldValidation parameter (GA in Kubernetes 1.27; the chart
	// requires 1.29): kubectl's verifier then defers to the server, yet Helm fetches the OpenAPI
	// v3 root and parses each group-version's whole document to learn that, twice an upgrade.
	// Measured on a real API server (BenchmarkSwitch), that was half of the switch: ~0.5 s.
	OpenAPIValidation bool
}

// DefaultHistoryMax keeps the revisions of at least ten cutovers: each takes up to five
// (prepare, switch, record the scale-down deadline, finalize, and a switch back or a gate
// failure's scale-down). Helm's own default of 10 kept only two, too few to roll back to.
const DefaultHistoryMax = 50

// NewHelmStore returns a store that keeps DefaultHistoryMax revisions.
func NewHelmStore(cfg *action.Configuration, releaseName, namespace string) *HelmStore {
	return &HelmStore{
		Helm:       cfg,
		Release:    releaseName,
		Namespace:  namespace,
		MaxHistory: DefaultHistoryMax,
		Timeout:    5 * time.Minute, // helm's --timeout default
	}
}

// Describe names the release.
func (h *HelmStore) Describe() string {
	return fmt.Sprintf("helm release %s/%s", h.Namespace, h.Release)
}

// Load reads the release's latest revision.
func (h *HelmStore) Load(_ context.Context) (*Snapshot, error) {
	rel, err := h.Helm.Releases.Last(h.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("%w: release %q not found in namespace %q", values.ErrBadInput, h.Release, h.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("read release %q: %w", h.Release, err)
	}
	status, latest := "", rel.Version
	if rel.Info != nil {
		status = rel.Info.Status.String()
	}
	// The values live in the cluster are the last deployed revision's: a failed
	// upgrade after it recorded values that may never have been applied.
	if deployed, err := h.Helm.Releases.Deployed(h.Release); err == nil {
		rel = deployed
	}
	if rel.Chart == nil {
		return nil, fmt.Errorf("release %q has no chart stored", h.Release)
	}
	v, err := values.Parse(rel.Chart, rel.Config)
	if err != nil {
		return nil, fmt.Errorf("read values of release %q: %w", h.Release, err)
	}
	name, ns := releaseObjects(rel)
	return &Snapshot{
		Chart:     rel.Chart,
		User:      values.Copy(rel.Config),
		Values:    v,
		Fullname:  name,
		Namespace: ns,
		Revision:  rel.Version,
		Status:    status,
		Latest:    latest,
	}, nil
}

// Apply upgrades the release with its own chart and its user values plus the change.
func (h *HelmStore) Apply(ctx context.Context, snap *Snapshot, change values.Change, description string) error {
	// Helm's upgrade has no compare-and-swap: a `helm upgrade --reuse-values` made by a person
	// or CI during a gate would be undone by merging over the values read before it.
	if last, err := h.Helm.Releases.Last(h.Release); err == nil && last.Version != snap.Latest {
		desc := ""
		if last.Info != nil {
			desc = last.Info.Description
		}
		return &StaleError{Release: h.Release, Read: snap.Latest, Found: last.Version, Description: desc}
	}
	u := action.NewUpgrade(h.Helm)
	u.Namespace = h.Namespace
	u.Description = description
	u.MaxHistory = h.MaxHistory
	u.Timeout = h.Timeout
	u.DisableOpenAPIValidation = !h.OpenAPIValidation
	// An interrupt must not cut an upgrade in half and leave the release pending:
	// the step runs to its end and the cutover stops before the next one.
	ctx = context.WithoutCancel(ctx)
	rel, err := u.RunWithContext(ctx, h.Release, snap.Chart, change.Merge(snap.User))
	if err != nil {
		return fmt.Errorf("helm upgrade %s (%s): %w", h.Release, change, err)
	}
	// Best effort: the upgrade is made and recorded; a Deployment left with an owned
	// spec.replicas only means a later server-side apply must force its scale-down.
	_ = h.disownAutoscaledReplicas(ctx, rel)
	return nil
}

// disownAutoscaledReplicas removes spec.replicas from every field manager's set on each of the
// release's Deployments that it renders without spec.replicas (a colour an HPA owns), so that
// no one owns the field, as after Helm 4's server-side apply.
//
// Why: this client-side upgrade drops the field of a colour brought up from replicas: 0 (a
// three-way patch to null), the API server defaults it to 1, and the patch's manager is
// recorded as owning that 1 (Helm 3's create does the same for a colour that starts under an
// HPA). The API server records an autoscaler's writes through the scale subresource only while
// someone owns the field, so the HPA controller then takes it over ("kube-controller-manager",
// subresource scale). A later server-side apply that scales the colour to zero (`helm upgrade
// --set green.replicas=0` with Helm 4, the release then recording "ssa") fails with "conflict
// with \"kube-controller-manager\" with subresource \"scale\": .spec.replicas", and every
// later Helm 4 upgrade with it, since Helm 4 follows the failed revision's apply method. With
// the field owned by no one, the HPA's writes are not recorded, and the apply sets replicas: 0
// (deleting the HPA in the same upgrade) without a conflict.
func (h *HelmStore) disownAutoscaledReplicas(ctx context.Context, rel *helmrelease.Release) error {
	kc, ok := h.Helm.KubeClient.(*kube.Client)
	if !ok || rel == nil {
		return nil // a fake cluster's client: no managed fields
	}
	cs, err := kc.Factory.KubernetesClientSet()
	if err != nil {
		return err
	}
	for _, obj := range releaseDeployments(rel) {
		if obj.replicas {
			continue
		}
		ns := obj.namespace
		deployments := cs.AppsV1().Deployments(ns)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := deployments.Get(ctx, obj.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			entries, changed := withoutReplicas(d.ManagedFields)
			if !changed {
				return nil
			}
			// The resourceVersion makes the patch fail with a conflict, and be made again, if
			// the Deployment changed since it was read.
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": d.ResourceVersion, "managedFields": entries}})
			if err != nil {
				return err
			}
			_, err = deployments.Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
			return err
		})
		if err != nil {
			return fmt.Errorf("disown spec.replicas of deployment %s/%s: %w", ns, obj.name, err)
		}
	}
	return nil
}

// withoutReplicas returns the managed fields with spec.replicas removed from every entry,
// dropping an entry left with no field, and whether any entry owned it.
func withoutReplicas(entries []metav1.ManagedFieldsEntry) ([]metav1.ManagedFieldsEntry, bool) {
	out := make([]metav1.ManagedFieldsEntry, 0, len(entries))
	changed := false
	for _, e := range entries {
		var fields map[string]any
		if e.FieldsV1 == nil || json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields) != nil {
			out = append(out, e)
			continue
		}
		spec, _ := fields["f:spec"].(map[string]any)
		if _, owned := spec["f:replicas"]; !owned {
			out = append(out, e)
			continue
		}
		changed = true
		delete(spec, "f:replicas")
		if len(spec) == 0 {
			delete(fields, "f:spec")
		}
		if len(fields) == 0 {
			continue
		}
		raw, err := json.Marshal(fields)
		if err != nil {
			out = append(out, e)
			continue
		}
		e.FieldsV1 = metav1.NewFieldsV1(string(raw))
		out = append(out, e)
	}
	return out, changed
}

// releaseObjects reads the objects' name prefix and namespace from what the release rendered:
// its blue Deployment is <fullname>-blue, in the namespace namespaceOverride named (or the
// release's). Only a release whose manifest lacks it (none the chart renders) falls back to
// the chart's naming rule.
func releaseObjects(rel *helmrelease.Release) (fullname, namespace string) {
	for _, d := range releaseDeployments(rel) {
		if d.color == string(values.Blue) {
			return strings.TrimSuffix(d.name, "-"+string(values.Blue)), d.namespace
		}
	}
	return fullnameOf(rel.Name, rel.Chart, rel.Config), objectNamespace(rel.Namespace, rel.Chart, rel.Config)
}

// manifestDeployment is what the release's rendered manifest says of one of its Deployments.
type manifestDeployment struct {
	name, namespace string // the namespace defaults to the release's
	color           string // its `color` label
	replicas        bool   // whether it renders spec.replicas (not for a colour an HPA owns)
}

// releaseDeployments reads the Deployments of the release's rendered manifest.
func releaseDeployments(rel *helmrelease.Release) []manifestDeployment {
	var out []manifestDeployment
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string            `json:"name"`
				Namespace string            `json:"namespace"`
				Labels    map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Replicas *int `json:"replicas"`
			} `json:"spec"`
		}
		if yaml.Unmarshal([]byte(doc), &obj) != nil || obj.Kind != "Deployment" {
			continue // another kind, or not an object: a comment-only document
		}
		ns := obj.Metadata.Namespace
		if ns == "" {
			ns = rel.Namespace
		}
		out = append(out, manifestDeployment{name: obj.Metadata.Name, namespace: ns, color: obj.Metadata.Labels["color"], replicas: obj.Spec.Replicas != nil})
	}
	return out
}
